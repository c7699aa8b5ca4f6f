/**
 * Reconciler: makes the archive complete when Replicate's deliveries fail. On a schedule (the
 * event's content is ignored), each run
 * 1. puts Replicate's signing key into the signing secret when it is missing or has changed
 *    (the previous key stays accepted for a grace period), so a deploy needs no manual step;
 * 2. lists the lookback's predictions, then its trainings (newest first, each kind with its own
 *    watermark), and records each one in scope that
 *    finished without the table knowing: through the same store and state rule as the verifier,
 *    so the stream, the forwarder and the archiver do the rest and a late webhook is after_terminal.
 *    A running one with no record is recorded as progress, so that it is followed;
 * 3. looks up by id the open records older than the lookback (long jobs), whatever their age;
 * 4. tries again the predictions earlier runs could not recover;
 * 5. lists what an earlier run could not (a listing cut short, a reconciler that was away),
 *    from where the complete listing ends, kept in the table;
 * 6. sends finished predictions still not announced long after back to the archive queue, in
 *    turns, and gives up those past the attempt cap (marked failed, for a person).
 * Every listed item, fetch and recording is handled on its own: a bad one is counted and tried
 * again later, never the end of the run. A run ends well inside its timeout and carries on next
 * time. Reruns are safe: every write is the store's conditional one, every redrive the archiver's claim.
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { ConcurrencyLimit } from '../shared/concurrency-limit';
import { METRIC } from '../shared/metrics';
import {
  COMPLETION_KINDS,
  CompletionKind,
  isTerminalStatus,
  parseRecordablePrediction,
  type Prediction,
} from '../shared/prediction';
import { recoveryRetryKey } from '../shared/state';
import {
  advanceListing,
  decideReconcile,
  listingSettleMs,
  planListing,
  type ListingPass,
  type ListingProgress,
  type RecordedState,
} from '../shared/reconcile';
import { RecordTooLargeError, StoreUnavailableError, type WebhookStore } from '../store/webhook-store';
import { MetricUnit, type Telemetry } from '../telemetry';
import type { PendingArchivals } from './archivals';
import { redriveStuck } from './redrive';
import { readToken, syncSigningKey, type SigningKeySync } from './signing-key';
import type { ReconcilerConfig } from './config';
import type { ReconcilerLedger } from './ledger';
import type { RecordedPredictions } from './recorded';
import {
  ReplicateApiError,
  ReplicateAuthError,
  type MalformedListItem,
  type ReplicateApiClient,
  type ReplicatePrediction,
  type RetryNotice,
} from './replicate-api';
import { RECOVERY_RETRY_WINDOW_MS, type RecoveryRetries } from './retries';

/** What the reconciler works with; `index.ts` builds them from the environment. */
export interface ReconcilerDependencies {
  readonly config: ReconcilerConfig;
  readonly telemetry: Telemetry;
  readonly secrets: SecretsManagerClient;
  readonly sqs: SQSClient;
  readonly store: WebhookStore;
  readonly recorded: RecordedPredictions;
  readonly retries: RecoveryRetries;
  readonly archivals: PendingArchivals;
  readonly ledger: ReconcilerLedger;
  /** Replicate's API with this token. */
  readonly replicateApi: (token: string, onRetry: (retry: RetryNotice) => void) => ReplicateApiClient;
  /** Epoch milliseconds now: what decisions and records are dated with (deadlines always use real time). @default Date.now */
  readonly now?: () => number;
  /** How much of each kind of work one run takes on. @default RUN_LIMITS */
  readonly limits?: Partial<RunLimits>;
}

export interface RunLimits {
  /** Stuck archivals looked at (queued again, or given up) per run. */
  readonly stuckPerRun: number;
  /** Open records older than the lookback looked up by id per run. */
  readonly followPerRun: number;
  /** Earlier failures tried again per run. */
  readonly retriesPerRun: number;
  /** One prediction's fetch, its retries included: one that always fails must not take the run's time. */
  readonly itemBudgetMs: number;
}

export const RUN_LIMITS: RunLimits = { stuckPerRun: 200, followPerRun: 200, retriesPerRun: 200, itemBudgetMs: 20_000 };

