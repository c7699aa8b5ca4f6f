/**
 * `replicate-webhooks redrive`: archive requests that failed every try go back to the archive
 * queue, from the dead-letter queue (`--dlq`) and from the records marked failed (`--failed`).
 * A dry run unless `--apply`: it counts what would move, and moves nothing.
 */
import { QueryCommand } from '@aws-sdk/client-dynamodb';
import {
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  ChangeMessageVisibilityCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArchiveRequest, type ArchiveRequest } from '../../lambda/shared/archive-queue';
import { ARCHIVE_PENDING_INDEX, ATTR } from '../../lambda/shared/state';
import type { OperateClients } from './clients';
import type { OperateTarget } from './target';

// A message being moved is hidden this long: a move that dies half-way leaves it to reappear.
const MOVE_VISIBILITY_SECONDS = 60;
// Dead letters are few when things are well; a run moves at most this many, and says so past it.
const MAX_MESSAGES_PER_RUN = 10_000;
// How long a run follows SQS's message move task before it leaves it running and says so.
const MOVE_TASK_FOLLOW_MS = 5 * 60_000;
const MOVE_TASK_POLL_MS = 1_000;

export interface RedriveOptions {
  readonly deadLetters: boolean;
  readonly failedRecords: boolean;
  readonly since?: Date;
  readonly apply: boolean;
}

export interface RedriveReport {
  readonly target: string;
  readonly applied: boolean;
  readonly deadLetters?: {
    readonly queueUrl: string;
    /** SQS's own message move task (a deployed stack), or received, sent and deleted one by one. */
    readonly method: 'message-move-task' | 'one-by-one';
    /** The move task's handle, when it was one. */
    readonly taskHandle?: string;
    /** Set when the move task was still running as the command ended. */
    readonly stillMoving?: boolean;
    readonly moved: number;
    readonly skipped: number;
    readonly predictionIds: string[];
  };
  readonly failedRecords?: { readonly requeued: number; readonly predictionIds: string[] };
}

export async function redrive(
  target: OperateTarget,
  clients: OperateClients,
  options: RedriveOptions,
  progress: (line: string) => void,
): Promise<RedriveReport> {
  return {
    target: target.description,
    applied: options.apply,
    ...(options.deadLetters ? { deadLetters: await redriveDeadLetters(target, clients, options, progress) } : {}),
    ...(options.failedRecords ? { failedRecords: await requeueFailedRecords(target, clients, options, progress) } : {}),
  };
}

/**
 * On a deployed stack, without --since, SQS's own message move task when every message is an
 * archive request (it moves them all, and cannot filter by time); otherwise, or where SQS has no
 * such task (UnsupportedOperation, or an emulator that does not know the action), one by one.
 */
async function redriveDeadLetters(
  target: OperateTarget,
  clients: OperateClients,
  options: RedriveOptions,
  progress: (line: string) => void,
): Promise<NonNullable<RedriveReport['deadLetters']>> {
  if (!options.apply || !target.deployed || options.since) return moveOneByOne(target, clients, options, progress);
  const looked = await moveOneByOne(target, clients, { ...options, apply: false }, () => undefined);
  if (looked.skipped > 0 || looked.moved === 0) return moveOneByOne(target, clients, options, progress);
  try {
    return await moveWithTask(target, clients, looked, progress);
  } catch (error) {
    const { name, message } = error as { name?: string; message?: string };
    if (name !== 'UnsupportedOperation' && name !== 'InvalidAction') throw error;
    progress(`SQS's message move task is not available here (${name}: ${message}): moving them one by one`);
    return moveOneByOne(target, clients, options, progress);
  }
}

/** StartMessageMoveTask from the dead-letter queue to the archive queue, followed until it ends (or a while). */
async function moveWithTask(
  target: OperateTarget,
  clients: OperateClients,
  looked: NonNullable<RedriveReport['deadLetters']>,
  progress: (line: string) => void,
): Promise<NonNullable<RedriveReport['deadLetters']>> {
  const arnOf = async (queueUrl: string) => {
    const { Attributes } = await clients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
    );
    if (!Attributes?.QueueArn) throw new Error(`SQS gave no QueueArn for ${queueUrl}`);
    return Attributes.QueueArn;
  };
  const sourceArn = await arnOf(target.archiveDeadLetterQueueUrl);
  const destinationArn = await arnOf(target.archiveQueueUrl);
  const { TaskHandle } = await clients.sqs.send(
    new StartMessageMoveTaskCommand({ SourceArn: sourceArn, DestinationArn: destinationArn }),
  );
  progress(`started SQS's message move task (dead-letter queue → archive queue) for about ${looked.moved} message(s)`);
  let moved = 0;
  for (const deadline = Date.now() + MOVE_TASK_FOLLOW_MS; ;) {
    const { Results = [] } = await clients.sqs.send(new ListMessageMoveTasksCommand({ SourceArn: sourceArn, MaxResults: 10 }));
    const task = Results.find((result) => result.TaskHandle === TaskHandle) ?? Results[0];
    moved = task?.ApproximateNumberOfMessagesMoved ?? moved;
    if (task && task.Status !== 'RUNNING') {
      if (task.Status !== 'COMPLETED')
        throw new Error(`SQS's message move task ended ${task.Status}${task.FailureReason ? `: ${task.FailureReason}` : ''}`);
      for (const predictionId of looked.predictionIds) progress(`moved ${predictionId} (dead-letter queue → archive queue)`);
      return { ...looked, method: 'message-move-task', taskHandle: TaskHandle, moved };
    }
    if (Date.now() > deadline) {
      progress(
        `the move task is still running (${moved} moved so far): aws sqs list-message-move-tasks --source-arn ${sourceArn}`,
      );
      return { ...looked, method: 'message-move-task', taskHandle: TaskHandle, stillMoving: true, moved };
    }
    await sleep(MOVE_TASK_POLL_MS);
  }
}

