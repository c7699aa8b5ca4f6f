/** The units benchmark's log tap: counts what the handlers log, passes everything else through. */
import { PassThrough } from 'node:stream';
import { tapHandlerLogs } from '../../bench/write-units';

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
