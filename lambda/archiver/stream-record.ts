/**
 * Reads a table stream record: did a prediction *become* terminal in it? The event source's
 * filter should only deliver such records, but a filter is not a guarantee, so check again.
 */
import type { DynamoDBRecord } from 'aws-lambda';
import { ATTR } from '../shared/state';

export interface TerminalRecord {
  readonly predictionId: string;
  readonly terminalStatus: string;
  /** The terminal payload, when it was small enough to live in the item. */
  readonly payload?: string;
  /** Where the payload was spilled to, otherwise. */
  readonly payloadLocation?: { readonly bucket: string; readonly key: string };
}

export function becameTerminal(record: DynamoDBRecord): TerminalRecord | undefined {
  if (record.eventName !== 'INSERT' && record.eventName !== 'MODIFY') return undefined;
  const image = record.dynamodb?.NewImage;
  const terminalStatus = image?.[ATTR.terminalStatus]?.S;
  const predictionId = image?.[ATTR.predictionId]?.S;
  if (!terminalStatus || !predictionId) return undefined;
  if (record.dynamodb?.OldImage?.[ATTR.terminalStatus] !== undefined) return undefined;
  const payload = image[ATTR.payload]?.S;
  const bucket = image[ATTR.payloadBucket]?.S;
  const key = image[ATTR.payloadKey]?.S;
  return {
    predictionId,
    terminalStatus,
    ...(payload !== undefined ? { payload } : {}),
    ...(bucket && key ? { payloadLocation: { bucket, key } } : {}),
  };
}
