/**
 * The table's stored format: keys, attribute names and the limits items are written within.
 * Records outlive deployments, so a change here would orphan what earlier versions wrote; these
 * tests fail on any such change, and on limits that no longer fit DynamoDB's or the queues'.
 */
import {
  ARCHIVE_PENDING_INDEX,
  MAX_INLINE_PAYLOAD_BYTES,
  PARTITION_KEY,
  PAYLOAD_ITEM_RETENTION_SECONDS,
  STORE_DEFAULTS,
  TTL_ATTRIBUTE,
  payloadItemKey,
  recoveryRetryKey,
  outOfScopeKey,
  RECONCILER_STATE_KEY,
  predictionItemKey,
} from '../../../lambda/shared/state';

const DAY = 24 * 3600;
const DYNAMODB_ITEM_LIMIT = 400 * 1024;

test('item keys and attribute names are the ones earlier versions wrote', () => {
  expect(PARTITION_KEY).toBe('pk');
  expect(TTL_ATTRIBUTE).toBe('expiresAt');
  expect(predictionItemKey('ufawqhfynnddngldkgtslldrkq')).toBe('prediction#ufawqhfynnddngldkgtslldrkq');
  expect(payloadItemKey('ufaw', 'q-_1')).toBe('payload#ufaw#q-_1');
  expect(ARCHIVE_PENDING_INDEX).toMatchObject({
    indexName: 'archive-pending',
    partitionKey: 'archivePending',
    sortKey: 'terminalAt',
  });
});

test('the kinds of item never share a key', () => {
  // Replicate's prediction ids are lowercase alphanumerics; webhook ids are `msg_` and base62.
  const predictions = ['a', 'b', 'ab', 'payloada', 'webhooka', 'recovera', 'foreigna'];
  const webhooks = ['msg_a', 'msg_b', 'msg_ab'];
  const keys = predictions.flatMap((id) => [
    predictionItemKey(id),
    recoveryRetryKey(id),
    outOfScopeKey(id),
    ...webhooks.map((digest) => payloadItemKey(id, digest)),
  ]);
  expect(new Set([...keys, RECONCILER_STATE_KEY]).size).toBe(keys.length + 1);
});

test('the largest inline payload fits an item with room to spare, and is above the default', () => {
  expect(MAX_INLINE_PAYLOAD_BYTES).toBeLessThanOrEqual(DYNAMODB_ITEM_LIMIT - 64 * 1024);
  expect(MAX_INLINE_PAYLOAD_BYTES).toBeGreaterThanOrEqual(STORE_DEFAULTS.maxInlinePayloadBytes);
  expect(STORE_DEFAULTS.maxInlinePayloadBytes).toBe(16 * 1024);
});

test('a payload item outlives every way its prediction can still be archived: the queue’s retries and a redrive from the dead-letter queue', () => {
  // The archive queue keeps messages 4 days and its dead-letter queue 14 (lib/replicate-webhooks.ts).
  const queueRetention = 4 * DAY;
  const deadLetterRetention = 14 * DAY;
  expect(PAYLOAD_ITEM_RETENTION_SECONDS).toBeGreaterThanOrEqual(queueRetention + deadLetterRetention);
  expect(PAYLOAD_ITEM_RETENTION_SECONDS).toBe(30 * DAY);
});
