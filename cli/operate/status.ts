/**
 * `replicate-webhooks status <prediction-id>`: what happened to one prediction, from the table,
 * the archive and the dead-letter queue, in one answer.
 */
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { manifestKey } from '../../lambda/shared/archive-layout';
import { parseArchiveRequest } from '../../lambda/shared/archive-queue';
import { s3Uri, type ArchiveManifest } from '../../lambda/shared/completion-message';
import { predictionItemKey, PARTITION_KEY } from '../../lambda/shared/state';
import type { OperateClients } from './clients';
import type { OperateTarget } from './target';

// A dead-letter queue holds what failed every try: a few at most, when things are well. Peeking
// reads them with no visibility timeout (they stay where they are), this many rounds at most.
const DEAD_LETTER_PEEK_ROUNDS = 10;

export interface PredictionStatusReport {
  readonly predictionId: string;
  readonly target: string;
  /** The table's record; absent when no webhook (nor the reconciler) ever recorded it. */
  readonly record?: {
    readonly status: string;
    readonly terminal: boolean;
    readonly model?: string;
    readonly version?: string;
    readonly createdAt?: string;
    readonly startedAt?: string;
    readonly completedAt?: string;
    readonly firstReceivedAt?: string;
    readonly terminalAt?: string;
    readonly updatedAt?: string;
    /** Webhooks that changed the record; duplicates and stale ones are answered, not counted. */
    readonly webhooksApplied?: number;
    readonly lastWebhookId?: string;
    readonly lastWebhookAt?: string;
    readonly outputCount?: number;
    readonly logsBytes?: number;
    readonly followEnded?: string;
  };
  readonly archive?: {
    readonly status: string;
    readonly attempts?: number;
    readonly archivedAt?: string;
    readonly error?: string;
    readonly failedAt?: string;
    readonly prediction?: string;
    readonly manifest?: string;
    readonly files: ReadonlyArray<{
      readonly s3Uri: string;
      readonly bytes: number;
      readonly contentType: string;
      readonly source: string;
    }>;
    readonly failures: ReadonlyArray<{
      readonly source: string;
      readonly reason: string;
      readonly transient: boolean;
      readonly status?: number;
      readonly count?: number;
    }>;
  };
  readonly deadLetterQueue: {
    readonly queueUrl: string;
    /** Whether an archive request for this prediction is among the messages examined. */
    readonly holdsIt: boolean;
    readonly messagesExamined: number;
    readonly approximateMessages?: number;
  };
  readonly channels: {
    readonly completionTopicArn: string;
    readonly eventBusName?: string;
    readonly notifiedAt?: string;
    /** With an event bus, the channels that announced before both had (cleared once both have). */
    readonly announcedTo?: readonly string[];
  };
}

export async function predictionStatus(
  target: OperateTarget,
  clients: OperateClients,
  predictionId: string,
): Promise<PredictionStatusReport> {
  const { Item } = await clients.dynamodb.send(
    new GetItemCommand({
      TableName: target.tableName,
      Key: { [PARTITION_KEY]: { S: predictionItemKey(predictionId) } },
      ConsistentRead: true,
    }),
  );
  const item = Item ? (unmarshall(Item) as Record<string, unknown>) : undefined;
  const [manifest, deadLetterQueue] = await Promise.all([
    item?.archiveManifestKey || item?.archivedAt ? readManifest(target, clients, predictionId) : Promise.resolve(undefined),
    peekDeadLetters(target, clients, predictionId),
  ]);
  const text = (name: string) => {
    const value = item?.[name];
    return typeof value === 'string' ? value : undefined;
  };
  const number = (name: string) => {
    const value = item?.[name];
    return typeof value === 'number' ? value : undefined;
  };
  const terminal = text('terminalStatus') !== undefined;
  return {
    predictionId,
    target: target.description,
    ...(item
      ? {
          record: {
            status: text('status') ?? '?',
            terminal,
            model: text('model'),
            version: text('version'),
            createdAt: text('createdAt'),
            startedAt: text('startedAt'),
            completedAt: text('completedAt'),
            firstReceivedAt: text('firstReceivedAt'),
            terminalAt: text('terminalAt'),
            updatedAt: text('updatedAt'),
            webhooksApplied: number('webhookCount'),
            lastWebhookId: text('lastWebhookId'),
            lastWebhookAt: text('lastWebhookAt'),
            outputCount: number('outputCount'),
            logsBytes: number('logsBytes'),
            followEnded: text('followEnded'),
          },
        }
      : {}),
    ...(terminal
      ? {
          archive: {
            status: text('archiveStatus') ?? 'pending',
            attempts: number('archiveAttempts'),
            archivedAt: text('archivedAt'),
            error: text('archiveError'),
            failedAt: text('archiveFailedAt'),
            // Written with `predictionDocument` (and before the manifest carried the payload) only.
            prediction: manifest?.prediction?.s3Uri,
            manifest: manifest ? s3Uri(target.bucketName, manifestKey(target.archivePrefix, predictionId)) : undefined,
            files: (manifest?.files ?? []).map((file) => ({
              s3Uri: file.s3Uri,
              bytes: file.bytes,
              contentType: file.contentType,
              source: file.source,
            })),
            failures: (manifest?.failures ?? []).map((failure) => ({
              source: failure.source,
              reason: failure.reason,
              transient: failure.transient,
              ...(failure.status !== undefined ? { status: failure.status } : {}),
              ...(failure.count !== undefined ? { count: failure.count } : {}),
            })),
          },
        }
      : {}),
    deadLetterQueue,
    channels: {
      completionTopicArn: target.completionTopicArn,
      eventBusName: target.eventBusName,
      notifiedAt: text('notifiedAt'),
      ...(Array.isArray(item?.announcedTo) || item?.announcedTo instanceof Set
        ? { announcedTo: [...(item.announcedTo as Iterable<string>)] }
        : {}),
    },
  };
}