/** What one run did: returned to the caller (local mode prints it) and logged. */
export interface ReconcileReport {
  readonly signingKey: SigningKeySync;
  /** Listed predictions examined, by both passes. */
  readonly examined: number;
  readonly recovered: ReadonlyArray<{ readonly predictionId: string; readonly status: string }>;
  /** Running predictions with no record, recorded so that they are followed until they finish. */
  readonly progressRecorded: readonly string[];
  /** Open records older than the lookback looked up by id. */
  readonly followed: number;
  /** Predictions an earlier run could not recover, tried again. */
  readonly retried: number;
  /** Predictions of other applications examined. */
  readonly outOfScope: number;
  /** Items this run could not handle, each left to be tried again (or given up, `gave_up`). */
  readonly itemFailures: ReadonlyArray<{ readonly predictionId?: string; readonly reason: string }>;
  readonly redriven: readonly string[];
  /** Stuck predictions past the attempt cap, marked failed for a person. */
  readonly gaveUp: readonly string[];
  /** The predictions' listing (`GET /v1/predictions`). */
  readonly listing: ListingReport;
  /** The trainings' listing (`GET /v1/trainings`): the same rules, its own watermark. */
  readonly trainingListing: ListingReport;
  /** A pass stopped before the end of what it was to list (deadline, page limit, API failure): later runs go on. */
  readonly stoppedEarly: boolean;
  /** Replicate's API failed (after its retries) for some part of the run; the first reason. */
  readonly apiError?: string;
}

export interface ListingReport {
  readonly recent: ListingPass;
  readonly backlog?: ListingPass;
  /** Every prediction (or training) created before this (ISO) has been examined. */
  readonly completeBefore: string;
  readonly lagSeconds: number;
}

// Without a Lambda context, a run gets the default timeout's budget.
const DEFAULT_BUDGET_MS = 5 * 60 * 1000;
const SAFETY_MARGIN_MS = 15_000;
const LOOKUP_BATCH = 100;
const FETCH_CONCURRENCY = 8;

/** A prediction to look at by id, from the listing or the retries. */
interface Candidate {
  readonly predictionId: string;
  /** Where Replicate's API has it: `/v1/predictions/{id}` or `/v1/trainings/{id}`. */
  readonly kind: CompletionKind;
  /** For the order of work: the oldest first, the closest to losing its outputs. */
  readonly createdAt: number;
  readonly recorded: RecordedState;
  /** The listed item when it suffices (a running prediction's progress); otherwise the whole one is fetched. */
  readonly listed?: ReplicatePrediction;
}

/** A prediction this run could not record, for a reason of its own (not an outage). */
class ItemFailure extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'ItemFailure';
  }
}

export function createReconcilerHandler(dependencies: ReconcilerDependencies) {
  const { metrics, logger } = dependencies.telemetry;
  return async (_event: unknown, context?: Context): Promise<ReconcileReport> => {
    if (context) logger.addContext(context);
    metrics.captureColdStartMetric();
    const budgetMs = context?.getRemainingTimeInMillis() ?? DEFAULT_BUDGET_MS;
    try {
      return await new ReconcileRun(dependencies, Date.now(), budgetMs).run();
    } finally {
      // Powertools warns on an empty flush (a run that failed before counting anything).
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    }
  };
}

class ReconcileRun {
  private readonly config: ReconcilerConfig;
  private readonly telemetry: Telemetry;
  /** The run's time, for decisions and records. */
  private readonly now: number;
  private readonly deadline: number;
  private readonly webhookUrls: readonly string[];
  private readonly settledBefore: number;
  private readonly fetches = new ConcurrencyLimit(FETCH_CONCURRENCY);
  private readonly limits: RunLimits;
  private api?: ReplicateApiClient;
  private apiError?: string;
  private unauthorized = false;
  private examined = 0;
  private outOfScope = 0;
  private followed = 0;
  private retried = 0;
  private readonly recovered: Array<{ predictionId: string; status: string }> = [];
  private readonly progressRecorded: string[] = [];
  private readonly itemFailures: Array<{ predictionId?: string; reason: string }> = [];

  constructor(
    private readonly dependencies: ReconcilerDependencies,
    private readonly startedAt: number,
    private readonly budgetMs: number,
  ) {
    this.config = dependencies.config;
    this.telemetry = dependencies.telemetry;
    this.limits = { ...RUN_LIMITS, ...dependencies.limits };
    this.now = (dependencies.now ?? Date.now)();
    this.deadline = startedAt + budgetMs - SAFETY_MARGIN_MS;
    this.webhookUrls = [this.config.webhookUrl, ...this.config.webhookUrls];
    this.settledBefore = this.now - listingSettleMs(this.config.lookbackSeconds * 1000);
  }

