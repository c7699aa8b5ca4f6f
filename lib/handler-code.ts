/**
 * Handler code ships pre-bundled in `assets/<name>` (built with the package, see
 * scripts/bundle-handlers.ts). Synthesis only hashes and copies that folder: no esbuild, no
 * Docker, and the asset hash changes only when the handler code does.
 */
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export type HandlerName = 'verifier' | 'forwarder' | 'archiver' | 'reconciler';

/** The newest Node.js runtime in aws-cdk-lib (a test fails when a newer one appears). */
export const HANDLER_RUNTIME = lambda.Runtime.NODEJS_24_X;
export const HANDLER_ARCHITECTURE = lambda.Architecture.ARM_64;

// This file runs from lib/ in the repository and from dist/lib/ in the published package.
const PACKAGE_ROOT = [join(__dirname, '..'), join(__dirname, '..', '..')].find((directory) =>
  existsSync(join(directory, 'package.json')),
);
const ASSETS = join(PACKAGE_ROOT ?? join(__dirname, '..'), 'assets');

export function handlerAssetPath(name: HandlerName): string {
  return join(ASSETS, name);
}

export function handlerCode(name: HandlerName): lambda.Code {
  const directory = handlerAssetPath(name);
  if (!existsSync(join(directory, 'index.js'))) {
    throw new Error(`The ${name} handler bundle is missing from ${directory}: run "npm run build" in the package first.`);
  }
  return lambda.Code.fromAsset(directory);
}
