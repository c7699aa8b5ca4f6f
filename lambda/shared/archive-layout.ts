/**
 * Where things live in the archive bucket. Keys are deterministic, so a retried write
 * overwrites instead of duplicating. The construct scopes IAM grants with the same prefixes.
 */

/** Terminal payloads too large for a table item, written by the verifier before its write. */
export const SPILL_FOLDER = 'webhook-payloads/';
import { CompletionKind } from './prediction';

/** One folder per finished prediction, written by the archiver. */
export const PREDICTIONS_FOLDER = 'predictions/';
/** One folder per finished training, written by the archiver: the same layout, `training.json` for `prediction.json`. */
export const TRAININGS_FOLDER = 'trainings/';
/** The archiver's folders, one per kind: what it writes and what `grantReadArchive` lets read. */
export const ARCHIVE_FOLDERS: Readonly<Record<CompletionKind, string>> = {
  [CompletionKind.PREDICTION]: PREDICTIONS_FOLDER,
  [CompletionKind.TRAINING]: TRAININGS_FOLDER,
};

/** Normalises a user prefix: empty, or ending in exactly one `/`, never starting with one. */
export function normalizePrefix(prefix: string | undefined): string {
  const trimmed = (prefix ?? '').replace(/^\/+|\/+$/g, '');
  return trimmed.length === 0 ? '' : `${trimmed}/`;
}

/**
 * Where a terminal payload too large for the table goes: named by the body's digest, so another
 * body (the same webhook id sent again with it, or a racing terminal webhook) can never overwrite
 * the payload a record points at, and the key stays short on the record.
 */
export function spilledPayloadKey(prefix: string, predictionId: string, bodyDigest: string): string {
  return `${prefix}${SPILL_FOLDER}${predictionId}/${bodyDigest}.json`;
}

/** `predictions/<id>/` or `trainings/<id>/`. */
export const predictionFolder = (prefix: string, predictionId: string, kind = CompletionKind.PREDICTION): string =>
  `${prefix}${ARCHIVE_FOLDERS[kind]}${predictionId}/`;
/**
 * The terminal payload alone, verbatim: `prediction.json`, or `training.json` for a training;
 * written only with the construct's `predictionDocument` (manifest.json carries it either way).
 */
export const predictionDocumentKey = (prefix: string, predictionId: string, kind = CompletionKind.PREDICTION): string =>
  `${predictionFolder(prefix, predictionId, kind)}${kind}.json`;
export const manifestKey = (prefix: string, predictionId: string, kind = CompletionKind.PREDICTION): string =>
  `${predictionFolder(prefix, predictionId, kind)}manifest.json`;

/** `outputs/<n>-<name>`: the discovery index keeps keys unique and stable across re-runs. */
export const outputKey = (
  prefix: string,
  predictionId: string,
  index: number,
  fileName: string,
  kind = CompletionKind.PREDICTION,
): string => `${predictionFolder(prefix, predictionId, kind)}outputs/${index}-${fileName}`;
