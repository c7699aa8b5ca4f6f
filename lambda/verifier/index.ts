/** The verifier's entry: its wiring from the environment, its clients, the handler (handler.ts). */
import { readVerifierConfig } from './config';
import { verifierDependencies } from './dependencies';
import { createVerifierHandler } from './handler';

export const handler = createVerifierHandler(verifierDependencies(readVerifierConfig()));
