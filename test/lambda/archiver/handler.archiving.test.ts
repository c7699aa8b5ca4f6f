/**
 * The archiver against real peers: DynamoDB Local's real stream through the forwarder (with the
 * construct's own filter and event source settings) into an SQS queue in fauxqs, consumed through the local
 * SQS event source; fauxqs for S3 and SNS (read back through an SQS subscription), and a
 * loopback file server standing in for replicate.delivery.
 *
 * What an archive holds: documents, outputs, manifests, announcements, and what is refused.
 */
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { manifestPayloadText, type ArchiveManifest } from '../../../lambda/shared/completion-message';
import { sha256 } from '../../support/file-server';
import {
  MiB,
  Pipeline,
  bucket,
  captureOutput,
  contextWith,
  files,
  getObject,
  item,
  listKeys,
  newId,
  prediction,
  readJson,
  s3,
  sqsEvent,
  startPipeline,
  usePeers,
} from '../../support/archiver-pipeline';

usePeers();

describe('archiving finished predictions', () => {
  let pipeline: Pipeline;
  beforeAll(async () => {
    pipeline = await startPipeline();
  });
  afterAll(() => pipeline.stop());

  test('every output lands byte-exact under deterministic keys, with one manifest holding the payload verbatim, and one notification', async () => {
    const id = newId();
    const big = files.serveRandom(`/${id}/out-0.webp`, 12 * MiB + 123, 'image/webp'); // multipart: 3 parts of 5 MiB
    const small = files.serveRandom(`/${id}/out-1.png`, 2048); // no content type: guessed from the name
    const terminal = JSON.stringify(prediction(id, 'succeeded-images', { output: [big.url, small.url] }), null, 2);
    await pipeline.record(prediction(id, 'starting', {}), prediction(id, 'processing'), terminal);
    await pipeline.drain();

    const folder = `${pipeline.prefix}predictions/${id}/`;
    expect(await listKeys(folder)).toEqual(
      [`${folder}manifest.json`, `${folder}outputs/0-out-0.webp`, `${folder}outputs/1-out-1.png`].sort(),
    );
    const first = await getObject(`${folder}outputs/0-out-0.webp`);
    expect(sha256(first.bytes)).toBe(big.sha256);
    expect(first.contentType).toBe('image/webp');
    const second = await getObject(`${folder}outputs/1-out-1.png`);
    expect(second.bytes.equals(small.bytes)).toBe(true);
    expect(second.contentType).toBe('image/png');
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: `${folder}outputs/1-out-1.png` }));
    expect(head.Metadata).toMatchObject({ 'prediction-id': id, 'source-url': small.url });

    const manifestText = (await getObject(`${folder}manifest.json`)).bytes.toString('utf8');
    expect(manifestPayloadText(manifestText)).toBe(terminal);
    const manifest = JSON.parse(manifestText) as ArchiveManifest;
    expect(manifest).toEqual({
      predictionId: id,
      status: 'succeeded',
      archivedAt: expect.any(String),
      files: [
        {
          source: big.url,
          paths: ['[0]'],
          bucket,
          key: `${folder}outputs/0-out-0.webp`,
          s3Uri: `s3://${bucket}/${folder}outputs/0-out-0.webp`,
          bytes: big.bytes.length,
          sha256: big.sha256,
          contentType: 'image/webp',
        },
        expect.objectContaining({ source: small.url, bytes: 2048, sha256: small.sha256, contentType: 'image/png' }),
      ],
      failures: [],
      payload: JSON.parse(terminal),
    });

    const notifications = await pipeline.subscriber.receiveAll();
    expect(notifications).toHaveLength(1);
    const [{ message, attributes }] = notifications;
    expect(attributes).toEqual({
      status: 'succeeded',
      kind: 'prediction',
      model: 'black-forest-labs/flux-schnell',
      prediction_id: id,
    });
    expect(message).toMatchObject({
      schemaVersion: 1,
      predictionId: id,
      status: 'succeeded',
      model: 'black-forest-labs/flux-schnell',
      version: expect.any(String),
      createdAt: '2026-11-20T10:00:00.000000Z',
      completedAt: '2026-11-20T10:00:03.400000Z',
      metrics: { predict_time: 2.296, total_time: 3.4 },
      archive: { manifest: { bucket, key: `${folder}manifest.json`, s3Uri: `s3://${bucket}/${folder}manifest.json` } },
      outputs: manifest.files,
      failures: [],
    });
    expect(message.archive).not.toHaveProperty('prediction');
    expect(JSON.stringify(message)).not.toContain('Using seed'); // never the logs

    expect(await item(pipeline.tableName, id)).toMatchObject({
      archiveStatus: { S: 'archived' },
      archivedFiles: { N: '2' },
      archiveFailures: { N: '0' },
      notifiedAt: { S: expect.any(String) },
    });
  });

  test('data: URIs, nested outputs and text tokens', async () => {
    const [dataId, nestedId, tokensId] = [newId(), newId(), newId()];
    const video = files.serveRandom(`/${nestedId}/output.mp4`, 100_000, 'video/mp4');
    const frame = files.serveRandom(`/${nestedId}/f0.png`, 5_000, 'image/png');
    await pipeline.record(
      prediction(dataId, 'succeeded-data-uri'),
      prediction(nestedId, 'succeeded-nested-output', { output: { video: video.url, frames: [frame.url], caption: 'a sunset' } }),
      prediction(tokensId, 'succeeded-llm-tokens'),
    );
    await pipeline.drain();

    const data = await getObject(`${pipeline.prefix}predictions/${dataId}/outputs/0-output-0.txt`);
    expect(data).toEqual({ bytes: Buffer.from('hello world\n'), contentType: 'text/plain' });
    const nested = await readJson<ArchiveManifest>(`${pipeline.prefix}predictions/${nestedId}/manifest.json`);
    expect(nested.files.map((file) => [file.paths, file.sha256])).toEqual([
      [['.video'], video.sha256],
      [['.frames[0]'], frame.sha256],
    ]);
    const tokens = await readJson<ArchiveManifest>(`${pipeline.prefix}predictions/${tokensId}/manifest.json`);
    expect(tokens).toMatchObject({ files: [], failures: [] });

    const notifications = await pipeline.subscriber.receiveAll();
    expect(notifications.map((n) => n.message.predictionId).sort()).toEqual([dataId, nestedId, tokensId].sort());
    const dataMessage = notifications.find((n) => n.message.predictionId === dataId)!.message;
    expect(dataMessage.outputs[0].source).toBe('data:text/plain (12 bytes)');
  });

  test('data: URIs that do not decode are listed as failures beside the outputs that were archived, and counted', async () => {
    const id = newId();
    const good = files.serveRandom(`/${id}/good.png`, 2000, 'image/png');
    const output = {
      inline: 'data:text/plain;base64,aGVsbG8=',
      url: good.url,
      badBase64: 'data:image/png;base64,!!!',
      badPercent: 'data:text/plain,%E0%A4%A',
    };
    await pipeline.record(prediction(id, 'succeeded-nested-output', { output }));
    await pipeline.drain();
    const manifest = await readJson<ArchiveManifest>(`${pipeline.prefix}predictions/${id}/manifest.json`);
    expect(manifest.files.map((file) => file.paths)).toEqual([['.inline'], ['.url']]);
    const invalid = (path: string) => ({
      source: 'data: (malformed)',
      paths: [path],
      reason: 'invalid_data_uri',
      transient: false,
    });
    expect(manifest.failures).toEqual([invalid('.badBase64'), invalid('.badPercent')]);
    const [notification] = await pipeline.subscriber.receiveAll();
    expect(notification.message.failures).toEqual(manifest.failures);
    expect(await item(pipeline.tableName, id)).toMatchObject({
      archiveStatus: { S: 'archived_with_failures' },
      archivedFiles: { N: '2' },
      archiveFailures: { N: '2' },
    });
  });

  test('a prediction whose data Replicate removed is archived with a data_removed failure, never as a clean archive of nothing', async () => {
    const pipeline = await startPipeline({ POWERTOOLS_METRICS_DISABLED: 'false' });
    const printed = captureOutput();
    try {
      await pipeline.stop();
      const [removed, removedWithOutput] = [newId(), newId()];
      const left = files.serveRandom(`/${removedWithOutput}/left.png`, 1000, 'image/png');
      const terminal = JSON.stringify(prediction(removed, 'succeeded-images', { output: null, data_removed: true }));
      await pipeline.record(
        terminal,
        prediction(removedWithOutput, 'succeeded-images', { output: [left.url], data_removed: true }),
      );
      const bodies = [removed, removedWithOutput].map((id) => JSON.stringify({ predictionId: id }));
      expect(await pipeline.archiver(sqsEvent(bodies), contextWith(60_000))).toEqual({ batchItemFailures: [] });
      printed.stop();

      const removedFailure = { source: '(output removed by Replicate)', paths: [], reason: 'data_removed', transient: false };
      const folder = `${pipeline.prefix}predictions/${removed}/`;
      const manifestText = (await getObject(`${folder}manifest.json`)).bytes.toString('utf8');
      expect(manifestPayloadText(manifestText)).toBe(terminal);
      expect(JSON.parse(manifestText)).toMatchObject({ files: [], failures: [removedFailure] });
      // Outputs the payload still lists are archived all the same, beside the failure.
      const withOutput = await readJson<ArchiveManifest>(`${pipeline.prefix}predictions/${removedWithOutput}/manifest.json`);
      expect(withOutput.files.map((file) => file.sha256)).toEqual([left.sha256]);
      expect(withOutput.failures).toEqual([removedFailure]);

      const notifications = await pipeline.subscriber.receiveAll();
      expect(notifications.map((n) => [n.message.predictionId, n.message.failures]).sort()).toEqual(
        [
          [removed, [removedFailure]],
          [removedWithOutput, [removedFailure]],
        ].sort(),
      );
      expect(await item(pipeline.tableName, removed)).toMatchObject({
        archiveStatus: { S: 'archived_with_failures' },
        archivedFiles: { N: '0' },
        archiveFailures: { N: '1' },
        notifiedAt: { S: expect.any(String) },
      });
      expect((await item(pipeline.tableName, removedWithOutput))?.archiveStatus).toEqual({ S: 'archived_with_failures' });
      // Counted where the archiveFileFailures alarm looks: the total (one value per archival,
      // which Powertools may print as an array), and the series by reason.
      const counted = printed.jsonLines().filter((line) => line.ArchiveFailures !== undefined);
      const total = counted.filter((line) => line.reason === undefined).flatMap((line) => [line.ArchiveFailures].flat());
      expect(total).toEqual([1, 1]);
      expect(counted.filter((line) => line.reason !== undefined).map((line) => line.reason)).toEqual([
        'data_removed',
        'data_removed',
      ]);
    } finally {
      printed.stop();
      process.env.POWERTOOLS_METRICS_DISABLED = 'true';
    }
  });

  test('failed, canceled and aborted predictions are announced too', async () => {
    const ids = { failed: newId(), canceled: newId(), aborted: newId() };
    for (const [status, id] of Object.entries(ids)) await pipeline.record(prediction(id, 'starting'), prediction(id, status));
    await pipeline.drain();
    const notifications = await pipeline.subscriber.receiveAll();
    expect(notifications.map((n) => [n.message.predictionId, n.attributes.status]).sort()).toEqual(
      Object.entries(ids)
        .map(([status, id]) => [id, status])
        .sort(),
    );
    const failed = notifications.find((n) => n.attributes.status === 'failed')!.message;
    expect(failed.error).toBe('CUDA out of memory. Tried to allocate 2.00 GiB');
    expect(failed.outputs).toEqual([]);
  });

  test('a 404 and refused URLs are listed as failures while the other files are archived', async () => {
    const id = newId();
    const good = files.serveRandom(`/${id}/good.png`, 4096, 'image/png');
    const output = {
      good: good.url,
      missing: `${files.origin}/${id}/missing.png`,
      plainHttp: 'http://replicate.delivery/x/plain.png',
      otherHost: 'https://replicate.delivery.evil.example/x.png',
      metadata: 'http://169.254.169.254/latest/meta-data/',
    };
    await pipeline.record(prediction(id, 'succeeded-nested-output', { output }));
    await pipeline.drain();
    const manifest = await readJson<ArchiveManifest>(`${pipeline.prefix}predictions/${id}/manifest.json`);
    expect(manifest.files.map((file) => file.sha256)).toEqual([good.sha256]);
    expect(manifest.failures).toEqual([
      { source: output.missing, paths: ['.missing'], reason: 'http_error', transient: false, status: 404 },
      { source: output.plainHttp, paths: ['.plainHttp'], reason: 'insecure_scheme', transient: false },
      { source: output.otherHost, paths: ['.otherHost'], reason: 'host_not_allowed', transient: false },
      { source: output.metadata, paths: ['.metadata'], reason: 'host_not_allowed', transient: false },
    ]);
    const [notification] = await pipeline.subscriber.receiveAll();
    expect(notification.message.failures).toEqual(manifest.failures);
    expect((await item(pipeline.tableName, id))?.archiveStatus).toEqual({ S: 'archived_with_failures' });
    expect(pipeline.failures).toEqual([]);
  });

  test('a transient failure is retried within the invocation', async () => {
    const id = newId();
    const bytes = randomBytes(3000);
    const url = files.serve(`/${id}/flaky.png`, { bytes, failFirst: 1 });
    await pipeline.record(prediction(id, 'succeeded-images', { output: [url] }));
    await pipeline.drain();
    const manifest = await readJson<ArchiveManifest>(`${pipeline.prefix}predictions/${id}/manifest.json`);
    expect(manifest.files[0].sha256).toBe(sha256(bytes));
    expect(files.hits.get(`/${id}/flaky.png`)).toBe(2);
    expect(await pipeline.subscriber.receiveAll()).toHaveLength(1);
  });

  test("a payload spilled to S3 is the manifest's payload byte-exact", async () => {
    const id = newId();
    // Random, so that it is above the inline limit compressed too.
    const logs = `token ✓\n${randomBytes(24 * 1024).toString('base64')}`;
    const terminal = JSON.stringify(prediction(id, 'succeeded-llm-tokens', { logs }));
    expect(Buffer.byteLength(terminal)).toBeGreaterThan(16 * 1024);
    await pipeline.record(terminal);
    await pipeline.drain();
    expect((await item(pipeline.tableName, id))?.payloadKey).toBeDefined();
    const folder = `${pipeline.prefix}predictions/${id}/`;
    expect(await listKeys(folder)).toEqual([`${folder}manifest.json`]);
    expect(manifestPayloadText((await getObject(`${folder}manifest.json`)).bytes.toString('utf8'))).toBe(terminal);
    const [notification] = await pipeline.subscriber.receiveAll();
    expect(notification.message.predictionId).toBe(id);
    expect(JSON.stringify(notification.message)).not.toContain('token ✓');
  });

  test('predictions that are not finished, unknown or already announced are skipped, even when a message arrives anyway', async () => {
    const running = newId();
    const finished = newId();
    await pipeline.record(prediction(running, 'starting'), prediction(running, 'processing'), prediction(finished, 'failed'));
    await pipeline.drain();
    expect((await pipeline.subscriber.receiveAll()).map((n) => n.message.predictionId)).toEqual([finished]);
    const bodies = [running, newId(), finished].map((id) => JSON.stringify({ predictionId: id }));
    expect(await pipeline.archiver(sqsEvent(bodies))).toEqual({ batchItemFailures: [] });
    expect(await pipeline.subscriber.receiveAll(200)).toEqual([]);
  });
});

