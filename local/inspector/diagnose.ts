/**
 * Why a delivery's signature did or did not verify, in the inspector's words: which header was
 * missing, how far the timestamp was off, or that no key matched. The verifier answers only a
 * reason code (an attacker learns nothing more); the developer at the inspector gets the detail.
 * Pure: the same checks the verifier makes, from lambda/shared/signature.ts.
 */
import {
  checkHeaders,
  matchesAnyKey,
  parseSigningSecret,
  parseV1Signatures,
  type SignatureRejection,
} from '../../lambda/shared/signature';

export interface SignatureDiagnosis {
  readonly valid: boolean;
  readonly reason?: SignatureRejection | 'invalid_secret';
  /** One sentence for a person. */
  readonly explanation: string;
  readonly missingHeaders?: readonly string[];
  /** Receipt time minus `webhook-timestamp`, in seconds (negative: from the future). */
  readonly skewSeconds?: number;
  readonly toleranceSeconds: number;
  /** Well-formed `v1` signatures the request offered. */
  readonly offeredSignatures: number;
}

const SIGNATURE_HEADERS = ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const;

/** `headers` with lowercase names, as API Gateway hands them on. */
export function diagnoseSignature(
  headers: Readonly<Record<string, string | undefined>>,
  body: Uint8Array,
  secretValue: string,
  receivedAtSeconds: number,
  toleranceSeconds: number,
): SignatureDiagnosis {
  const [webhookId, timestamp, signature] = SIGNATURE_HEADERS.map((name) => headers[name]);
  const offeredSignatures = signature ? parseV1Signatures(signature).length : 0;
  const base = { toleranceSeconds, offeredSignatures };
  const skewSeconds = timestamp && /^[0-9]{1,12}$/.test(timestamp) ? receivedAtSeconds - Number(timestamp) : undefined;
  const checked = checkHeaders({ webhookId, timestamp, signature, body }, receivedAtSeconds, toleranceSeconds);
  if (!checked.ok) {
    const missingHeaders = SIGNATURE_HEADERS.filter((name) => !headers[name]);
    return {
      ...base,
      valid: false,
      reason: checked.reason,
      ...(skewSeconds !== undefined ? { skewSeconds } : {}),
      ...(missingHeaders.length > 0 ? { missingHeaders } : {}),
      explanation: explain(checked.reason, missingHeaders, skewSeconds, toleranceSeconds),
    };
  }
  let keys: Buffer[];
  try {
    keys = parseSigningSecret(secretValue);
  } catch {
    return {
      ...base,
      valid: false,
      reason: 'invalid_secret',
      skewSeconds,
      explanation: 'The local signing secret is not a usable key.',
    };
  }
  if (!matchesAnyKey(checked.request, keys)) {
    return {
      ...base,
      valid: false,
      reason: 'bad_signature',
      skewSeconds,
      explanation: `No key matched: none of the ${offeredSignatures} v1 signature(s) is the HMAC of this id, timestamp and body under local mode's signing secret (another secret, or a body changed after signing).`,
    };
  }
  return {
    ...base,
    valid: true,
    skewSeconds,
    explanation: `Signed with local mode's key; timestamp ${describeSkew(skewSeconds!)} (tolerance ±${toleranceSeconds} s).`,
  };
}

function explain(
  reason: SignatureRejection,
  missing: readonly string[],
  skewSeconds: number | undefined,
  toleranceSeconds: number,
): string {
  switch (reason) {
    case 'missing_headers':
      return `Missing header(s): ${missing.join(', ')}.`;
    case 'invalid_webhook_id':
      return 'The webhook-id header is not 1–256 printable ASCII characters.';
    case 'invalid_timestamp':
      return 'The webhook-timestamp header is not a number of seconds since 1970.';
    case 'timestamp_out_of_tolerance':
      return `Timestamp skew: the request was signed ${describeSkew(skewSeconds ?? 0)}, outside the tolerance of ±${toleranceSeconds} s (a replay, or a clock that is off).`;
    case 'no_v1_signature':
      return 'The webhook-signature header offers no v1 signature.';
    case 'bad_signature':
      return 'The webhook-signature header has v1 entries, but none is a well-formed signature.';
  }
}

function describeSkew(skewSeconds: number): string {
  if (skewSeconds === 0) return 'this second';
  return skewSeconds > 0 ? `${skewSeconds} s before it arrived` : `${-skewSeconds} s in the future`;
}
