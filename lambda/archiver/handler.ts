/**
 * Archiver: driven by the archive queue, which holds one message per finished prediction (the
 * forwarder puts them there from the table's stream). For each: copy every output file
 * into S3 before Replicate deletes it, write manifest.json (the terminal payload and where every
 * output went; prediction.json too, before the outputs, with `predictionDocument`), announce it
 * once on SNS (and on EventBridge, when a bus is wired), and mark the record archived and
 * announced in one write.
 *
 * The predictions of a batch are archived side by side and settled one by one: a slow or failing
 * prediction never holds up or fails another. A failure goes back to the queue alone, with
 * backoff; on the last try transient file failures are recorded and announced, and anything
 * worse is recorded on the item and left for the dead-letter queue, from which operators redrive.
 *
 * Not Powertools' batch utility: it would not let one record's lease and retry time differ from
 * another's. Not its idempotency utility: the `notifiedAt` guard and the lease are the item's own.
 */
import { randomUUID } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { ChangeMessageVisibilityBatchCommand, ChangeMessageVisibilityCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { MAX_VISIBILITY_TIMEOUT_SECONDS, parseArchiveRequest } from '../shared/archive-queue';
import {
  buildCompletionMessage,
  removedDataFailures,
  type ArchiveFailure,
  type ArchiveManifest,
  type ArchivedFile,
  type CompletionNotification,
} from '../shared/completion-message';
import { METRIC } from '../shared/metrics';
import { discoverOutputs } from '../shared/outputs';
import { CompletionKind, parsePrediction, type Prediction } from '../shared/prediction';
import { errorName, MetricUnit, type Telemetry } from '../telemetry';
import type { CompletionAnnouncer, Channel } from './announcer';
import { archiveOutputs } from './archive-outputs';
import { ConcurrencyLimit } from '../shared/concurrency-limit';
import type { ArchiverConfig } from './config';
import { manifestKind, type ArchiveDocuments } from './documents';
import type { ArchiveProgressStore, ArchivedRecord, ClaimedPrediction, StoredOutput } from './progress';
import { requeueDelaySeconds, retryTransient } from '../shared/retry';

/** What the archiver works with; dependencies.ts builds them from its configuration. */
export interface ArchiverDependencies {
  readonly config: ArchiverConfig;
  readonly telemetry: Telemetry;
  /** Uploads of outputs and documents (its own retries: a part of a multipart upload is retried alone). */
  readonly s3: S3Client;
  /** The archive queue: when a message comes back, and holding it while it is worked on. */
  readonly sqs: SQSClient;
  readonly progress: ArchiveProgressStore;
  readonly documents: ArchiveDocuments;
  readonly announcer: CompletionAnnouncer;
}

export type ArchiverHandler = (event: SQSEvent, context?: Context) => Promise<SQSBatchResponse>;

// Without a Lambda context, give a batch the same budget as the default timeout.
const DEFAULT_BUDGET_MS = 10 * 60 * 1000;
const SAFETY_MARGIN_MS = 20_000;
/** Seconds a message in work stays invisible beyond its lease, renewed with it: a crash hands it back within about this. */
const HOLD_MARGIN_SECONDS = 30;

/** Some files failed transiently and tries remain: the prediction goes back to the queue. */
class RetryLater extends Error {
  constructor(
    readonly failures: readonly ArchiveFailure[],
    /** Stored by this try: the retry lists them instead of fetching them again. */
    readonly stored: ReadonlyMap<string, StoredOutput>,
  ) {
    super(`${failures.length} output(s) failed transiently; retrying through the queue`);
    this.name = 'RetryLater';
  }
}

/** One I/O step of one prediction, retried through an outage until the prediction's deadline. */
type Io = <T>(operation: () => Promise<T>) => Promise<T>;

type Settled = 'done' | 'retry';

export function createArchiverHandler({
  config,
  telemetry,
  s3,
  sqs,
  progress,
  documents,
  announcer,
}: ArchiverDependencies): ArchiverHandler {
  const { logger, metrics, countReason } = telemetry;

  const handler: ArchiverHandler = async (event, context) => {
    if (context) logger.addContext(context);
    const budgetMs = context?.getRemainingTimeInMillis() ?? DEFAULT_BUDGET_MS;
    const deadline = Date.now() + budgetMs - SAFETY_MARGIN_MS;
    // Never longer than the invocation can live, so a crash frees the prediction by the time its
    // message is visible again.
    const lease = {
      ms: Math.min(config.leaseMs, budgetMs),
      holdSeconds: Math.min(Math.ceil(config.leaseMs / 1000) + HOLD_MARGIN_SECONDS, Math.ceil(budgetMs / 1000) + 2),
    };
    metrics.captureColdStartMetric();
    metrics.addMetric(METRIC.archiverRecords, MetricUnit.Count, event.Records.length);
    const files = new ConcurrencyLimit(config.fileConcurrency);
    // The queue keeps a message in work invisible for the function's timeout and more; held for
    // about a minute at a time instead, a crashed invocation's messages come back within it.
    await holdMessages(event.Records, lease.holdSeconds);
    try {
      const settled = await Promise.all(event.Records.map((message) => settle(message, deadline, lease, files)));
      return {
        batchItemFailures: event.Records.filter((_, index) => settled[index] === 'retry').map((message) => ({
          itemIdentifier: message.messageId,
        })),
      };
    } finally {
      // Powertools warns on an empty flush (a run that failed before counting anything).
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    }
  };

  async function settle(
    message: SQSRecord,
    deadline: number,
    lease: { readonly ms: number; readonly holdSeconds: number },
    files: ConcurrencyLimit,
  ): Promise<Settled> {
    const receiveCount = Math.max(1, Number(message.attributes.ApproximateReceiveCount) || 1);
    const isFinalAttempt = receiveCount >= config.maxReceiveCount;
    const predictionId = parseArchiveRequest(message.body);
    if (!predictionId) {
      // Not ours to interpret: the dead-letter queue keeps it for a person to look at.
      logger.error('queue message is not an archive request', { messageId: message.messageId });
      telemetry.countFailure(METRIC.archivalsFailed, 'invalid_message');
      await requeue(message, receiveCount);
      return 'retry';
    }
    const retryUntil = Math.min(deadline, Date.now() + config.outageWindowMs);
    const io: Io = (operation) =>
      retryTransient(operation, {
        deadline: retryUntil,
        baseDelayMs: config.retryBaseDelayMs,
        onRetry: (error, delayMs) =>
          logger.warn('dependency failed; retrying', { predictionId, error: errorName(error), delayMs }),
      });

    let claimed: ClaimedPrediction | undefined;
    // One per message, not per invocation: two copies of a message in one batch must not both hold it.
    const holder = randomUUID();
    let heartbeat: (() => void) | undefined;
    try {
      const claim = await io(() => progress.claim(predictionId, new Date(), lease.ms, holder));
      if (claim.kind === 'held_elsewhere') {
        // Usually a duplicate delivery, but possibly this prediction's own message back early
        // (a lease its holder could not release): try again once the lease has run out, never drop.
        const delaySeconds = Math.ceil((claim.leaseUntil - Date.now()) / 1000) + 1;
        logger.info('prediction held by another invocation; trying again after its lease', { predictionId, delaySeconds });
        await setVisibility(message, Math.min(MAX_VISIBILITY_TIMEOUT_SECONDS, Math.max(1, delaySeconds)));
        return 'retry';
      }
      if (claim.kind !== 'claimed') {
        logger.debug('nothing to do for this message', { predictionId, reason: claim.kind });
        return 'done';
      }
      heartbeat = startHeartbeat(message, predictionId, holder, lease);
      claimed = claim.prediction;
      claimed = await io(() => progress.withPayload(claimed!));
      await archiveAndAnnounce(claimed, isFinalAttempt, io, deadline, files);
      return 'done';
    } catch (error) {
      const reason = error instanceof RetryLater ? 'files_failed_transiently' : ((error as Error)?.name ?? 'error');
      if (isFinalAttempt) {
        logger.error('archival failed on its last try; left for the dead-letter queue', {
          predictionId,
          attempt: receiveCount,
          error: error as Error,
        });
        telemetry.countFailure(METRIC.archivalsFailed, reason);
        await progress
          .markFailed(predictionId, reason, new Date())
          .catch((markError: unknown) =>
            logger.error('could not record the failure', { predictionId, error: markError as Error }),
          );
      } else {
        logger.warn('archival will be retried', {
          predictionId,
          attempt: receiveCount,
          ...(error instanceof RetryLater ? { failures: error.failures } : { error: error as Error }),
        });
        // Without a new list, what an earlier try remembered stays on the record.
        const stored = error instanceof RetryLater ? error.stored : undefined;
        if (claimed) await progress.release(predictionId, claimed.holder, stored).catch(() => undefined);
      }
      heartbeat?.();
      heartbeat = undefined;
      await requeue(message, receiveCount);
      return 'retry';
    } finally {
      heartbeat?.();
    }
  }

  /**
   * Renews the lease and the message's invisibility while the prediction is worked on; stops by
   * itself when the lease is no longer this holder's. Returns the function that stops it.
   */
  function startHeartbeat(
    message: SQSRecord,
    predictionId: string,
    holder: string,
    lease: { readonly ms: number; readonly holdSeconds: number },
  ): () => void {
    let beating = false;
    let stopped = false;
    const timer = setInterval(
      () => {
        if (beating || stopped) return;
        beating = true;
        void (async () => {
          const held = await progress.renew(predictionId, holder, new Date(), lease.ms).catch((error: unknown) => {
            // A failed renewal is tried again at the next beat; the lease still has two beats left.
            logger.warn('could not renew the lease', { predictionId, error: errorName(error) });
            return true;
          });
          if (!held) return clearInterval(timer);
          // Not after the message was settled: its retry delay, or its deletion, has the last word.
          if (!stopped) await setVisibility(message, lease.holdSeconds);
        })().finally(() => (beating = false));
      },
      Math.max(100, Math.floor(lease.ms / 3)),
    );
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }

  /** One call for the whole batch: each message held for about a minute; the heartbeat renews those in work. */
  async function holdMessages(messages: readonly SQSRecord[], seconds: number): Promise<void> {
    if (messages.length === 0) return;
    try {
      await sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: config.queueUrl,
          Entries: messages.map((message, index) => ({
            Id: String(index),
            ReceiptHandle: message.receiptHandle,
            VisibilityTimeout: seconds,
          })),
        }),
      );
    } catch (error) {
      // The queue's own visibility timeout holds them instead: a crash is then seen later, not lost.
      logger.warn('could not hold the batch for a minute', { error: errorName(error) });
    }
  }

  /** Sets when the queue hands a failed message out again (SQS alone would wait the full visibility timeout). */
  async function requeue(message: SQSRecord, receiveCount: number): Promise<void> {
    await setVisibility(message, requeueDelaySeconds(receiveCount, config.retryBaseDelaySeconds, MAX_VISIBILITY_TIMEOUT_SECONDS));
  }

  async function setVisibility(message: SQSRecord, seconds: number): Promise<void> {
    try {
      await sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: config.queueUrl,
          ReceiptHandle: message.receiptHandle,
          VisibilityTimeout: seconds,
        }),
      );
    } catch (error) {
      // The message comes back after the queue's visibility timeout instead: later, not lost.
      logger.warn('could not set the retry delay', { messageId: message.messageId, error: errorName(error) });
    }
  }

  async function archiveAndAnnounce(
    claimed: ClaimedPrediction,
    isFinalAttempt: boolean,
    io: Io,
    deadline: number,
    files: ConcurrencyLimit,
  ): Promise<void> {
    const { predictionId } = claimed;
    const payloadText = await io(() => documents.loadPayload(claimed));
    const prediction = parsed(payloadText, claimed);
    // The payload says what it is; the record said the same when it was written (or nothing, before trainings).
    const kind = prediction.kind ?? claimed.kind;

    let manifest: ArchiveManifest;
    // An archival this try made, not on the record yet: it goes there with the announcement, in one write.
    let unrecorded: ArchivedRecord | undefined;
    if (claimed.archiveStatus === 'archived' || claimed.archiveStatus === 'archived_with_failures') {
      manifest = await io(() => documents.readManifest(predictionId, kind));
    } else {
      // A retry after a crash between writing the manifest and marking the record: the archival is
      // complete (a manifest is only written then), and the outputs may have expired since.
      const written = claimed.attempt > 1 ? await io(() => documents.readManifestIfPresent(predictionId, kind)) : undefined;
      if (written) {
        manifest = await markArchived(written, io);
      } else {
        manifest = await archive(claimed, { ...prediction, kind }, payloadText, isFinalAttempt, io, deadline, files);
        unrecorded = archivedRecord(manifest);
      }
    }

    const completion = buildCompletionMessage({ ...prediction, kind }, manifest, documents.manifestLocation(predictionId, kind));
    try {
      await announce(claimed, completion, io);
    } catch (error) {
      // Not announced: the archival goes on the record before the retry (or the dead-letter queue),
      // as it would have gone before announcing. If even that fails, the next try finds the manifest.
      if (unrecorded) {
        const archived = unrecorded;
        await io(() => progress.markArchived(predictionId, archived, new Date())).catch((markError: unknown) =>
          logger.warn('could not record the archival', { predictionId, error: errorName(markError) }),
        );
      }
      throw error;
    }
    await io(() => progress.markNotified(predictionId, new Date(), unrecorded));
    logger.info('prediction archived and announced', {
      predictionId,
      kind,
      status: prediction.status,
      files: manifest.files.length,
      failures: manifest.failures.length,
      attempt: claimed.attempt,
    });
  }

  /**
   * Announces on every channel not yet announced on, side by side. While another channel is still
   * out, one that succeeds is recorded at once, so that a crash or a lost reply before the other
   * finishes re-announces only the channel in doubt on the retry; the last one to succeed is
   * recorded by `markNotified`, which follows (no extra write, and none with the topic alone).
   * When a channel fails after its retries, the ones that succeeded are on the record before the
   * prediction goes back to the queue.
   */
  async function announce(claimed: ClaimedPrediction, completion: CompletionNotification, io: Io): Promise<void> {
    const { predictionId } = claimed;
    const pending = announcer.channels.filter((channel) => !claimed.announcedTo.includes(channel));
    const announced: Channel[] = [];
    const recorded: Channel[] = [];
    const results = await Promise.allSettled(
      pending.map(async (channel) => {
        await io(() => announceOn(channel, completion));
        announced.push(channel);
        if (announced.length === pending.length) return;
        await io(() => progress.markAnnounced(predictionId, [channel]));
        recorded.push(channel);
      }),
    );
    const failure = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (!failure) return;
    // A channel failed, or recording one did: what has announced is on the record before the retry.
    const unrecorded = announced.filter((channel) => !recorded.includes(channel));
    if (unrecorded.length > 0) await io(() => progress.markAnnounced(predictionId, unrecorded));
    throw failure.reason;
  }

  async function announceOn(channel: Channel, completion: CompletionNotification): Promise<void> {
    try {
      await announcer.announce(channel, completion);
    } catch (error) {
      if (channel === 'eventBus') telemetry.countFailure(METRIC.completionEventPutFailures, (error as Error)?.name ?? 'error');
      throw error;
    }
    metrics.addMetric(channel === 'topic' ? METRIC.notificationsPublished : METRIC.completionEventsPut, MetricUnit.Count, 1);
  }

  async function archive(
    claimed: ClaimedPrediction,
    prediction: Prediction,
    payloadText: string,
    isFinalAttempt: boolean,
    io: Io,
    deadline: number,
    fileLimit: ConcurrencyLimit,
  ): Promise<ArchiveManifest> {
    const { predictionId } = claimed;
    const kind = prediction.kind ?? claimed.kind;
    // First, so that the payload is in the archive even if no try ever gets to the manifest.
    const predictionLocation = config.predictionDocument ? await io(() => documents.writePrediction(claimed, kind)) : undefined;

    const results = await archiveOutputs(
      s3,
      predictionId,
      discoverOutputs(prediction.output),
      config,
      deadline,
      fileLimit,
      claimed.archivedSoFar,
      kind,
    );
    const files: ArchivedFile[] = [];
    // Outputs still listed beside `data_removed` were attempted all the same, above.
    const failures: ArchiveFailure[] = removedDataFailures(prediction);
    for (const result of results) {
      if (result.ok) files.push(result.file);
      else failures.push(result.failure);
    }
    const transientFailures = failures.filter((failure) => failure.transient);
    if (transientFailures.length > 0 && !isFinalAttempt) {
      const stored = new Map(files.map((file): [string, StoredOutput] => [file.key, file]));
      throw new RetryLater(transientFailures, stored);
    }

    const manifest: ArchiveManifest = {
      predictionId,
      // Said only of trainings: a prediction's manifest stays as it was.
      ...(kind === CompletionKind.TRAINING ? { kind } : {}),
      status: prediction.status,
      archivedAt: new Date().toISOString(),
      ...(predictionLocation ? { prediction: predictionLocation } : {}),
      files,
      failures,
    };
    // Last, and the payload inside it: a retry finds a complete archival, never half of one.
    await io(() => documents.writeManifest(manifest, payloadText));
    countArchival(files, failures);
    return manifest;
  }

  function archivedRecord(manifest: ArchiveManifest): ArchivedRecord {
    return {
      status: manifest.failures.length > 0 ? 'archived_with_failures' : 'archived',
      manifestKey: documents.manifestLocation(manifest.predictionId, manifestKind(manifest)).key,
      counts: { files: manifest.files.length, failures: manifest.failures.length },
    };
  }

  async function markArchived(manifest: ArchiveManifest, io: Io): Promise<ArchiveManifest> {
    await io(() => progress.markArchived(manifest.predictionId, archivedRecord(manifest), new Date()));
    return manifest;
  }

  function countArchival(files: readonly ArchivedFile[], failures: readonly ArchiveFailure[]): void {
    metrics.addMetric(METRIC.predictionsArchived, MetricUnit.Count, 1);
    metrics.addMetric(METRIC.filesArchived, MetricUnit.Count, files.length);
    metrics.addMetric(
      METRIC.bytesArchived,
      MetricUnit.Bytes,
      files.reduce((total, file) => total + file.bytes, 0),
    );
    // A summary entry stands for `count` outputs past the discovery limits.
    metrics.addMetric(
      METRIC.archiveFailures,
      MetricUnit.Count,
      failures.reduce((total, failure) => total + (failure.count ?? 1), 0),
    );
    for (const failure of failures) countReason(METRIC.archiveFailures, failure.reason);
  }

  /** The verifier only records valid predictions; should the payload not parse, archive what we know. */
  function parsed(payload: string, claimed: ClaimedPrediction): Prediction {
    const result = parsePrediction(payload);
    if (result.ok) return result.prediction;
    logger.warn('terminal payload did not parse; archiving it without outputs', {
      predictionId: claimed.predictionId,
      reason: result.reason,
    });
    return {
      id: claimed.predictionId,
      kind: claimed.kind,
      status: claimed.terminalStatus as Prediction['status'],
      output: null,
      error: null,
    };
  }

  return handler;
}