describe('a training', () => {
  test('its weights, over the predictions cap but under the trainings one, land under trainings/<id>/ beside its manifest; announced as a training with its new version', async () => {
    const pipeline = await startPipeline({ MAX_FILE_BYTES: String(1 * MiB), MAX_TRAINING_FILE_BYTES: String(64 * MiB) });
    try {
      const id = newId();
      const weights = files.serveRandom(`/${id}/trained_model.tar`, 12 * MiB + 7, 'application/x-tar');
      const training = (status: string, output: unknown) => ({
        id,
        model: 'ostris/flux-dev-lora-trainer',
        version: 'e440909d3512c31646ee2e0c7d6f6f4923224863a6a10c494606e79fb5844497',
        destination: 'alice/my-flux',
        input: { steps: 1000 },
        status,
        output,
        logs: 'step 1000/1000',
        created_at: '2026-11-20T10:00:00.000000Z',
        urls: {
          get: `https://api.replicate.com/v1/trainings/${id}`,
          cancel: `https://api.replicate.com/v1/trainings/${id}/cancel`,
        },
      });
      // A prediction beside it, with a file over the predictions' cap: still refused.
      const other = newId();
      const big = files.serveRandom(`/${other}/big.bin`, 2 * MiB);
      const terminal = JSON.stringify(training('succeeded', { version: 'alice/my-flux:4f2b1c', weights: weights.url }));
      await pipeline.record(training('starting', null), terminal, prediction(other, 'succeeded-images', { output: [big.url] }));
      expect(await item(pipeline.tableName, id)).toMatchObject({ kind: { S: 'training' } });
      expect(await item(pipeline.tableName, other)).toMatchObject({ kind: { S: 'prediction' } });
      await pipeline.drain();

      const folder = `${pipeline.prefix}trainings/${id}/`;
      expect(await listKeys(`${pipeline.prefix}predictions/${id}/`)).toEqual([]);
      expect(await listKeys(folder)).toEqual([`${folder}manifest.json`, `${folder}outputs/0-trained_model.tar`].sort());
      expect(sha256((await getObject(`${folder}outputs/0-trained_model.tar`)).bytes)).toBe(weights.sha256);
      const manifestText = (await getObject(`${folder}manifest.json`)).bytes.toString('utf8');
      expect(manifestPayloadText(manifestText)).toBe(terminal);
      expect(JSON.parse(manifestText)).toMatchObject({ predictionId: id, kind: 'training', failures: [] });

      const notifications = await pipeline.subscriber.receiveAll();
      const trained = notifications.find((n) => n.message.predictionId === id)!;
      expect(trained.attributes).toMatchObject({ kind: 'training', status: 'succeeded', model: 'ostris/flux-dev-lora-trainer' });
      expect(trained.message).toMatchObject({
        kind: 'training',
        trainedVersion: 'alice/my-flux:4f2b1c',
        archive: { manifest: { key: `${folder}manifest.json` } },
        outputs: [expect.objectContaining({ key: `${folder}outputs/0-trained_model.tar`, bytes: weights.bytes.length })],
      });
      const refused = notifications.find((n) => n.message.predictionId === other)!;
      expect(refused.message).toMatchObject({ kind: 'prediction', failures: [expect.objectContaining({ reason: 'too_large' })] });
      expect(await item(pipeline.tableName, id)).toMatchObject({
        archiveStatus: { S: 'archived' },
        archiveManifestKey: { S: `${folder}manifest.json` },
      });
    } finally {
      await pipeline.stop();
    }
  });
});

