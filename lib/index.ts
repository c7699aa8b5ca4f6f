export * from './replicate-webhooks';
export * from './props';
export { ReconciliationScope } from '../lambda/shared/reconcile';
export { CompletionKind } from '../lambda/shared/prediction';
export * from './control-tower';
export { COMPLETION_EVENT_SOURCE, completionEventDetailType } from '../lambda/shared/completion-event';
// TypeScript only, as the types below: the terminal payload's exact bytes in a manifest's text.
export { manifestPayloadText } from '../lambda/shared/completion-message';
// TypeScript only: the types of the completion message, left out of the jsii assembly.
export type {
  ArchiveFailure,
  ArchiveManifest,
  ArchivedFile,
  CompletionAttributes,
  CompletionMessage,
  CompletionNotification,
  ObjectLocation,
  TruncatedField,
} from './message-types';
