/**
 * CloudWatch metric names (embedded metric format), shared by the handlers that emit them and
 * the construct's `metric*` methods, alarms and dashboard that read them.
 */

/** Default namespace; the construct sets POWERTOOLS_METRICS_NAMESPACE. */
export const METRICS_NAMESPACE = 'ReplicateWebhooks';
/** Powertools adds a `service` dimension to every metric; this is its value. */
export const SERVICE_NAME = 'replicate-webhooks';

export const METRIC = {
  /** Every request the verifier answered. */
  received: 'WebhooksReceived',
  accepted: 'WebhooksAccepted',
  duplicate: 'WebhooksDuplicate',
  stale: 'WebhooksStale',
  afterTerminal: 'WebhooksAfterTerminal',
  /** 4xx answers; also emitted with a `reason` dimension. */
  rejected: 'WebhooksRejected',
  /** 5xx answers (our failures); also emitted with a `reason` dimension. */
  failed: 'WebhooksFailed',
  /** Size of each verified body. */
  payloadBytes: 'PayloadBytes',
  /** A reread of the signing secret failed and the cached keys stayed in use; also by `reason`. */
  signingKeyRefreshFailed: 'SigningKeyRefreshFailed',
  /**
   * Finished predictions the forwarder could not queue for archival (SQS rejected the entry, the
   * call failed, or the stream record cannot be read); the event source tries them again, then
   * records the batch in the failure queue. Also by `reason` (the SQS error code).
   */
  archiveRequestsFailed: 'ArchiveRequestsFailed',
  /** Queue messages the archiver was handed (one per finished prediction, redeliveries included). */
  archiverRecords: 'ArchiverRecords',
  /** Predictions whose last try failed: recorded on the item, left in the dead-letter queue; by `reason`. */
  archivalsFailed: 'ArchivalsFailed',
  predictionsArchived: 'PredictionsArchived',
  filesArchived: 'FilesArchived',
  bytesArchived: 'BytesArchived',
  /** Output files not archived; also emitted with a `reason` dimension. */
  archiveFailures: 'ArchiveFailures',
  notificationsPublished: 'NotificationsPublished',
  /** Completion events EventBridge took (one per finished prediction, with `eventBus`). */
  completionEventsPut: 'CompletionEventsPut',
  /** PutEvents calls or entries that failed, retried ones included; also by `reason` (the error code). */
  completionEventPutFailures: 'CompletionEventPutFailures',
  /** Predictions the reconciler listed from Replicate's API and looked up. */
  reconcilerPredictionsExamined: 'ReconcilerPredictionsExamined',
  /** Finished predictions whose terminal webhook never arrived, recorded by the reconciler; also by `reason` (the status). */
  predictionsRecovered: 'PredictionsRecovered',
  /** Finished predictions not announced long after, sent to the archive queue again. */
  archivalsRedriven: 'ArchivalsRedriven',
  /** Calls to Replicate's API that failed after their retries; also by `reason`. */
  replicateApiErrors: 'ReplicateApiErrors',
  /** The signing secret was written from Replicate's key; also by `reason` (bootstrap, rotation, grace_over). */
  signingKeyUpdated: 'SigningKeyUpdated',
  /**
   * Seconds since the point before which the reconciler has listed every prediction (its watermark):
   * a few minutes when healthy; it grows while the listing cannot finish or the reconciler is away.
   */
  reconcilerListingLag: 'ReconcilerListingLag',
  /** Seconds the oldest finished prediction still waiting to be announced has waited (the archive-pending index). */
  oldestPendingArchivalAge: 'OldestPendingArchivalAge',
  /**
   * Listed items, fetches and recordings the reconciler could not handle, each on its own (the
   * others go on; the prediction is tried again in later runs); also by `reason`.
   */
  reconcileItemFailures: 'ReconcileItemFailures',
  /** Predictions of other applications (another webhook URL), counted once each and never fetched again. */
  predictionsOutOfScope: 'PredictionsOutOfScope',
  /** Open records older than the lookback, checked by id at Replicate (long jobs). */
  openRecordsFollowed: 'OpenRecordsFollowed',
} as const;

export const REASON_DIMENSION = 'reason';

/** A metric series: a name, alone or with one `reason`. */
export interface MetricSeries {
  readonly name: string;
  readonly reason?: string;
  /** Published only where this part exists. */
  readonly with?: 'eventBus' | 'reconciler';
}

/**
 * The series the construct's alarms read (lib/monitoring.ts): published whatever
 * `detailedMetrics` says, so every alarm keeps its data. Each custom series costs $0.30 a month;
 * the rest are published only with `detailedMetrics` (the dashboard's graphs, the `metric*`
 * methods). Alarms on what AWS publishes free (Lambda errors and throttles, API 4xx and 5xx, the
 * queues' depth and age) need none of these.
 */
export const ALARMED_SERIES: readonly MetricSeries[] = [
  { name: METRIC.rejected, reason: 'bad_signature' },
  { name: METRIC.archivalsFailed },
  { name: METRIC.archiveFailures },
  { name: METRIC.completionEventPutFailures, with: 'eventBus' },
  { name: METRIC.predictionsRecovered, with: 'reconciler' },
  { name: METRIC.archivalsRedriven, with: 'reconciler' },
  { name: METRIC.reconcilerListingLag, with: 'reconciler' },
  { name: METRIC.oldestPendingArchivalAge, with: 'reconciler' },
  { name: METRIC.replicateApiErrors, with: 'reconciler' },
  { name: METRIC.reconcileItemFailures, reason: 'gave_up', with: 'reconciler' },
];

/** Whether a handler publishes one series when it publishes only what the alarms read. */
export function isAlarmedSeries(name: string, reason?: string): boolean {
  return ALARMED_SERIES.some((series) => series.name === name && series.reason === reason);
}

/**
 * The environment variable that turns every metric on (`true`, what a handler does without it)
 * or only `ALARMED_SERIES` (`false`, the construct's default).
 */
export const DETAILED_METRICS_ENV = 'DETAILED_METRICS';