describe("with prediction.json (the construct's predictionDocument)", () => {
  test('the payload alone beside the manifest, byte-exact, inline or spilled; the manifest and the message name it', async () => {
    const pipeline = await startPipeline({ PREDICTION_DOCUMENT: 'true' });
    try {
      const [inline, spilled] = [newId(), newId()];
      const file = files.serveRandom(`/${inline}/out-0.png`, 2048, 'image/png');
      const inlineTerminal = JSON.stringify(prediction(inline, 'succeeded-images', { output: [file.url] }), null, 2);
      // Random, so that it is above the inline limit compressed too.
      const logs = `token ✓\n${randomBytes(24 * 1024).toString('base64')}`;
      const spilledTerminal = JSON.stringify(prediction(spilled, 'succeeded-llm-tokens', { logs }));
      await pipeline.record(inlineTerminal, spilledTerminal);
      await pipeline.drain();
      expect((await item(pipeline.tableName, spilled))?.payloadKey).toBeDefined();

      const notifications = await pipeline.subscriber.receiveAll();
      for (const [id, terminal, keys] of [
        [inline, inlineTerminal, ['manifest.json', 'outputs/0-out-0.png', 'prediction.json']],
        [spilled, spilledTerminal, ['manifest.json', 'prediction.json']],
      ] as const) {
        const folder = `${pipeline.prefix}predictions/${id}/`;
        expect(await listKeys(folder)).toEqual(keys.map((key) => `${folder}${key}`));
        expect((await getObject(`${folder}prediction.json`)).bytes.toString('utf8')).toBe(terminal);
        const manifestText = (await getObject(`${folder}manifest.json`)).bytes.toString('utf8');
        expect(manifestPayloadText(manifestText)).toBe(terminal);
        const location = { bucket, key: `${folder}prediction.json`, s3Uri: `s3://${bucket}/${folder}prediction.json` };
        expect((JSON.parse(manifestText) as ArchiveManifest).prediction).toEqual(location);
        expect(notifications.find((n) => n.message.predictionId === id)?.message.archive.prediction).toEqual(location);
      }
    } finally {
      await pipeline.stop();
    }
  });

  test('written before the outputs: a try that stores no output leaves the payload in S3; without it, the folder stays empty', async () => {
    for (const predictionDocument of [true, false]) {
      const pipeline = await startPipeline({ PREDICTION_DOCUMENT: String(predictionDocument) });
      // Invoked here alone, once: nothing else takes the message.
      await pipeline.stop();
      const id = newId();
      const broken = files.serve(`/${id}/out-0.png`, { bytes: randomBytes(100), alwaysFail: true });
      const terminal = JSON.stringify(prediction(id, 'succeeded-images', { output: [broken] }));
      await pipeline.record(terminal);
      const body = JSON.stringify({ predictionId: id });
      // Not its last try: the transient failure sends it back to the queue, no manifest yet.
      expect(await pipeline.archiver(sqsEvent([body], 1), contextWith(60_000))).toEqual({
        batchItemFailures: [{ itemIdentifier: expect.any(String) }],
      });
      const folder = `${pipeline.prefix}predictions/${id}/`;
      if (predictionDocument) {
        expect(await listKeys(folder)).toEqual([`${folder}prediction.json`]);
        expect((await getObject(`${folder}prediction.json`)).bytes.toString('utf8')).toBe(terminal);
      } else {
        expect(await listKeys(folder)).toEqual([]);
      }
    }
  });
});
