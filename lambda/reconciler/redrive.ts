/**
 * Finished predictions not announced long after (their queue message lost, their archival
 * crashed on its last try) go to the archive queue again, in turns from where the last run
 * stopped; past the attempt cap, they are marked failed instead and left for a person.
 */
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { archiveRequestBody } from '../shared/archive-queue';
import { METRIC } from '../shared/metrics';
import type { Telemetry } from '../telemetry';
import type { PendingArchivals, StuckCursor } from './archivals';
import type { ReconcilerConfig } from './config';

export interface RedriveOutcome {
  readonly redriven: string[];
  readonly gaveUp: string[];
  /** Where the next run carries on; undefined: from the oldest again. */
  readonly cursor?: StuckCursor;
}

export async function redriveStuck(
  dependencies: {
    readonly archivals: PendingArchivals;
    readonly sqs: SQSClient;
    readonly config: Pick<ReconcilerConfig, 'stuckAfterSeconds' | 'maxArchiveAttempts' | 'archiveQueueUrl'>;
    readonly telemetry: Telemetry;
  },
  run: { readonly cursor?: StuckCursor; readonly now: Date; readonly limit: number; readonly deadline: number },
): Promise<RedriveOutcome> {
  const { archivals, sqs, config, telemetry } = dependencies;
  const { logger } = telemetry;
  const page = await archivals.stuck(new Date(run.now.getTime() - config.stuckAfterSeconds * 1000), run.limit, run.cursor);
  const tries = await archivals.tries(page.predictionIds, run.deadline);
  const toQueue: string[] = [];
  const gaveUp: string[] = [];
  for (const predictionId of page.predictionIds) {
    const attempts = tries.get(predictionId)?.attempts ?? 0;
    if (attempts < config.maxArchiveAttempts) {
      toQueue.push(predictionId);
    } else if (await archivals.giveUp(predictionId, 'attempts_exhausted', config.maxArchiveAttempts, run.now)) {
      gaveUp.push(predictionId);
      telemetry.countFailure(METRIC.archivalsFailed, 'attempts_exhausted');
      logger.error('archival given up after the attempt cap; left for a person', { predictionId, attempts });
    }
  }
  const redriven: string[] = [];
  for (let start = 0; start < toQueue.length; start += 10) {
    const ids = toQueue.slice(start, start + 10);
    const result = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: config.archiveQueueUrl,
        Entries: ids.map((predictionId, index) => ({ Id: String(index), MessageBody: archiveRequestBody(predictionId) })),
      }),
    );
    const failed = new Set((result.Failed ?? []).map((entry) => Number(entry.Id)));
    ids.forEach((predictionId, index) => (failed.has(index) ? undefined : redriven.push(predictionId)));
    // Whatever failed is still pending: a later run finds it again.
    if (failed.size > 0) logger.warn('some stuck predictions could not be queued', { failed: failed.size });
  }
  if (redriven.length > 0) logger.warn('stuck archivals sent to the archive queue again', { predictionIds: redriven });
  return { redriven, gaveUp, ...(page.cursor ? { cursor: page.cursor } : {}) };
}