  async run(): Promise<ReconcileReport> {
    const { config, dependencies } = this;
    this.api = dependencies.replicateApi(await readToken(dependencies.secrets, config.tokenSecretId), (retry) =>
      this.telemetry.logger.warn("Replicate's API failed; retrying", { ...retry }),
    );
    const signingKey = config.manageSigningKey
      ? await syncSigningKey({ ...dependencies, api: this.api, now: new Date(this.now), deadline: this.deadline }).catch(
          (error: unknown) => (this.apiFailed(error), 'failed' as const),
        )
      : ('not_managed' as const);

    const state = await dependencies.ledger.read();
    const lookbackMs = config.lookbackSeconds * 1000;
    // What the passes examine counts up to a little before the run: younger predictions are listed again next time.
    const examinedUntil = this.settledBefore;
    const listings = COMPLETION_KINDS.map((kind) => {
      const plan = planListing(kind === CompletionKind.TRAINING ? state.trainingListing : state.listing, this.now, lookbackMs);
      const recent: ListingPass = { since: plan.recentSince, until: examinedUntil, complete: false };
      const backlog: ListingPass | undefined = plan.backlog ? { ...plan.backlog, complete: false } : undefined;
      // Each listing has the pages of a run to itself: trainings, few, never eat into the predictions'.
      return { kind, plan, recent, backlog, pagesLeft: config.maxPagesPerRun };
    });
    // Each kind's recent pass, in turn, within half the run; trainings are few, so theirs is short.
    for (const [index, listing] of listings.entries()) {
      if (this.unauthorized) break;
      const listed = await this.listPass(
        listing.kind,
        listing.plan.recentSince,
        undefined,
        examinedUntil,
        listing.pagesLeft,
        this.share(index === listings.length - 1 ? 0.5 : 0.4),
      );
      listing.recent = listed.pass;
      listing.pagesLeft -= listed.pages;
    }
    if (!this.unauthorized) await this.followOpenRecords(new Date(this.now - lookbackMs));
    if (!this.unauthorized) await this.retryEarlierFailures();
    for (const [index, listing] of listings.entries()) {
      const { backlog } = listing.plan;
      if (!backlog || this.unauthorized || listing.pagesLeft <= 0) continue;
      listing.backlog = (
        await this.listPass(
          listing.kind,
          backlog.since,
          backlog.until,
          backlog.until,
          listing.pagesLeft,
          this.share(index === listings.length - 1 ? 0.75 : 0.7),
        )
      ).pass;
    }
    // A token refused midway may have left items unhandled: nothing of this run counts as examined.
    const progress = listings.map((listing) =>
      advanceListing(
        listing.kind === CompletionKind.TRAINING ? state.trainingListing : state.listing,
        listing.plan,
        this.unauthorized ? [] : [listing.recent, ...(listing.backlog ? [listing.backlog] : [])],
      ),
    );
    const ofKind = (kind: CompletionKind) => {
      const index = listings.findIndex((listing) => listing.kind === kind);
      return { passes: listings[index], progress: progress[index] };
    };
    const predictions = ofKind(CompletionKind.PREDICTION);
    const trainings = ofKind(CompletionKind.TRAINING);

    const stuck = await redriveStuck(dependencies, {
      cursor: state.stuckCursor,
      now: new Date(this.now),
      limit: this.limits.stuckPerRun,
      deadline: this.deadline,
    });
    await dependencies.ledger
      .write(
        {
          listing: predictions.progress,
          trainingListing: trainings.progress,
          ...(stuck.cursor ? { stuckCursor: stuck.cursor } : {}),
        },
        new Date(this.now),
      )
      .catch((error: unknown) =>
        this.telemetry.logger.error('could not save how far the listing got', { error: error as Error }),
      );
    const report = this.report(
      signingKey,
      this.listingReport(predictions.passes, predictions.progress),
      this.listingReport(trainings.passes, trainings.progress),
      stuck,
    );
    this.publishRunMetrics(report, await dependencies.archivals.oldestWaitSeconds(new Date(this.now)));
    this.telemetry.logger.info('reconciled', {
      signingKey,
      examined: report.examined,
      recovered: report.recovered.length,
      progressRecorded: report.progressRecorded.length,
      followed: report.followed,
      retried: report.retried,
      outOfScope: report.outOfScope,
      itemFailures: report.itemFailures.length,
      redriven: report.redriven.length,
      gaveUp: report.gaveUp.length,
      stoppedEarly: report.stoppedEarly,
      completeBefore: report.listing.completeBefore,
      trainingsCompleteBefore: report.trainingListing.completeBefore,
    });
    return report;
  }

