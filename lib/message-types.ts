/**
 * The completion message's types, for TypeScript code that reads the notifications
 * (`JSON.parse(body) as CompletionMessage`). They describe JSON (literal types, read-only arrays,
 * nested objects) that jsii cannot carry into other languages, so `@jsii ignore` keeps them out
 * of the assembly; TypeScript users import them from the package root all the same.
 */
import type * as message from '../lambda/shared/completion-message';

/**
 * The body of a completion notification (JSON). Never carries logs.
 * @jsii ignore
 */
export type CompletionMessage = message.CompletionMessage;
/**
 * Message attributes, for subscription filter policies. Published as `String` attributes.
 * @jsii ignore
 */
export type CompletionAttributes = message.CompletionAttributes;
/**
 * A completion message, its JSON and its attributes.
 * @jsii ignore
 */
export type CompletionNotification = message.CompletionNotification;
/**
 * manifest.json, the archive's one document: the terminal payload, and source → archived copy for
 * every output.
 * @jsii ignore
 */
export type ArchiveManifest = message.ArchiveManifest;
/**
 * One output file, copied into the archive.
 * @jsii ignore
 */
export type ArchivedFile = message.ArchivedFile;
/**
 * An output file that could not be archived, and why.
 * @jsii ignore
 */
export type ArchiveFailure = message.ArchiveFailure;
/**
 * Where an archived object is: bucket, key and `s3://` URI.
 * @jsii ignore
 */
export type ObjectLocation = message.ObjectLocation;
/**
 * Payload fields the message carries cut short or in part; the manifest's payload has them whole.
 * @jsii ignore
 */
export type TruncatedField = message.TruncatedField;
