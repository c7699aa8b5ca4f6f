#!/usr/bin/env node
/**
 * `replicate-webhooks`: in a checkout of the repository, runs the TypeScript sources through
 * tsx (so edits apply without a build); in the published package, which ships no sources, the
 * compiled CLI.
 */
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');

function loadCli() {
  const source = join(__dirname, '..', 'cli', 'index.ts');
  if (existsSync(source)) {
    try {
      require('tsx/cjs');
      return require(source);
    } catch (error) {
      if (error.code !== 'MODULE_NOT_FOUND') throw error;
    }
  }
  const compiled = join(__dirname, '..', 'dist', 'cli', 'index.js');
  if (existsSync(compiled)) return require(compiled);
  console.error('replicate-webhooks: neither the sources with tsx nor the compiled CLI are here; run npm install');
  process.exit(1);
}

loadCli()
  .main(process.argv.slice(2))
  .then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
