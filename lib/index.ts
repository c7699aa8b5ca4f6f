export * from './replicate-webhooks';
export * from './props';
export { HANDLER_RUNTIME } from './handler-code';
export { BECAME_TERMINAL_PATTERNS } from '../lambda/shared/stream-filter';
export type {
  ArchiveFailure,
  ArchiveManifest,
  ArchivedFile,
  CompletionAttributes,
  CompletionMessage,
  ObjectLocation,
} from '../lambda/shared/completion-message';
