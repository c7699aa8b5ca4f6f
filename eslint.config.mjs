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
    rules: {
      // Control characters in a pattern are the point where they appear: hostile text (logs,
      // keys, file names, prop values) is cleaned of them before it is logged or stored.
      'no-control-regex': 'off',
      // Leaving a key out of a copy by destructuring it away names the key it leaves out.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
    },
  },
  {
    // Tests read what comes back untyped (JSON.parse of bodies and templates, SDK output, the
    // synthesized template through aws-cdk-lib/assertions) and assert on it: typing each read
    // would restate the assertion, and printing it (`String(annotation.data)`) is the check.
    // Jest's matchers take methods unbound (`expect(x.fn)`), stand-ins implement async interfaces
    // with async functions that have nothing to await, and jest.isolateModules needs require().
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-base-to-string': 'off',
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
  {
    // The cost model walks a synthesized CloudFormation template: JSON whose shape CloudFormation
    // defines, read field by field with the checks the model needs, not a TypeScript type.
    files: ['scripts/cost/template.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
);
