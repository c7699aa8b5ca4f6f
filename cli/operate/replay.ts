/**
 * `replicate-webhooks replay`: the completion messages of predictions already announced,
 * published again from the archive (manifest.json and the payload it carries, through the same
 * `buildCompletionMessage` the archiver uses), marked as replays, at a bounded rate.
 */
import { ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { PublishCommand } from '@aws-sdk/client-sns';
import { setTimeout as sleep } from 'node:timers/promises';
import { manifestKey, predictionDocumentKey } from '../../lambda/shared/archive-layout';
import { completionEventEntry } from '../../lambda/shared/completion-event';
import {
  buildCompletionMessage,
  manifestPayloadText,
  objectLocation,
  type ArchiveManifest,
} from '../../lambda/shared/completion-message';
import { parsePrediction } from '../../lambda/shared/prediction';
import { ATTR } from '../../lambda/shared/state';
import type { OperateClients } from './clients';
import { OperateError, type OperateTarget } from './target';

/** The SNS message attribute (and the EventBridge detail field) that marks a replayed completion. */
export const REPLAY_ATTRIBUTE = 'replay';

export interface ReplayOptions {
  readonly since: Date;
  readonly until: Date;
  readonly status?: string;
  readonly to: 'sns' | 'events';
  /** Messages a second at most. */
  readonly ratePerSecond: number;
}

export interface ReplayReport {
  readonly target: string;
  readonly to: 'sns' | 'events';
  readonly replayed: number;
  readonly predictionIds: string[];
  /** Announced, but their archive documents could not be read: not replayed. */
  readonly skipped: ReadonlyArray<{ readonly predictionId: string; readonly reason: string }>;
}

export async function replay(
  target: OperateTarget,
  clients: OperateClients,
  options: ReplayOptions,
  progress: (line: string) => void,
): Promise<ReplayReport> {
  if (options.to === 'events' && !target.eventBusName)
    throw new OperateError(`${target.description} announces on SNS only: it has no event bus to replay to`);
  const candidates = await announcedBetween(target, clients, options);
  const predictionIds: string[] = [];
  const skipped: Array<{ predictionId: string; reason: string }> = [];
  const intervalMs = 1000 / options.ratePerSecond;
  for (const [index, predictionId] of candidates.entries()) {
    const started = Date.now();
    const notification = await rebuild(target, clients, predictionId);
    if (typeof notification === 'string') {
      skipped.push({ predictionId, reason: notification });
      progress(`[${index + 1}/${candidates.length}] ${predictionId}: skipped, ${notification}`);
      continue;
    }
    if (options.to === 'sns') {
      await clients.sns.send(
        new PublishCommand({
          TopicArn: target.completionTopicArn,
          Message: notification.body,
          MessageAttributes: Object.fromEntries(
            [...Object.entries(notification.attributes), [REPLAY_ATTRIBUTE, 'true']]
              .filter((entry): entry is [string, string] => typeof entry[1] === 'string')
              .map(([name, value]) => [name, { DataType: 'String', StringValue: value }]),
          ),
        }),
      );
    } else {
      const detail = JSON.stringify({ ...(JSON.parse(notification.body) as object), [REPLAY_ATTRIBUTE]: true });
      const response = await clients.eventbridge.send(
        new PutEventsCommand({ Entries: [completionEventEntry(notification.message.status, detail, target.eventBusName!)] }),
      );
      if ((response.FailedEntryCount ?? 0) > 0)
        throw new Error(
          `EventBridge refused the event of ${predictionId}: ${response.Entries?.[0]?.ErrorCode ?? 'no reason given'}`,
        );
    }
    predictionIds.push(predictionId);
    progress(`[${index + 1}/${candidates.length}] ${predictionId} ${notification.message.status} → ${options.to}`);
    const wait = intervalMs - (Date.now() - started);
    if (wait > 0 && index < candidates.length - 1) await sleep(wait);
  }
  return { target: target.description, to: options.to, replayed: predictionIds.length, predictionIds, skipped };
}

/**
 * Announced predictions that finished in the window, oldest first. A scan of the table (filtered
 * server-side, keys projected): the table has no index of announced predictions, and a replay is
 * a rare, deliberate act.
 */
async function announcedBetween(target: OperateTarget, clients: OperateClients, options: ReplayOptions): Promise<string[]> {
  const found: Array<{ predictionId: string; terminalAt: string }> = [];
  let exclusiveStartKey: Record<string, AttributeValue> | undefined;
  do {
    const page = await clients.dynamodb.send(
      new ScanCommand({
        TableName: target.tableName,
        FilterExpression:
          'begins_with(pk, :record) AND attribute_exists(notifiedAt) AND #terminalAt BETWEEN :since AND :until' +
          (options.status ? ' AND #terminal = :status' : ''),
        ProjectionExpression: '#id, #terminalAt',
        ExpressionAttributeNames: {
          '#id': ATTR.predictionId,
          '#terminalAt': ATTR.terminalAt,
          ...(options.status ? { '#terminal': ATTR.terminalStatus } : {}),
        },
        ExpressionAttributeValues: {
          ':record': { S: 'prediction#' },
          ':since': { S: options.since.toISOString() },
          ':until': { S: options.until.toISOString() },
          ...(options.status ? { ':status': { S: options.status } } : {}),
        },
        ExclusiveStartKey: exclusiveStartKey,
      }),
    );
    for (const item of page.Items ?? []) {
      const predictionId = item[ATTR.predictionId]?.S;
      const terminalAt = item[ATTR.terminalAt]?.S;
      if (predictionId && terminalAt) found.push({ predictionId, terminalAt });
    }
    exclusiveStartKey = page.LastEvaluatedKey;
  } while (exclusiveStartKey);
  return found.sort((a, b) => a.terminalAt.localeCompare(b.terminalAt)).map((entry) => entry.predictionId);
}

async function rebuild(target: OperateTarget, clients: OperateClients, predictionId: string) {
  const read = async (key: string) => {
    const object = await clients.s3.send(new GetObjectCommand({ Bucket: target.bucketName, Key: key }));
    return (await object.Body?.transformToString('utf8')) ?? '';
  };
  let payload: string;
  let manifest: ArchiveManifest;
  try {
    const manifestText = await read(manifestKey(target.archivePrefix, predictionId));
    manifest = JSON.parse(manifestText) as ArchiveManifest;
    // The manifest carries the payload; one written before it did has prediction.json instead.
    payload =
      manifestPayloadText(manifestText) ??
      (await read(manifest.prediction?.key ?? predictionDocumentKey(target.archivePrefix, predictionId)));
  } catch (error) {
    if ((error as { name?: string }).name === 'NoSuchKey') return 'its archive documents are missing';
    throw error;
  }
  const parsed = parsePrediction(payload);
  if (!parsed.ok) return `its archived payload is not a prediction (${parsed.reason})`;
  return buildCompletionMessage(
    parsed.prediction,
    manifest,
    objectLocation(target.bucketName, manifestKey(target.archivePrefix, predictionId)),
  );
}

export function describeReplay(report: ReplayReport): string[] {
  return [
    `${report.replayed} completion message(s) published again to ${report.to === 'sns' ? 'the completion topic' : 'the event bus'}, marked ${REPLAY_ATTRIBUTE}`,
    ...report.skipped.map(({ predictionId, reason }) => `  skipped ${predictionId}: ${reason}`),
  ];
}
