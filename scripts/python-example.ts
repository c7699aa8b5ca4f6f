/**
 * The README's Python example is jsii-rosetta's translation of its TypeScript one ("Use it in
 * your own stack"), compiled against the built package so that every name and struct is real.
 * `npx tsx scripts/python-example.ts` prints the translation; a test holds the README to it.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PythonVisitor, SnippetParameters, SnippetTranslator, typeScriptSnippetFromCompleteSource } from 'jsii-rosetta';

const REPO = join(__dirname, '..');
export const README = join(REPO, 'README.md');

/** The first fenced block of `language` after `heading` in the README. */
export function readmeBlock(readme: string, heading: string, language: string): string {
  const start = readme.indexOf(`\n${heading}\n`);
  if (start === -1) throw new Error(`README has no "${heading}"`);
  const block = new RegExp('```' + language + '\\n([\\s\\S]*?)\\n```').exec(readme.slice(start));
  if (!block) throw new Error(`README has no ${language} block after "${heading}"`);
  return block[1];
}

/**
 * The example's TypeScript inside a stack, with the names it takes as given declared; only the
 * example itself is visible, so only it is translated.
 */
function completeSource(example: string): string {
  const lines = example.split('\n');
  const imports = lines.filter((line) => line.startsWith('import '));
  const body = lines.filter((line) => !line.startsWith('import '));
  return [
    '/// !hide',
    "import { CfnOutput, Stack } from 'aws-cdk-lib';",
    "import * as kms from 'aws-cdk-lib/aws-kms';",
    "import * as lambda from 'aws-cdk-lib/aws-lambda';",
    "import * as s3 from 'aws-cdk-lib/aws-s3';",
    "import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';",
    '/// !show',
    ...imports,
    '/// !hide',
    'declare const mySecret: secretsmanager.ISecret;',
    'declare const sharedBucket: s3.IBucket;',
    'declare const teamKey: kms.IKey;',
    'declare const onFinished: lambda.IFunction;',
    'export class ExampleStack extends Stack {',
    '  constructor() {',
    '    super();',
    '/// !show',
    ...body,
    '/// !hide',
    '  }',
    '}',
    'void CfnOutput;',
  ].join('\n');
}

/**
 * The Python translation of `example`, compiled against the package in `packageDir` (which
 * must hold the built `dist/` and `.jsii`). Throws with the compiler's messages if it does not compile.
 */
export function translateToPython(example: string, packageDir: string): string {
  const compilation = mkdtempSync(join(tmpdir(), 'rwc-rosetta-'));
  try {
    const modules = join(compilation, 'node_modules');
    mkdirSync(modules);
    symlinkSync(packageDir, join(modules, 'replicate-webhooks-cdk'), 'dir');
    for (const dependency of ['aws-cdk-lib', 'constructs']) {
      symlinkSync(join(REPO, 'node_modules', dependency), join(modules, dependency), 'dir');
    }
    const snippet = typeScriptSnippetFromCompleteSource(
      completeSource(example),
      { api: { api: 'file', fileName: 'README.md' }, field: { field: 'markdown', line: 0 } },
      true,
      { [SnippetParameters.$COMPILATION_DIRECTORY]: compilation },
    );
    const translator = new SnippetTranslator(snippet, { includeCompilerDiagnostics: true });
    const python = translator.renderUsing(new PythonVisitor());
    if (!translator.didSuccessfullyCompile) {
      const messages = translator.diagnostics.map((diagnostic) =>
        typeof diagnostic.messageText === 'string' ? diagnostic.messageText : JSON.stringify(diagnostic.messageText),
      );
      throw new Error(`the README's TypeScript example does not compile:\n${messages.join('\n')}`);
    }
    return python.trim();
  } finally {
    rmSync(compilation, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const readme = readFileSync(README, 'utf8');
  console.log(translateToPython(readmeBlock(readme, '## Use it in your own stack', 'ts'), REPO));
}
