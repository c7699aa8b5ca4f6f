/** Mutation runs (jest.mutation.config.js) must give the same score twice: property tests draw from one seed. */
import fc from 'fast-check';

fc.configureGlobal({ seed: 20 });
