export * from './replicate-webhooks';
export * from './props';
export type {
  ArchiveFailure,
  ArchiveManifest,
  ArchivedFile,
  CompletionAttributes,
  CompletionMessage,
  ObjectLocation,
} from '../lambda/shared/completion-message';
