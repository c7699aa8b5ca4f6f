/** The archiver's entry: its wiring from the environment, its clients, the handler (handler.ts). */
import { readArchiverConfig } from './config';
import { archiverDependencies } from './dependencies';
import { createArchiverHandler } from './handler';

export const handler = createArchiverHandler(archiverDependencies(readArchiverConfig()));
