/**
 * The reconciler's decisions, pure: which predictions listed by Replicate's API are ours to
 * record, and how the signing secret changes when Replicate's key does. The reconciler handler
 * does the I/O; the construct reads the enum and defaults.
 */
import { isTerminalStatus } from './prediction';

/** Which predictions the reconciler may record. */
export enum ReconciliationScope {
  /**
   * Predictions created with this deployment's webhook URL, and any prediction that already has
   * a record in the table. Predictions of other applications in the account are left alone.
   */
  WEBHOOK_URL = 'webhook_url',
  /** Every prediction of the account within the lookback (for accounts that use this construct for everything). */
  ACCOUNT = 'account',
}

export const RECONCILIATION_DEFAULTS = {
  intervalSeconds: 5 * 60,
  /** Replicate deletes outputs about an hour after a prediction was created: look a little further. */
  lookbackSeconds: 75 * 60,
  scope: ReconciliationScope.WEBHOOK_URL,
  /** A terminal record not announced this long after it became terminal is driven through the archiver again. */
  stuckAfterSeconds: 15 * 60,
  /** After a rotation, the previous signing key stays accepted this long (deliveries in flight, retries). */
  rotationGraceSeconds: 24 * 3600,
  maxPagesPerRun: 100,
  /**
   * Archival tries (claims, a crash included) after which a stuck prediction is marked failed and
   * left for a person instead of being queued again: three rounds of the queue's five tries.
   */
  maxArchiveAttempts: 15,
} as const;

/** What the list endpoint says of a prediction (the fields the decision needs). */
export interface ListedPrediction {
  readonly id: string;
  readonly status: string;
  readonly created_at?: string;
  readonly webhook?: string | null;
}

/** What the table says of a prediction: absent, or recorded with or without a terminal state. */
export type RecordedState = 'absent' | 'in_progress' | 'terminal';

export type ReconcileDecision =
  /** Terminal at Replicate, not in the table, in scope: fetch it whole and record it. */
  | 'record'
  /** Terminal, not in the table, but the listing did not say which webhook it has: fetch it whole and decide again. */
  | 'check_webhook'
  | 'not_terminal_yet'
  | 'already_terminal'
  | 'out_of_scope';

/**
 * The one rule. A prediction already in the table is ours whatever the scope (a webhook reached
 * us for it). Otherwise, by default, only one created with this deployment's webhook URL.
 */
export function decideReconcile(
  prediction: ListedPrediction,
  recorded: RecordedState,
  scope: ReconciliationScope,
  webhookUrl: string,
): ReconcileDecision {
  if (recorded === 'terminal') return 'already_terminal';
  if (!isTerminalStatus(prediction.status)) return 'not_terminal_yet';
  if (recorded === 'in_progress' || scope === ReconciliationScope.ACCOUNT) return 'record';
  // Replicate documents no `webhook` on listed predictions: when the listing leaves it out, the
  // whole prediction says (one read per finished candidate, not per listed prediction).
  if (prediction.webhook === undefined) return 'check_webhook';
  return sameWebhookUrl(prediction.webhook, webhookUrl) ? 'record' : 'out_of_scope';
}

/** Replicate echoes the URL as given; compare without a trailing slash or a default port. */
export function sameWebhookUrl(given: string | null | undefined, ours: string): boolean {
  if (!given) return false;
  const normalise = (url: string) => {
    try {
      const parsed = new URL(url);
      return `${parsed.protocol}//${parsed.host}${parsed.pathname.replace(/\/+$/, '')}`.toLowerCase();
    } catch {
      return undefined;
    }
  };
  const a = normalise(given);
  return a !== undefined && a === normalise(ours);
}

/** The signing secret as the reconciler writes it: the verifier reads `key` and `keys`. */
export interface StoredSigningSecret {
  readonly key?: string;
  readonly keys?: readonly string[];
  /** When `key` replaced the previous one; older keys are dropped after the grace period. */
  readonly rotatedAt?: string;
}

/**
 * What to store when Replicate's key is `replicateKey`: undefined when nothing changes. A new
 * key goes first and the previous one stays accepted for `graceSeconds`; once that has passed,
 * the old keys go.
 */
export function nextSigningSecret(
  stored: StoredSigningSecret | undefined,
  replicateKey: string,
  now: Date,
  graceSeconds: number,
): StoredSigningSecret | undefined {
  const previous = stored?.key;
  if (previous === replicateKey) {
    const rotatedAt = stored?.rotatedAt ? Date.parse(stored.rotatedAt) : Number.NaN;
    const graceOver = Number.isNaN(rotatedAt) || now.getTime() - rotatedAt >= graceSeconds * 1000;
    if ((stored?.keys?.length ?? 0) > 0 && graceOver) return { key: replicateKey };
    return undefined;
  }
  const kept = [previous, ...(stored?.keys ?? [])].filter(
    (key): key is string => typeof key === 'string' && key.startsWith('whsec_') && key !== replicateKey,
  );
  return { key: replicateKey, ...(kept.length > 0 ? { keys: [...new Set(kept)], rotatedAt: now.toISOString() } : {}) };
}

/** Reads the secret's text as the reconciler stores it; a plain `whsec_` value counts as its key. */
export function readStoredSigningSecret(text: string | undefined): StoredSigningSecret | undefined {
  const trimmed = text?.trim() ?? '';
  if (trimmed.startsWith('{')) {
    try {
      const parsed = JSON.parse(trimmed) as { key?: unknown; keys?: unknown; rotatedAt?: unknown };
      return {
        ...(typeof parsed.key === 'string' ? { key: parsed.key } : {}),
        ...(Array.isArray(parsed.keys) ? { keys: parsed.keys.filter((key): key is string => typeof key === 'string') } : {}),
        ...(typeof parsed.rotatedAt === 'string' ? { rotatedAt: parsed.rotatedAt } : {}),
      };
    } catch {
      return undefined;
    }
  }
  const keys = trimmed.split(/[\s,]+/).filter((key) => key.startsWith('whsec_'));
  return keys.length === 0 ? undefined : { key: keys[0], ...(keys.length > 1 ? { keys: keys.slice(1) } : {}) };
}
