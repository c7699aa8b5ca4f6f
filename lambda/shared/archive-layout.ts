/**
 * Where things live in the archive bucket. Keys are deterministic, so a retried write
 * overwrites instead of duplicating. The construct scopes IAM grants with the same prefixes.
 */

/** Terminal payloads too large for a table item, written by the verifier before its write. */
export const SPILL_FOLDER = 'webhook-payloads/';
/** One folder per finished prediction, written by the archiver. */
export const PREDICTIONS_FOLDER = 'predictions/';

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

export const predictionFolder = (prefix: string, predictionId: string): string =>
  `${prefix}${PREDICTIONS_FOLDER}${predictionId}/`;
export const predictionDocumentKey = (prefix: string, predictionId: string): string =>
  `${predictionFolder(prefix, predictionId)}prediction.json`;
export const manifestKey = (prefix: string, predictionId: string): string =>
  `${predictionFolder(prefix, predictionId)}manifest.json`;

/** `outputs/<n>-<name>`: the discovery index keeps keys unique and stable across re-runs. */
export const outputKey = (prefix: string, predictionId: string, index: number, fileName: string): string =>
  `${predictionFolder(prefix, predictionId)}outputs/${index}-${fileName}`;
