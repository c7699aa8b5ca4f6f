/**
 * Forwarder: driven by the state table's stream, filtered by its event source to the records in
 * which a prediction became terminal. Each such record becomes one message on the archive queue,
 * `{"predictionId": "<id>"}`, so that each prediction is archived, retried and dead-lettered on
 * its own, not with its stream shard.
 *
 * Records are checkpointed in stream order: the answer names the first record not queued, and
 * the event source retries the batch from there (bisecting a batch that fails as a whole), then,
 * past its retries, puts the batch's description in the failure queue. A record is never
 * dropped: an entry SQS rejects, a call that fails and a record whose id cannot be read all stop
 * the batch at that record. Records after it may be queued twice; the archiver is idempotent and
 * announces a prediction once.
 *
 * Lambda's reads of a DynamoDB stream are free, where any other reader's are billed: that is why a
 * function, not an EventBridge Pipe, carries this step.
 */
import type { Context, DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { METRIC } from '../shared/metrics';
import { errorName, type Telemetry } from '../telemetry';
import { groupsOf, planForwarding, SEND_MESSAGE_BATCH_LIMIT, type PlannedRequest } from './archive-requests';
import type { ArchiveRequestQueue } from './archive-request-queue';

/** What the forwarder works with; index.ts builds them from its configuration. */
export interface ForwarderDependencies {
  readonly telemetry: Telemetry;
  readonly queue: ArchiveRequestQueue;
}

export type ForwarderHandler = (event: DynamoDBStreamEvent, context?: Context) => Promise<DynamoDBBatchResponse>;

export function createForwarderHandler({ telemetry, queue }: ForwarderDependencies): ForwarderHandler {
  const { logger, metrics, countFailure } = telemetry;

  /** Sends one group; the position in the batch of its first record not queued, if any. */
  async function sendGroup(group: readonly PlannedRequest[]): Promise<number | undefined> {
    let rejections;
    try {
      rejections = await queue.send(group.map((request) => request.predictionId));
    } catch (error) {
      logger.warn('could not queue archive requests; the event source retries from the first', {
        predictionIds: group.map((request) => request.predictionId),
        error: error as Error,
      });
      countFailure(METRIC.archiveRequestsFailed, errorName(error));
      return group[0].index;
    }
    if (rejections.length === 0) return undefined;
    for (const rejection of rejections) countFailure(METRIC.archiveRequestsFailed, rejection.code);
    logger.warn('SQS rejected archive requests; the event source retries from the first', {
      rejected: rejections.map((rejection) => ({ ...rejection, predictionId: group[rejection.position].predictionId })),
    });
    return group[Math.min(...rejections.map((rejection) => rejection.position))].index;
  }

  return async (event, context) => {
    if (context) logger.addContext(context);
    const records = event.Records;
    const plan = planForwarding(records);
    if (plan.skipped > 0) logger.warn('stream records that made no prediction terminal were skipped', { count: plan.skipped });
    let firstNotQueued = plan.unreadable?.index;
    if (plan.unreadable) {
      const record = records[plan.unreadable.index];
      logger.error(
        'a prediction became terminal but its record cannot be read; the event source retries it, then records it in the failure queue',
        {
          reason: plan.unreadable.reason,
          eventID: record.eventID,
          sequenceNumber: record.dynamodb?.SequenceNumber,
          keys: record.dynamodb?.Keys,
        },
      );
      countFailure(METRIC.archiveRequestsFailed, plan.unreadable.reason);
    }
    try {
      for (const group of groupsOf(plan.requests, SEND_MESSAGE_BATCH_LIMIT)) {
        const failedAt = await sendGroup(group);
        if (failedAt !== undefined) {
          // Nothing after it is sent: it would be sent again on the retry anyway.
          firstNotQueued = failedAt;
          break;
        }
      }
    } finally {
      // Powertools warns on an empty flush.
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    }
    if (firstNotQueued === undefined) {
      logger.info('archive requests queued', { predictionIds: plan.requests.map((request) => request.predictionId) });
      return { batchItemFailures: [] };
    }
    // Lambda checkpoints the records before this one and retries from it.
    return { batchItemFailures: [{ itemIdentifier: records[firstNotQueued].dynamodb?.SequenceNumber ?? '' }] };
  };
}