  /** A share of the run's budget, from its start: a pass's listing stops there, so the work after it has time. */
  private share(fraction: number): number {
    return Math.min(this.deadline, this.startedAt + Math.floor(this.budgetMs * fraction));
  }

  private itemDeadline(): number {
    return Math.min(this.deadline, Date.now() + this.limits.itemBudgetMs);
  }

  /**
   * Logs and counts a failure of Replicate's API; an invalid token stops every further call this
   * run (it is alarmed, not retried). Anything that is not an API failure is rethrown.
   */
  private apiFailed(error: unknown): string {
    if (!(error instanceof ReplicateApiError)) throw error;
    const reason = apiReason(error);
    if (error instanceof ReplicateAuthError) this.unauthorized = true;
    this.telemetry.logger.error(
      error instanceof ReplicateAuthError ? 'Replicate refused the API token: check the token secret' : "Replicate's API failed",
      { reason, error: error.message },
    );
    this.telemetry.metrics.addMetric(METRIC.replicateApiErrors, MetricUnit.Count, 1);
    this.telemetry.countReason(METRIC.replicateApiErrors, reason);
    this.apiError ??= reason;
    return reason;
  }

  /**
   * One listing, newest first, from `until` (or now) back to `since`: every item looked up in the
   * table, a hundred at a time, then the candidates handled oldest first. Counts as examined only
   * if every candidate was recorded, found to need nothing, or saved to be tried again.
   */
  private async listPass(
    kind: CompletionKind,
    since: number,
    until: number | undefined,
    examinedUntil: number,
    maxPages: number,
    listingDeadline: number,
  ): Promise<{ pass: ListingPass; pages: number }> {
    const listing = this.api!.listPredictions({
      kind,
      since: new Date(since),
      ...(until !== undefined ? { until: new Date(until) } : {}),
      deadline: listingDeadline,
      maxPages,
    });
    const candidates: Candidate[] = [];
    let batch: ReplicatePrediction[] = [];
    const lookUp = async () => {
      const listed = batch;
      batch = [];
      if (listed.length > 0) candidates.push(...(await this.decide(listed, kind)));
    };
    let listingFailed = false;
    try {
      for await (const prediction of listing) {
        this.examined++;
        batch.push(prediction);
        if (batch.length >= LOOKUP_BATCH) await lookUp();
      }
    } catch (error) {
      this.apiFailed(error);
      listingFailed = true;
    }
    await lookUp();
    candidates.push(...(await this.malformed(listing.outcome?.malformed ?? [], kind)));
    const durable = await this.handleAll(candidates);
    const outcome = listing.outcome;
    const oldestExamined = outcome?.oldestCreatedAt ? Date.parse(outcome.oldestCreatedAt) : undefined;
    return {
      pass: {
        since,
        until: examinedUntil,
        // A listing that failed midway is not complete; what it got through still counts, if handled.
        complete: durable && !listingFailed && outcome !== undefined && !outcome.stoppedEarly,
        ...(durable && oldestExamined !== undefined ? { oldestExamined } : {}),
      },
      pages: outcome?.pages ?? 0,
    };
  }

  /** What to do with each listed prediction, from the table's records (and out-of-scope marks). */
  private async decide(listed: readonly ReplicatePrediction[], kind: CompletionKind): Promise<Candidate[]> {
    const { recorded } = this.dependencies;
    const states = await recorded.states(
      listed.map((prediction) => prediction.id),
      this.deadline,
    );
    const decided = listed.map((prediction) => {
      const state = states.get(prediction.id) ?? 'absent';
      return {
        prediction,
        state,
        decision: decideReconcile(prediction, state, this.config.scope, this.webhookUrls, this.settledBefore),
      };
    });
    const unknownScope = decided.filter((entry) => entry.decision === 'check_webhook').map((entry) => entry.prediction.id);
    const foreign = unknownScope.length > 0 ? await recorded.outOfScope(unknownScope, this.deadline) : new Set<string>();
    const candidates: Candidate[] = [];
    for (const { prediction, state, decision } of decided) {
      const candidate = { predictionId: prediction.id, kind, createdAt: Date.parse(prediction.created_at), recorded: state };
      if (decision === 'out_of_scope' || foreign.has(prediction.id)) this.outOfScope++;
      else if (decision === 'record' || decision === 'check_webhook') candidates.push(candidate);
      else if (decision === 'record_progress') candidates.push({ ...candidate, listed: prediction });
    }
    return candidates;
  }

