/**
 * API.md: the API reference jsii-docgen renders from the jsii assembly (`.jsii`, written by
 * `npm run build`). `npm run docgen` rebuilds the library and rewrites API.md; a test renders
 * it again from a fresh compilation and fails when the committed file differs.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Documentation, Language } from 'jsii-docgen';

const REPO = join(__dirname, '..');
export const API_REFERENCE = join(REPO, 'API.md');

/** The Markdown API reference of the project in `projectDir`, whose `.jsii` must exist. */
export async function renderApiReference(projectDir: string): Promise<string> {
  if (!existsSync(join(projectDir, '.jsii'))) {
    throw new Error(`no jsii assembly in ${projectDir}: run npm run build first`);
  }
  const docs = await Documentation.forProject(projectDir);
  try {
    const markdown = await docs.toMarkdown({ language: Language.TYPESCRIPT, readme: false, allSubmodules: true });
    return `${markdown.render().trimEnd()}\n`;
  } finally {
    await docs.cleanup();
  }
}

if (require.main === module) {
  renderApiReference(REPO).then(
    (markdown) => {
      writeFileSync(API_REFERENCE, markdown);
      console.log(`wrote ${API_REFERENCE}`);
    },
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