async function readManifest(
  target: OperateTarget,
  clients: OperateClients,
  predictionId: string,
): Promise<ArchiveManifest | undefined> {
  try {
    const object = await clients.s3.send(
      new GetObjectCommand({ Bucket: target.bucketName, Key: manifestKey(target.archivePrefix, predictionId) }),
    );
    return JSON.parse((await object.Body?.transformToString('utf8')) ?? '{}') as ArchiveManifest;
  } catch (error) {
    // Recorded as archived but its manifest gone (deleted, another bucket): say so, not fail.
    if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
    throw error;
  }
}

async function peekDeadLetters(
  target: OperateTarget,
  clients: OperateClients,
  predictionId: string,
): Promise<PredictionStatusReport['deadLetterQueue']> {
  const queueUrl = target.archiveDeadLetterQueueUrl;
  const seen = new Set<string>();
  let holdsIt = false;
  for (let round = 0; round < DEAD_LETTER_PEEK_ROUNDS && !holdsIt; round++) {
    const { Messages = [] } = await clients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 0, WaitTimeSeconds: 0 }),
    );
    const fresh = Messages.filter((message) => message.MessageId && !seen.has(message.MessageId));
    if (fresh.length === 0) break;
    for (const message of fresh) {
      seen.add(message.MessageId!);
      if (parseArchiveRequest(message.Body ?? '') === predictionId) holdsIt = true;
    }
  }
  const { Attributes } = await clients.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  // Those just peeked at (or being redriven) count too: they are still in the queue.
  const approximate = Number(Attributes?.ApproximateNumberOfMessages) + Number(Attributes?.ApproximateNumberOfMessagesNotVisible);
  return {
    queueUrl,
    holdsIt,
    messagesExamined: seen.size,
    ...(Number.isFinite(approximate) ? { approximateMessages: approximate } : {}),
  };
}

/** The report in lines, for a person. */
export function describeStatus(report: PredictionStatusReport): string[] {
  const { record, archive, deadLetterQueue, channels } = report;
  if (!record) {
    return [
      `${report.predictionId}: no record in ${report.target}`,
      '  no webhook for it was accepted, and the reconciler (with a token) has not recorded it',
      ...deadLetterLines(deadLetterQueue),
    ];
  }
  const lines = [`${report.predictionId} ${record.status}${record.model ? ` (${record.model})` : ''}, in ${report.target}`];
  const times = [
    record.createdAt && `created ${record.createdAt}`,
    record.completedAt && `completed ${record.completedAt}`,
    record.firstReceivedAt && `first webhook ${record.firstReceivedAt}`,
  ].filter(Boolean);
  if (times.length > 0) lines.push(`  times       ${times.join(' · ')}`);
  lines.push(
    `  webhooks    ${record.webhooksApplied ?? 0} applied, the last ${record.lastWebhookId ?? '?'} at ${record.lastWebhookAt ?? '?'}` +
      ' (duplicates, stale and late ones are answered, not recorded)',
  );
  if (!record.terminal)
    lines.push(
      `  archive     not yet: the prediction has not finished${record.followEnded ? ` (no longer followed: ${record.followEnded})` : ''}`,
    );
  if (archive) {
    const attempts = archive.attempts !== undefined ? `, ${archive.attempts} attempt${archive.attempts === 1 ? '' : 's'}` : '';
    const when = archive.archivedAt ? ` at ${archive.archivedAt}` : archive.failedAt ? ` at ${archive.failedAt}` : '';
    lines.push(`  archive     ${archive.status}${when}${attempts}${archive.error ? `: ${archive.error}` : ''}`);
    if (archive.prediction) lines.push(`    prediction.json  ${archive.prediction}`);
    if (archive.manifest) lines.push(`    manifest.json    ${archive.manifest}`);
    for (const file of archive.files) lines.push(`    ${file.s3Uri}  (${file.bytes} bytes, ${file.contentType})`);
    for (const failure of archive.failures) {
      const detail = [
        failure.status !== undefined ? `HTTP ${failure.status}` : '',
        failure.count ? `${failure.count} outputs` : '',
        failure.transient ? 'transient' : '',
      ]
        .filter(Boolean)
        .join(', ');
      lines.push(`    ✗ ${failure.source}: ${failure.reason}${detail ? ` (${detail})` : ''}`);
    }
  }
  lines.push(...deadLetterLines(deadLetterQueue));
  const announced = channels.notifiedAt
    ? `announced at ${channels.notifiedAt}`
    : channels.announcedTo?.length
      ? `announced on ${channels.announcedTo.join(', ')} so far`
      : 'not announced yet';
  lines.push(
    `  channels    ${announced}: SNS ${channels.completionTopicArn}${channels.eventBusName ? `, EventBridge bus ${channels.eventBusName}` : ''}`,
  );
  return lines;
}

function deadLetterLines(queue: PredictionStatusReport['deadLetterQueue']): string[] {
  const total = queue.approximateMessages !== undefined ? ` of about ${queue.approximateMessages}` : '';
  return [
    queue.holdsIt
      ? `  dead-letter IN the archive dead-letter queue (redrive it: replicate-webhooks redrive --dlq)`
      : `  dead-letter not in the archive dead-letter queue (${queue.messagesExamined}${total} message(s) examined)`,
  ];
}