  /** Malformed list items are counted; those with a usable id are fetched whole and decided on. */
  private async malformed(items: readonly MalformedListItem[], kind: CompletionKind): Promise<Candidate[]> {
    for (const item of items) {
      this.failed(item.id, `malformed_${item.reason}`);
      this.telemetry.logger.warn('a listed item is malformed; skipped', { ...item });
    }
    const ids = [...new Set(items.map((item) => item.id).filter((id): id is string => id !== undefined))];
    if (ids.length === 0) return [];
    const states = await this.dependencies.recorded.states(ids, this.deadline);
    return ids.map((predictionId) => ({ predictionId, kind, createdAt: 0, recorded: states.get(predictionId) ?? 'absent' }));
  }

  /** Handles every candidate, the oldest first, side by side; false if one could not even be saved for later. */
  private async handleAll(candidates: readonly Candidate[], fromRetries = false): Promise<boolean> {
    const ordered = [...candidates].sort((a, b) => (a.createdAt || 0) - (b.createdAt || 0));
    const results = await Promise.all(ordered.map((candidate) => this.fetches.run(() => this.settle(candidate, fromRetries))));
    return results.every(Boolean);
  }

  /**
   * One candidate, on its own: handled, or counted and saved to be tried again in a later run
   * (or given up after a day of failures). False only when it could not even be saved.
   */
  private async settle(candidate: Candidate, fromRetries: boolean): Promise<boolean> {
    const { predictionId } = candidate;
    const { retries } = this.dependencies;
    // Out of time: not even saved for later (each save may wait out a silent table), so the
    // listing does not count it as examined and the next run lists it again.
    if (Date.now() >= this.deadline) return false;
    try {
      if (this.unauthorized) throw new ItemFailure('unauthorized');
      await this.handle(candidate);
      if (fromRetries) await retries.done(predictionId);
      return true;
    } catch (error) {
      const reason = error instanceof ItemFailure ? error.reason : this.itemReason(error);
      this.failed(predictionId, reason);
      try {
        const now = new Date(this.now);
        // Due just after this run's time: the next run tries it, not this one's retry pass.
        const tries = await retries.failed(predictionId, reason, now, new Date(this.now + 1), candidate.kind);
        if (this.now - Date.parse(tries.firstFailedAt) >= RECOVERY_RETRY_WINDOW_MS) {
          await retries.done(predictionId);
          this.failed(predictionId, 'gave_up');
          this.telemetry.logger.error('a prediction could not be recovered for a day; given up', {
            predictionId,
            reason,
            attempts: tries.attempts,
          });
        }
        return true;
      } catch (saveError) {
        this.telemetry.logger.error('a failed prediction could not be saved to be tried again', {
          predictionId,
          error: saveError as Error,
        });
        return false;
      }
    }
  }

  /** The reason an item failed with, counting API failures as such. */
  private itemReason(error: unknown): string {
    if (error instanceof ReplicateApiError) return `api_${this.apiFailed(error)}`;
    if (error instanceof StoreUnavailableError) return `${error.dependency}_unavailable`;
    if (error instanceof RecordTooLargeError) return 'record_too_large';
    return (error as Error)?.name ?? 'error';
  }

  private failed(predictionId: string | undefined, reason: string): void {
    this.itemFailures.push({ ...(predictionId !== undefined ? { predictionId } : {}), reason });
    this.telemetry.metrics.addMetric(METRIC.reconcileItemFailures, MetricUnit.Count, 1);
    this.telemetry.countReason(METRIC.reconcileItemFailures, reason);
  }

