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
  /** Terminal at Replicate, not terminal in the table, in scope: fetch it whole and record it. */
  | 'record'
  /**
   * Running at Replicate for a while, no record, in scope: record its progress (as a `processing`
   * webhook would), so that it is followed by id until it finishes, however long it runs.
   */
  | 'record_progress'
  /** Terminal or running, no record, but the listing did not say which webhook it has: fetch it whole and decide again. */
  | 'check_webhook'
  /** Running and either recorded (followed through the open index) or too young to tell (its webhooks may be on their way). */
  | 'not_terminal_yet'
  | 'already_terminal'
  | 'out_of_scope';

/**
 * The one rule. A prediction already in the table is ours whatever the scope (a webhook reached
 * us for it). Otherwise, by default, only one created with one of this deployment's webhook URLs.
 * A running prediction without a record is left alone until `settledBefore` (epoch ms): its
 * `start` webhook may still be on its way.
 */
export function decideReconcile(
  prediction: ListedPrediction,
  recorded: RecordedState,
  scope: ReconciliationScope,
  webhookUrls: readonly string[],
  settledBefore: number,
): ReconcileDecision {
  if (recorded === 'terminal') return 'already_terminal';
  const terminal = isTerminalStatus(prediction.status);
  if (!terminal) {
    if (recorded === 'in_progress') return 'not_terminal_yet';
    const createdAt = Date.parse(prediction.created_at ?? '');
    if (Number.isNaN(createdAt) || createdAt >= settledBefore) return 'not_terminal_yet';
  }
  const ours = terminal ? 'record' : 'record_progress';
  if (recorded === 'in_progress' || scope === ReconciliationScope.ACCOUNT) return ours;
  // Replicate documents no `webhook` on listed predictions: when the listing leaves it out, the
  // whole prediction says (one read per candidate, not per listed prediction).
  if (prediction.webhook === undefined) return 'check_webhook';
  return isOurWebhookUrl(prediction.webhook, webhookUrls) ? ours : 'out_of_scope';
}

/** Whether Replicate's `webhook` is one of ours (compared as `sameWebhookUrl` does). */
export function isOurWebhookUrl(given: string | null | undefined, webhookUrls: readonly string[]): boolean {
  return webhookUrls.some((url) => sameWebhookUrl(given, url));
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

/**
 * How far the reconciler's listing of Replicate's predictions is complete, by creation time (epoch
 * ms): every prediction created before `completeBefore` has been examined, and so has every one
 * created in [`examinedFrom`, `examinedUntil`), the part above a gap that later runs carry on
 * into. Kept in the table, so that a run cut short, or a reconciler away for hours, resumes where
 * the listing stopped, not at "now minus the lookback".
 */
export interface ListingProgress {
  readonly completeBefore: number;
  readonly examinedFrom: number;
  readonly examinedUntil: number;
}

/** What one run lists: the lookback again (to see what finished), and the gap below it, if any. */
export interface ListingPlan {
  /** The recent pass: from now back to here (the lookback). */
  readonly recentSince: number;
  /** The backlog pass: predictions created in [since, until), never all examined yet. */
  readonly backlog?: { readonly since: number; readonly until: number };
}

/** What a pass examined: all of [since, until) when complete, else down to just above `oldestExamined`. */
export interface ListingPass {
  readonly since: number;
  readonly until: number;
  readonly complete: boolean;
  /** Creation time of the oldest prediction the pass examined (undefined: none). */
  readonly oldestExamined?: number;
}

/**
 * How long before a run starts the predictions it lists count as settled: created earlier than
 * this, a prediction is in the listing whatever the clocks, and a running one without a record
 * has had time for its `start` webhook. Two minutes, or less for a short lookback (local mode).
 */
export function listingSettleMs(lookbackMs: number): number {
  return Math.min(2 * 60_000, Math.floor(lookbackMs / 4));
}

export function planListing(progress: ListingProgress | undefined, now: number, lookbackMs: number): ListingPlan {
  const recentSince = now - lookbackMs;
  if (!progress) return { recentSince };
  // Past a hole above the examined part, that part is listed again: one gap is simpler to resume.
  const top =
    progress.examinedUntil >= recentSince && progress.examinedFrom > progress.completeBefore
      ? Math.min(progress.examinedFrom, recentSince)
      : recentSince;
  return progress.completeBefore < top
    ? { recentSince, backlog: { since: progress.completeBefore, until: top } }
    : { recentSince };
}

/**
 * The progress after a run: what was complete, with what its passes examined. The examined parts
 * that join the complete prefix extend it; the highest part above a gap is remembered; anything
 * between is forgotten (listed again later: only work, never a loss).
 */
export function advanceListing(
  progress: ListingProgress | undefined,
  plan: ListingPlan,
  passes: readonly ListingPass[],
): ListingProgress {
  const completeBefore = progress?.completeBefore ?? plan.recentSince;
  const parts: Array<[number, number]> = [];
  if (progress && progress.examinedFrom < progress.examinedUntil) parts.push([progress.examinedFrom, progress.examinedUntil]);
  for (const pass of passes) {
    // Equal creation times can straddle a page boundary: only what is strictly above the oldest seen counts.
    const from = pass.complete ? pass.since : pass.oldestExamined === undefined ? pass.until : pass.oldestExamined + 1;
    if (from < pass.until) parts.push([from, pass.until]);
  }
  parts.sort((a, b) => a[0] - b[0]);
  let prefix = completeBefore;
  let above: [number, number] | undefined;
  for (const [from, until] of parts) {
    if (from <= prefix) prefix = Math.max(prefix, until);
    else if (!above || from > above[1]) above = [from, until];
    else above = [above[0], Math.max(above[1], until)];
  }
  return above && above[1] > prefix
    ? { completeBefore: prefix, examinedFrom: above[0], examinedUntil: above[1] }
    : { completeBefore: prefix, examinedFrom: prefix, examinedUntil: prefix };
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
