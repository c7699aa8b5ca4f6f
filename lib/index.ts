export * from './replicate-webhooks';
export * from './props';
export { ReconciliationScope } from '../lambda/shared/reconcile';
export * from './control-tower';
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