  /** Records a candidate from what Replicate says of it now, or notes that it is another application's. */
  private async handle(candidate: Candidate): Promise<void> {
    const { predictionId } = candidate;
    const { kind } = candidate;
    if (candidate.listed) return this.recordProgress(candidate.listed, JSON.stringify(candidate.listed), kind);
    const fetched = await this.api!.getPrediction(predictionId, { deadline: this.itemDeadline() }, kind);
    if (!fetched) {
      this.telemetry.logger.warn('Replicate does not know a prediction it listed (or no longer has it)', { predictionId, kind });
      return;
    }
    const whole = { ...fetched.prediction, webhook: fetched.prediction.webhook ?? null };
    switch (decideReconcile(whole, candidate.recorded, this.config.scope, this.webhookUrls, this.settledBefore)) {
      case 'record':
        return this.recordTerminal(recordable(fetched.body, kind), fetched.body);
      case 'record_progress':
        return this.recordProgress(fetched.prediction, fetched.body, kind);
      case 'out_of_scope':
        this.outOfScope++;
        await this.dependencies.recorded.rememberOutOfScope(predictionId, new Date(this.now));
        return;
      default:
        return;
    }
  }

  /** The whole prediction, recorded as its terminal webhook would have been. */
  private async recordTerminal(prediction: Prediction, body: string): Promise<void> {
    const completedAt = Date.parse(prediction.completedAt ?? '');
    const outcome = await this.dependencies.store.record({
      // One id per prediction, so reruns and concurrent runs are duplicates of one another.
      webhookId: `reconciled_${prediction.id}`,
      timestampSeconds: Math.floor((Number.isNaN(completedAt) ? this.now : completedAt) / 1000),
      prediction,
      body,
      bodyBytes: Buffer.byteLength(body),
      receivedAt: new Date(this.now),
    });
    if (outcome !== 'accepted') return;
    this.telemetry.logger.info('missed prediction recovered', {
      predictionId: prediction.id,
      kind: prediction.kind,
      status: prediction.status,
    });
    this.telemetry.countReason(METRIC.predictionsRecovered, prediction.status);
    this.recovered.push({ predictionId: prediction.id, status: prediction.status });
  }

  /**
   * A running prediction with no record, recorded as a webhook of its status would be (dated when
   * it started, so its own later webhooks still apply): the record is open, so it is followed.
   */
  private async recordProgress(listed: ReplicatePrediction, body: string, kind: CompletionKind): Promise<void> {
    const prediction = recordable(body, kind);
    if (isTerminalStatus(prediction.status)) return this.recordTerminal(prediction, body);
    const startedAt = Date.parse(prediction.startedAt ?? prediction.createdAt ?? listed.created_at);
    const outcome = await this.dependencies.store.record({
      webhookId: `reconciled_${prediction.id}_${prediction.status}`,
      timestampSeconds: Math.floor((Number.isNaN(startedAt) ? this.now : startedAt) / 1000),
      prediction,
      body,
      bodyBytes: Buffer.byteLength(body),
      receivedAt: new Date(this.now),
    });
    if (outcome !== 'accepted') return;
    this.telemetry.logger.info('running prediction without a record; recorded to be followed', {
      predictionId: prediction.id,
      status: prediction.status,
    });
    this.progressRecorded.push(prediction.id);
  }

  /**
   * Open records older than the lookback (the listing no longer sees them): each looked up by
   * id, recorded if it finished, followed again later (behind the others) if not, no longer
   * followed if Replicate does not have it.
   */
  private async followOpenRecords(dueBefore: Date): Promise<void> {
    const { recorded } = this.dependencies;
    const due = await recorded.dueOpenRecords(dueBefore, this.limits.followPerRun);
    this.followed = due.length;
    if (due.length === 0) return;
    const kinds = await recorded.kinds(
      due.map((entry) => entry.predictionId),
      this.deadline,
    );
    await Promise.all(
      due.map(({ predictionId }) =>
        this.fetches.run(async () => {
          const kind = kinds.get(predictionId) ?? CompletionKind.PREDICTION;
          try {
            if (Date.now() >= this.deadline) return;
            const fetched = await this.api!.getPrediction(predictionId, { deadline: this.itemDeadline() }, kind);
            if (!fetched) {
              this.failed(predictionId, 'not_found');
              this.telemetry.logger.warn('Replicate no longer has an open prediction; no longer followed', { predictionId });
              return await recorded.stopFollowing(predictionId, 'not_found', new Date(this.now));
            }
            const prediction = recordable(fetched.body, kind);
            if (isTerminalStatus(prediction.status)) await this.recordTerminal(prediction, fetched.body);
            else await recorded.followAgain(predictionId, dueBefore);
          } catch (error) {
            this.failed(predictionId, error instanceof ItemFailure ? error.reason : this.itemReason(error));
            // Behind the others, so one that keeps failing does not hold the head of the line.
            await recorded.followAgain(predictionId, dueBefore).catch(() => undefined);
          }
        }),
      ),
    );
  }

