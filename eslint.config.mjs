// npm run lint: typescript-eslint's type-checked recommended rules, with the few exceptions below
// (each says why the rule fights the design here).
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'dist/',
      'dist-lang/',
      'assets/',
      'cdk.out/',
      '.jsii',
      'coverage/',
      'reports/',
      '.stryker-tmp/',
      '**/*.js',
      '**/*.cjs',
      '**/*.mjs',
      '**/*.d.ts',
    ],
  },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
  },
);
