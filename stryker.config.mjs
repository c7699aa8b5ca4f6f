// @ts-check
/**
 * Mutation testing of the protocol core, the fetch guard and the props validation:
 * `npm run test:mutation` (not part of `npm test` or CI: see docs/mutation.md for the scope,
 * the running time and the survivors accepted on purpose).
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  packageManager: 'npm',
  testRunner: 'jest',
  jest: { configFile: 'jest.mutation.config.js', enableFindRelatedTests: true },
  // No type checker: on this 2-core machine it was the bottleneck (a type check of the program per
  // group of mutants, ten times the tests' time). A mutant that would not compile still runs, as
  // ts-jest only transpiles: it is killed by a test or listed as a survivor and judged by hand.
  checkers: [],
  coverageAnalysis: 'perTest',
  mutate: [
    'lambda/shared/signature.ts',
    'lambda/shared/prediction.ts',
    'lambda/shared/outputs.ts',
    'lambda/shared/completion-message.ts',
    'lambda/shared/archive-layout.ts',
    'lambda/shared/reconcile.ts',
    'lambda/shared/retry.ts',
    'lambda/shared/allowed-hosts.ts',
    'lambda/shared/address-policy.ts',
    'lambda/shared/archive-queue.ts',
    'lambda/shared/env.ts',
    'lambda/shared/concurrency-limit.ts',
    'lambda/shared/stream-filter.ts',
    'lambda/shared/state.ts',
    'lambda/shared/completion-event.ts',
    'lambda/archiver/safe-fetch.ts',
    'lib/validation.ts',
  ],
  // The sandbox needs the sources and tests, not build output or benchmark results.
  // `.stryker-tmp-*`: another run's sandbox, when two run side by side (docs/mutation.md).
  ignorePatterns: [
    'dist',
    'dist-lang',
    '.jsii',
    'assets',
    'cdk.out',
    'build',
    'coverage',
    '.reliability',
    'reports',
    'examples',
    '.stryker-tmp-*',
  ],
  concurrency: 1,
  timeoutMS: 10_000,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  thresholds: { high: 90, low: 80, break: null },
};