  /** Predictions earlier runs could not recover, each tried once more. */
  private async retryEarlierFailures(): Promise<void> {
    const due = await this.dependencies.retries.due(new Date(this.now), this.limits.retriesPerRun);
    this.retried = due.length;
    if (due.length === 0) return;
    const ids = due.map((entry) => entry.predictionId);
    const states = await this.dependencies.recorded.states(ids, this.deadline);
    const kinds = await this.dependencies.recorded.kinds(ids, this.deadline, recoveryRetryKey);
    await this.handleAll(
      due.map(({ predictionId, followAt }) => ({
        predictionId,
        kind: kinds.get(predictionId) ?? CompletionKind.PREDICTION,
        createdAt: Date.parse(followAt),
        recorded: states.get(predictionId) ?? 'absent',
      })),
      true,
    );
  }

  private listingReport(
    passes: { readonly recent: ListingPass; readonly backlog?: ListingPass },
    listing: ListingProgress,
  ): ListingReport {
    return {
      recent: passes.recent,
      ...(passes.backlog ? { backlog: passes.backlog } : {}),
      completeBefore: new Date(listing.completeBefore).toISOString(),
      lagSeconds: Math.max(0, Math.round((this.now - listing.completeBefore) / 1000)),
    };
  }

  private report(
    signingKey: ReconcileReport['signingKey'],
    listing: ListingReport,
    trainingListing: ListingReport,
    stuck: { redriven: string[]; gaveUp: string[] },
  ): ReconcileReport {
    const incomplete = (report: ListingReport) =>
      !report.recent.complete || (report.backlog !== undefined && !report.backlog.complete);
    return {
      signingKey,
      examined: this.examined,
      recovered: this.recovered,
      progressRecorded: this.progressRecorded,
      followed: this.followed,
      retried: this.retried,
      outOfScope: this.outOfScope,
      itemFailures: this.itemFailures,
      redriven: stuck.redriven,
      gaveUp: stuck.gaveUp,
      listing,
      trainingListing,
      stoppedEarly: this.unauthorized || incomplete(listing) || incomplete(trainingListing),
      ...(this.apiError ? { apiError: this.apiError } : {}),
    };
  }

  private publishRunMetrics(report: ReconcileReport, oldestWaitSeconds: number | undefined): void {
    const { metrics } = this.telemetry;
    metrics.addMetric(METRIC.reconcilerPredictionsExamined, MetricUnit.Count, report.examined);
    metrics.addMetric(METRIC.predictionsRecovered, MetricUnit.Count, report.recovered.length);
    metrics.addMetric(METRIC.archivalsRedriven, MetricUnit.Count, report.redriven.length);
    metrics.addMetric(METRIC.openRecordsFollowed, MetricUnit.Count, report.followed);
    metrics.addMetric(METRIC.predictionsOutOfScope, MetricUnit.Count, report.outOfScope);
    // The lag of the listing further behind: either kind left behind is a gap.
    metrics.addMetric(
      METRIC.reconcilerListingLag,
      MetricUnit.Seconds,
      Math.max(report.listing.lagSeconds, report.trainingListing.lagSeconds),
    );
    metrics.addMetric(METRIC.oldestPendingArchivalAge, MetricUnit.Seconds, oldestWaitSeconds ?? 0);
  }
}

/** A short reason for an API failure: `unauthorized`, or `status_<n>` (`status_none`: no answer). */
function apiReason(error: ReplicateApiError): string {
  return error instanceof ReplicateAuthError ? 'unauthorized' : `status_${error.status ?? 'none'}`;
}

/**
 * The prediction as the store records it; one it cannot record is this item's failure. Its kind
 * is where it was fetched or listed from, whatever its `urls` say (a proxy may rewrite them).
 */
function recordable(body: string, kind: CompletionKind): Prediction {
  const parsed = parseRecordablePrediction(body);
  if (!parsed.ok) throw new ItemFailure(`unrecordable_${parsed.reason}`);
  return { ...parsed.prediction, kind };
}
