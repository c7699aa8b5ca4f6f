/** The reconciler's entry: its wiring from the environment, its clients, the handler (handler.ts). */
import { readReconcilerConfig } from './config';
import { reconcilerDependencies } from './dependencies';
import { createReconcilerHandler } from './handler';

export const handler = createReconcilerHandler(reconcilerDependencies(readReconcilerConfig()));
