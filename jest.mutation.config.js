/**
 * The unit tests that judge the mutants of `npm run test:mutation` (stryker.config.mjs): pure,
 * fast, no global setup (no DynamoDB Local, no fauxqs), so one mutant costs well under a second.
 * @type {import('jest').Config}
 */
// MUTATION_TESTS=signature,prediction narrows the run while iterating on one file.
const only = process.env.MUTATION_TESTS?.split(',').map((name) => `**/test/**/${name}.test.ts`);

// Left out of mutation runs (docs/mutation.md): tests that bound CPU time, which instrumented
// code cannot meet, and tests that take seconds there (megabytes of input, hundreds of generated
// cases) and would be re-run for every mutant they cover. Each unit's describe('edges') checks
// the same limits on small inputs.
const LEFT_OUT = [
  'is cheap to refuse',
  'walked in bounded time',
  'stops writing soon after its limit',
  'huge \\(6 MiB\\) body',
  'same verdict on valid, tampered',
  'generated hostile predictions',
  'cannot make the announcement throw',
  'a hundred thousand keys',
  'a model of hundreds of KB',
  'long lists are cut to fit',
  'failures keep half the room',
  'repeated a million times',
  'without overflowing the stack',
  // Ten million visits before discovery gives up: seconds, instrumented.
  'ends with discovery_limit instead of running forever',
  // lib/validation.test.ts synthesizes a whole stack for these (seconds each, instrumented); its
  // describe('edges') judges the mutants by calling validateProps alone.
  'values outside what the services accept are refused',
  'a custom domain the API cannot serve is refused',
  'legal values that are almost certainly mistakes get a warning',
  'every boundary value synthesizes cleanly',
];

module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: only ?? [
    '**/test/lambda/shared/signature.test.ts',
    '**/test/lambda/shared/prediction.test.ts',
    '**/test/lambda/shared/outputs.test.ts',
    '**/test/lambda/shared/completion-message.test.ts',
    '**/test/local/aws/event-filter.test.ts',
    '**/test/lambda/shared/reconcile.test.ts',
    '**/test/lambda/shared/retry.test.ts',
    '**/test/lambda/shared/allowed-hosts.test.ts',
    '**/test/lambda/shared/address-policy.test.ts',
    '**/test/lambda/archiver/safe-fetch.test.ts',
    '**/test/lambda/shared/concurrency-limit.test.ts',
    '**/test/lambda/shared/state.transition-condition.test.ts',
    '**/test/lambda/shared/state.format.test.ts',
    '**/test/lambda/shared/completion-event.test.ts',
    '**/test/lambda/shared/env.test.ts',
    '**/test/lambda/shared/archive-queue.test.ts',
    '**/test/lambda/shared/archive-layout.test.ts',
    '**/test/lib/validation.test.ts',
  ],
  testNamePattern: `^(?![\\s\\S]*(${LEFT_OUT.join('|')}))`,
  setupFiles: ['<rootDir>/test/support/mutation-setup.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  testTimeout: 60_000,
};
