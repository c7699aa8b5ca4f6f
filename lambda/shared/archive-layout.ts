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

export function spilledPayloadKey(prefix: string, predictionId: string, webhookId: string, bodySha256: string): string {
  // A webhook id may hold any printable character, `/` included. The body's digest keeps one id
  // sent again with another body from overwriting the payload a record points at.
  return `${prefix}${SPILL_FOLDER}${predictionId}/${encodeURIComponent(webhookId)}.${bodySha256}.json`;
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