/**
 * Received, sent to the archive queue, then deleted: a crash in between sends a request twice at
 * worst, which the archiver's claim makes harmless. This works on every SQS, local mode's
 * included, can filter by time, and leaves what is not an archive request.
 */
async function moveOneByOne(
  target: OperateTarget,
  clients: OperateClients,
  options: RedriveOptions,
  progress: (line: string) => void,
): Promise<NonNullable<RedriveReport['deadLetters']>> {
  const queueUrl = target.archiveDeadLetterQueueUrl;
  const seen = new Set<string>();
  const predictionIds: string[] = [];
  let skipped = 0;
  while (seen.size < MAX_MESSAGES_PER_RUN) {
    const { Messages = [] } = await clients.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        // A dry run only looks: the messages stay visible to everyone else.
        VisibilityTimeout: options.apply ? MOVE_VISIBILITY_SECONDS : 0,
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: ['SentTimestamp'],
      }),
    );
    const fresh = Messages.filter((message) => message.MessageId && !seen.has(message.MessageId));
    if (fresh.length === 0) break;
    for (const message of fresh) {
      seen.add(message.MessageId!);
      const sentAt = Number(message.Attributes?.SentTimestamp);
      const predictionId = parseArchiveRequest(message.Body ?? '');
      if ((options.since && Number.isFinite(sentAt) && sentAt < options.since.getTime()) || !predictionId) {
        // Older than asked, or not an archive request at all: left as it was, for a person.
        skipped++;
        if (options.apply)
          await clients.sqs.send(
            new ChangeMessageVisibilityCommand({
              QueueUrl: queueUrl,
              ReceiptHandle: message.ReceiptHandle,
              VisibilityTimeout: 0,
            }),
          );
        continue;
      }
      if (options.apply) {
        await clients.sqs.send(new SendMessageCommand({ QueueUrl: target.archiveQueueUrl, MessageBody: message.Body }));
        await clients.sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }));
      }
      predictionIds.push(predictionId);
      progress(`${options.apply ? 'moved' : 'would move'} ${predictionId} (dead-letter queue → archive queue)`);
    }
  }
  return { queueUrl, method: 'one-by-one', moved: predictionIds.length, skipped, predictionIds };
}

/** The records the archiver gave up on, from the archive-pending index's `failed` partition (never a scan). */
async function requeueFailedRecords(
  target: OperateTarget,
  clients: OperateClients,
  options: RedriveOptions,
  progress: (line: string) => void,
): Promise<NonNullable<RedriveReport['failedRecords']>> {
  const predictionIds: string[] = [];
  let exclusiveStartKey: Record<string, import('@aws-sdk/client-dynamodb').AttributeValue> | undefined;
  do {
    const page = await clients.dynamodb.send(
      new QueryCommand({
        TableName: target.tableName,
        IndexName: ARCHIVE_PENDING_INDEX.indexName,
        KeyConditionExpression: options.since ? '#pending = :failed AND #terminalAt >= :since' : '#pending = :failed',
        ExpressionAttributeNames: {
          '#pending': ATTR.archivePending,
          ...(options.since ? { '#terminalAt': ATTR.terminalAt } : {}),
        },
        ExpressionAttributeValues: {
          ':failed': { S: ARCHIVE_PENDING_INDEX.failedValue },
          ...(options.since ? { ':since': { S: options.since.toISOString() } } : {}),
        },
        ExclusiveStartKey: exclusiveStartKey,
      }),
    );
    for (const item of page.Items ?? []) {
      const predictionId = item[ATTR.predictionId]?.S;
      if (predictionId) predictionIds.push(predictionId);
    }
    exclusiveStartKey = page.LastEvaluatedKey;
  } while (exclusiveStartKey);

  for (let start = 0; start < predictionIds.length; start += 10) {
    const batch = predictionIds.slice(start, start + 10);
    if (options.apply) {
      const { Failed = [] } = await clients.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: target.archiveQueueUrl,
          Entries: batch.map((predictionId, index) => ({
            Id: String(index),
            MessageBody: JSON.stringify({ predictionId } satisfies ArchiveRequest),
          })),
        }),
      );
      if (Failed.length > 0)
        throw new Error(
          `the archive queue refused ${Failed.length} of ${batch.length} requests: ${Failed[0].Code} ${Failed[0].Message ?? ''}`,
        );
    }
    for (const predictionId of batch)
      progress(`${options.apply ? 're-queued' : 'would re-queue'} ${predictionId} (marked failed)`);
  }
  return { requeued: predictionIds.length, predictionIds };
}

export function describeRedrive(report: RedriveReport): string[] {
  const verb = report.applied ? '' : 'would be ';
  const lines: string[] = [];
  if (report.deadLetters) {
    const { moved, skipped, method, stillMoving } = report.deadLetters;
    lines.push(
      `${moved} dead-lettered archive request(s) ${verb}moved to the archive queue` +
        (method === 'message-move-task' ? ` by SQS's message move task${stillMoving ? ', still moving' : ''}` : '') +
        (skipped > 0 ? `; ${skipped} left (older than --since, or not an archive request)` : ''),
    );
  }
  if (report.failedRecords) lines.push(`${report.failedRecords.requeued} record(s) marked failed ${verb}re-queued for archiving`);
  if (!report.applied) lines.push('Dry run: nothing moved. Run again with --apply to move them.');
  return lines;
}
