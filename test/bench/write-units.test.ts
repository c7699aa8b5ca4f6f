/** The units benchmark's log tap: counts what the handlers log, passes everything else through. */
import { PassThrough } from 'node:stream';
import { seededRandom } from '../../cli/scenarios';
import { compressPayload } from '../../lambda/shared/payload-item';
import { alarmedMetricDocumentBytes, paddedTo, tapHandlerLogs, tqdmLines } from '../../bench/write-units';

test('counts Powertools lines and embedded metrics in bytes, passes other output through untouched', () => {
  const stream = new PassThrough() as unknown as NodeJS.WriteStream;
  const passed: string[] = [];
  stream.on('data', (chunk: Buffer) => passed.push(chunk.toString('utf8')));
  const tap = tapHandlerLogs(stream);
  const line = '{"level":"INFO","message":"webhook recorded","predictionId":"é"}';
  const metrics = '{"_aws":{"Timestamp":1},"WebhooksReceived":1}';
  let called = 0;
  stream.write(`${line}\n`, () => called++);
  stream.write(Buffer.from(`${metrics}\n`));
  stream.write('table row\n');
  stream.write('{"other":"json"}\n');
  expect(tap.bytes).toBe(Buffer.byteLength(line) + Buffer.byteLength(metrics));
  expect(called).toBe(1);
  tap.stop();
  stream.write(`${line}\n`);
  expect(tap.bytes).toBe(Buffer.byteLength(line) + Buffer.byteLength(metrics));
  expect(passed.join('')).toBe(`table row\n{"other":"json"}\n${line}\n`);
});

test('splits log lines from embedded metrics, and prices the metrics as an alarmed-only handler prints them', () => {
  const stream = new PassThrough() as unknown as NodeJS.WriteStream;
  const tap = tapHandlerLogs(stream);
  const line = '{"level":"WARN","message":"webhook rejected","reason":"bad_signature"}';
  const emf = (metrics: string[], dimensions: string[], values: Record<string, unknown>) =>
    JSON.stringify({
      _aws: {
        Timestamp: 1,
        CloudWatchMetrics: [
          { Namespace: 'N', Dimensions: [dimensions], Metrics: metrics.map((Name) => ({ Name, Unit: 'Count' })) },
        ],
      },
      service: 'replicate-webhooks',
      ...values,
    });
  // An accepted webhook's metrics: none an alarm reads.
  stream.write(`${emf(['WebhooksReceived', 'WebhooksAccepted'], ['service'], { WebhooksReceived: 1, WebhooksAccepted: 1 })}\n`);
  expect(tap.alarmedMetricBytes).toBe(0);
  // A rejection by reason: bad_signature is alarmed, invalid_json is not.
  const badSignature = emf(['WebhooksRejected'], ['service', 'reason'], { reason: 'bad_signature', WebhooksRejected: 1 });
  stream.write(`${badSignature}\n`);
  stream.write(`${emf(['WebhooksRejected'], ['service', 'reason'], { reason: 'invalid_json', WebhooksRejected: 1 })}\n`);
  expect(tap.alarmedMetricBytes).toBe(Buffer.byteLength(badSignature));
  // An archival's: ArchiveFailures stays, the rest and their values go.
  const archival = emf(['PredictionsArchived', 'ArchiveFailures'], ['service'], { PredictionsArchived: 1, ArchiveFailures: 0 });
  stream.write(`${archival}\n`);
  expect(alarmedMetricDocumentBytes(archival)).toBe(
    Buffer.byteLength(emf(['ArchiveFailures'], ['service'], { ArchiveFailures: 0 })),
  );
  stream.write(`${line}\n`);
  expect(tap.lineBytes).toBe(Buffer.byteLength(line));
  expect(tap.logBytes).toBe(tap.bytes);
  tap.stop();
});

test('the inline terminal payload: padded to exactly 3 KiB with tqdm lines, compressing as real logs do, not as one repeated character', () => {
  const delivery = {
    webhookId: 'msg_1',
    event: 'completed' as const,
    status: 'succeeded',
    body: JSON.stringify({ id: 'p', logs: 'Using seed: 1\n' }),
  };
  const padded = paddedTo(delivery, 3072, tqdmLines(50, seededRandom(31)));
  expect(Buffer.byteLength(padded.body)).toBe(3072);
  expect((JSON.parse(padded.body) as { logs: string }).logs).toMatch(
    /^Using seed: 1\n {2}0%\| {10}\| 0\/50 \[00:00<\?, \?it\/s\]\n {2}2%/,
  );
  const ratio = 3072 / compressPayload(padded.body)!.length;
  // tqdm lines alone (no ids, URLs or hashes) compress about 6.5×; a run of dots would, 50× and more.
  expect(ratio).toBeGreaterThan(2);
  expect(ratio).toBeLessThan(8);
  expect(3072 / compressPayload(paddedTo(delivery, 3072, '.'.repeat(3072)).body)!.length).toBeGreaterThan(30);
  expect(() => paddedTo(delivery, 10, '')).toThrow(/cannot pad/);
});
