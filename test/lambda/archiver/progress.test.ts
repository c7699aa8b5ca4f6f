/**
 * What one try of an archival leaves for the next: the outputs it stored, bounded so the record
 * stays small, and read back defensively. And the terminal payload it archives, read back from
 * its own item (DynamoDB Local) exactly as the verifier received it, in this version's format
 * (Brotli) and in the earlier one's (a string).
 */
import { DynamoDBClient, GetItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import {
  ARCHIVED_SO_FAR_MAX_BYTES,
  ArchiveProgressStore,
  decodeArchivedSoFar,
  encodeArchivedSoFar,
  type ClaimedPrediction,
  type StoredOutput,
} from '../../../lambda/archiver/progress';
import { compressPayload } from '../../../lambda/shared/payload-item';
import { parsePrediction } from '../../../lambda/shared/prediction';
import { WebhookStore } from '../../../lambda/store/webhook-store';
import { createTestTable, dynamoDbEndpoint } from '../../support/aws';
import { fixture } from '../../support/webhooks';

const file = (n: number): StoredOutput => ({
  bucket: 'archive',
  bytes: 1000 + n,
  sha256: 'a'.repeat(63) + (n % 10),
  contentType: 'image/png',
});
const key = (n: number) => `predictions/p1/outputs/${n}-frame-${n}.png`;

describe('outputs remembered between tries', () => {
  test('round-trip: every entry comes back as it was stored, in order', () => {
    const stored = new Map([0, 1, 2].map((n) => [key(n), file(n)]));
    const decoded = decodeArchivedSoFar(encodeArchivedSoFar(stored));
    expect([...decoded]).toEqual([...stored]);
  });

  test('nothing stored: nothing written', () => {
    expect(encodeArchivedSoFar(new Map())).toBeUndefined();
    expect(decodeArchivedSoFar(undefined).size).toBe(0);
  });

  test('bounded: a long list keeps the first entries that fit, and the record never grows past the bound', () => {
    const stored = new Map(Array.from({ length: 2000 }, (_, n) => [key(n), file(n)] as const));
    const text = encodeArchivedSoFar(stored)!;
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(ARCHIVED_SO_FAR_MAX_BYTES);
    const decoded = decodeArchivedSoFar(text);
    expect(decoded.size).toBeGreaterThan(100);
    expect(decoded.size).toBeLessThan(2000);
    expect([...decoded.keys()]).toEqual([...stored.keys()].slice(0, decoded.size));
  });

  test('the bound counts bytes, not characters', () => {
    const wide = 'é'.repeat(300);
    const stored = new Map(Array.from({ length: 200 }, (_, n) => [`${wide}/${n}`, file(n)] as const));
    expect(Buffer.byteLength(encodeArchivedSoFar(stored)!)).toBeLessThanOrEqual(ARCHIVED_SO_FAR_MAX_BYTES);
  });

  test.each([
    ['not JSON', '{"a":'],
    ['an array', '[["archive",1,"h","t"]]'],
    ['null', 'null'],
  ])('an attribute that is %s is ignored: every output is fetched again', (_, text) => {
    expect(decodeArchivedSoFar(text).size).toBe(0);
  });

  test('entries of the wrong shape are dropped, the others kept', () => {
    const text = JSON.stringify({
      good: ['archive', 5, 'h', 'image/png'],
      short: ['archive', 5, 'h'],
      negative: ['archive', -1, 'h', 'image/png'],
      fraction: ['archive', 1.5, 'h', 'image/png'],
      textBytes: ['archive', '5', 'h', 'image/png'],
      noBucket: [null, 5, 'h', 'image/png'],
      noHash: ['archive', 5, 7, 'image/png'],
      noType: ['archive', 5, 'h', false],
      object: { bucket: 'archive' },
    });
    expect([...decodeArchivedSoFar(text)]).toEqual([
      ['good', { bucket: 'archive', bytes: 5, sha256: 'h', contentType: 'image/png' }],
    ]);
  });
});

describe('the terminal payload, read from its own item', () => {
  const local = { region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
  let dynamodb: DynamoDBClient;
  let tableName: string;
  let store: WebhookStore;
  let progress: ArchiveProgressStore;
  beforeAll(async () => {
    dynamodb = new DynamoDBClient({ endpoint: dynamoDbEndpoint(), ...local });
    ({ tableName } = await createTestTable());
    // No S3: these payloads stay in the table.
    const s3 = new S3Client({ endpoint: 'http://127.0.0.1:9', ...local });
    store = new WebhookStore(dynamodb, s3, {
      tableName,
      bucketName: 'unused',
      archivePrefix: '',
      maxInlinePayloadBytes: 16 * 1024,
    });
    progress = new ArchiveProgressStore(dynamodb, tableName);
  });
  afterAll(() => dynamodb.destroy());

  /** A terminal webhook recorded by the verifier's store, then claimed as the archiver claims it. */
  async function recordedAndClaimed(body: string): Promise<ClaimedPrediction> {
    const parsed = parsePrediction(body);
    if (!parsed.ok) throw new Error(parsed.reason);
    const outcome = await store.record({
      webhookId: `msg_${randomUUID()}`,
      timestampSeconds: Math.floor(Date.now() / 1000),
      prediction: parsed.prediction,
      body,
      bodyBytes: Buffer.byteLength(body),
      receivedAt: new Date(),
    });
    expect(outcome).toBe('accepted');
    const claim = await progress.claim(parsed.prediction.id, new Date(), 60_000, `holder-${randomUUID()}`);
    if (claim.kind !== 'claimed') throw new Error(claim.kind);
    expect(claim.prediction.payloadItemKey).toBeDefined();
    return claim.prediction;
  }
  const terminalBody = (logs: string) => {
    const id = `p${randomUUID().replace(/-/g, '')}`;
    // Indented and with characters of every width: verbatim means these bytes, not a re-serialization.
    return JSON.stringify({ ...fixture('succeeded-images'), id, logs }, null, 2);
  };

  test('written by this version (Brotli): the body the verifier received, byte for byte', async () => {
    const body = terminalBody(`naïve ✓ 🎉 日本語\n${' 50%|#####     | 2/4 [00:00<00:00,  5.04it/s]\n'.repeat(60)}`);
    const claimed = await recordedAndClaimed(body);
    const { Item } = await dynamodb.send(
      new GetItemCommand({ TableName: tableName, Key: { pk: { S: claimed.payloadItemKey! } }, ConsistentRead: true }),
    );
    expect(Item?.payload).toBeUndefined();
    expect(Item?.payloadBr?.B?.length).toBeLessThan(Buffer.byteLength(body) / 2);
    const { payload } = await progress.withPayload(claimed);
    expect(Buffer.from(payload!, 'utf8').equals(Buffer.from(body, 'utf8'))).toBe(true);
  });

  test('written by an earlier version (the body as the string `payload`, kept 30 days): read as before', async () => {
    const body = terminalBody('written before payloads were compressed ✓');
    const claimed = await recordedAndClaimed(body);
    // The item as earlier versions wrote it, under the same key.
    await dynamodb.send(
      new PutItemCommand({
        TableName: tableName,
        Item: { pk: { S: claimed.payloadItemKey! }, payload: { S: body }, expiresAt: { N: '1900000000' } },
      }),
    );
    expect((await progress.withPayload(claimed)).payload).toBe(body);
  });

  test('gone, or corrupted: an error that names the item, never another body', async () => {
    const gone = await recordedAndClaimed(terminalBody('gone'));
    await dynamodb.send(
      new PutItemCommand({ TableName: tableName, Item: { pk: { S: gone.payloadItemKey! }, expiresAt: { N: '1' } } }),
    );
    await expect(progress.withPayload(gone)).rejects.toMatchObject({ name: 'PayloadItemMissing' });

    const corrupted = await recordedAndClaimed(terminalBody('corrupted'));
    await dynamodb.send(
      new UpdateItemCommand({
        TableName: tableName,
        Key: { pk: { S: corrupted.payloadItemKey! } },
        UpdateExpression: 'SET payloadBr = :bytes',
        ExpressionAttributeValues: { ':bytes': { B: Buffer.from('not brotli at all') } },
      }),
    );
    await expect(progress.withPayload(corrupted)).rejects.toMatchObject({ name: 'PayloadItemCorrupt' });

    // Bytes that decompress, to another body: Brotli has no checksum, the digest in the key refuses them.
    const swapped = await recordedAndClaimed(terminalBody('swapped'));
    await dynamodb.send(
      new UpdateItemCommand({
        TableName: tableName,
        Key: { pk: { S: swapped.payloadItemKey! } },
        UpdateExpression: 'SET payloadBr = :bytes',
        ExpressionAttributeValues: { ':bytes': { B: compressPayload(terminalBody('another body'))! } },
      }),
    );
    await expect(progress.withPayload(swapped)).rejects.toMatchObject({ name: 'PayloadItemCorrupt' });
  });
});
