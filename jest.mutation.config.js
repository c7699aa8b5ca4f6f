/**
 * The unit tests that judge the mutants of `npm run test:mutation` (stryker.config.mjs): pure,
 * fast, no global setup (no DynamoDB Local, no fauxqs), so one mutant costs well under a second.
 * @type {import('jest').Config}
 */
// MUTATION_TESTS=signature,prediction-and-state narrows the run while iterating on one file.
const only = process.env.MUTATION_TESTS?.split(',').map((name) => `**/test/${name}.test.ts`);

// Left out of mutation runs (docs/mutation.md): tests that bound CPU time, which instrumented
// code cannot meet, and tests that take seconds there (megabytes of input, hundreds of generated
// cases) and would be re-run for every mutant they cover. The *.mutation-gaps tests check the
// same limits on small inputs.
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
];

module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: only ?? [
    '**/test/signature.test.ts',
    '**/test/prediction-and-state.test.ts',
    '**/test/outputs.test.ts',
    '**/test/completion-message.test.ts',
    '**/test/event-filter.test.ts',
    '**/test/reconcile.test.ts',
    '**/test/retry.test.ts',
    '**/test/allowed-hosts.test.ts',
    '**/test/address-policy.test.ts',
    '**/test/safe-fetch.test.ts',
    '**/test/concurrency-limit.test.ts',
    '**/test/transition-condition.test.ts',
    '**/test/state-format.test.ts',
    '**/test/completion-event.test.ts',
    '**/test/*.mutation-gaps.test.ts',
  ],
  testNamePattern: `^(?![\\s\\S]*(${LEFT_OUT.join('|')}))`,
  setupFiles: ['<rootDir>/test/support/mutation-setup.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  testTimeout: 60_000,
};
