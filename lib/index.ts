export * from './replicate-webhooks';
export * from './props';
export type {
  ArchiveFailure,
  ArchiveManifest,
  ArchivedFile,
  CompletionAttributes,
  CompletionMessage,
  CompletionNotification,
  ObjectLocation,
  TruncatedField,
} from '../lambda/shared/completion-message';
