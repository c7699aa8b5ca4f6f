/**
 * Archiving one 1 GiB output served from loopback into the S3 stand-in, with the shipped
 * archiver bundle in a process of its own (fauxqs runs in another, since it keeps objects in
 * memory): peak RSS of the archiver process, and throughput against a bare fetch → multipart
 * copy with the same part size, measured in the same run. Then a training's weights file of
 * 5 GiB (`BENCH_TRAINING_WEIGHTS_GIB`; fauxqs holds it in memory while it is checked), under the
 * trainings' cap, against a bare copy of the same size.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse } from 'aws-lambda';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ARCHIVER_DEFAULTS } from '../lambda/archiver/settings';
import { manifestKey } from '../lambda/shared/archive-layout';
import { partSizeFor } from '../lambda/shared/part-size';
import { CompletionKind } from '../lambda/shared/prediction';
import type { ArchiveManifest } from '../lambda/shared/completion-message';
import { parsePrediction } from '../lambda/shared/prediction';
import { WebhookStore } from '../lambda/store/webhook-store';
import { createStateTable } from '../local/state-table';
import { startDynamoDbLocal } from '../local/aws/standins/dynamodb-local';
import { archiveQueueEvent } from './sqs-event';
import { median, ratio, table } from './stats';
import { startS3CompleteKeepAlive, type KeepAliveProxy } from '../test/support/s3-complete-keepalive';

const MiB = 1024 * 1024;
const FILE_BYTES = 1024 * MiB;
// The archiver's defaults (lambda/archiver/config.ts), used by the baseline too.
const PART_SIZE = 8 * MiB;
const QUEUE_SIZE = 2;
// A bucket name that is not DNS-compatible makes the SDK use path-style URLs, so the child processes need no DNS tricks.
const BUCKET = 'bench_archive';

interface Run {
  readonly ms: number;
  readonly maxRssBytes: number;
}

export interface ArchiveThroughputResult {
  readonly fileBytes: number;
  readonly partSize: number;
  readonly baseline: Run[];
  readonly archiver: Run[];
  /** As many 128 MiB files as the default file concurrency, in one prediction, archived at once. */
  readonly archiverManyFiles: Run & { readonly files: number; readonly fileBytes: number };
  /** A training's weights file (5 GiB unless BENCH_TRAINING_WEIGHTS_GIB says), and a bare copy of it. */
  readonly trainingWeights?: { readonly fileBytes: number; readonly archiver: Run; readonly baseline: Run };
}

/** Deterministic bytes: a random 1 MiB block, each copy stamped with its index. */
export function generatedFile(block: Buffer, size: number): Readable {
  let index = 0;
  return new Readable({
    read() {
      if (index * block.length >= size) return void this.push(null);
      const chunk = Buffer.from(block);
      chunk.writeUInt32BE(index++, 0);
      this.push(chunk);
    },
  });
}

function runChild<R = unknown>(script: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run & { result?: R }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [join(__dirname, 'processes', script), ...args],
      { env, maxBuffer: 16 * MiB },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`${script} failed: ${stderr || error.message}`));
        resolve(JSON.parse(stdout.trim().split('\n').pop()!) as Run & { result?: R });
      },
    );
  });
}

export async function startFauxqsProcess(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [join(__dirname, 'processes', 'fauxqs-server.mjs')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (chunk: Buffer) => resolve((JSON.parse(chunk.toString()) as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`fauxqs exited with ${code}`)));
  });
  return { child, port };
}

export async function benchArchiveThroughput(rounds = 2): Promise<ArchiveThroughputResult> {
  const dynamoDbLocal = await startDynamoDbLocal();
  const fauxqs = await startFauxqsProcess();
  const block = randomBytes(MiB);
  let keepAlive: KeepAliveProxy | undefined;
  // /bench/<anything>?size=<bytes>, default 1 GiB.
  const fileServer: Server = createServer((request, response) => {
    const size = Number(new URL(request.url ?? '/', 'http://x').searchParams.get('size') ?? FILE_BYTES);
    response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size) });
    generatedFile(block, size).pipe(response);
  });
  try {
    await new Promise<void>((resolve) => fileServer.listen(0, '127.0.0.1', resolve));
    const filePort = (fileServer.address() as AddressInfo).port;
    const fileUrl = `http://127.0.0.1:${filePort}/bench/output.bin`;
    const expectedSha256 = await new Promise<string>((resolve) => {
      const hash = createHash('sha256');
      generatedFile(block, FILE_BYTES)
        .on('data', (chunk: Buffer) => hash.update(chunk))
        .on('end', () => resolve(hash.digest('hex')));
    });

    const fauxqsEndpoint = `http://127.0.0.1:${fauxqs.port}`;
    // S3 keeps a long CompleteMultipartUpload alive with whitespace; fauxqs, assembling a GiB in
    // memory for longer than the archiver's 5 s of S3 socket silence, needs this proxy to do so.
    keepAlive = await startS3CompleteKeepAlive(fauxqsEndpoint);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL_DYNAMODB: dynamoDbLocal.endpoint,
      AWS_ENDPOINT_URL_S3: keepAlive.endpoint,
      AWS_ENDPOINT_URL_SNS: fauxqsEndpoint,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    const client = { region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
    const s3 = new S3Client({ ...client, endpoint: fauxqsEndpoint });
    const sns = new SNSClient({ ...client, endpoint: fauxqsEndpoint });
    const dynamodb = new DynamoDBClient({ ...client, endpoint: dynamoDbLocal.endpoint });
    const sqs = new SQSClient({ ...client, endpoint: fauxqsEndpoint, useQueueUrlAsEndpoint: false });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: 'bench-completions' }));
    // Only a failed archival touches the queue (to set its retry delay); a bench run fails before that.
    const { QueueUrl: queueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'bench-archive' }));
    const { Attributes: queueAttributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
    );
    const tableName = 'bench-archive-state';
    await createStateTable(dynamodb, tableName);
    const store = new WebhookStore(dynamodb, s3, {
      tableName,
      bucketName: BUCKET,
      archivePrefix: '',
      maxInlinePayloadBytes: 16 * 1024,
    });
    const archiverEnv = {
      ...env,
      TABLE_NAME: tableName,
      BUCKET_NAME: BUCKET,
      COMPLETION_TOPIC_ARN: TopicArn,
      ARCHIVE_QUEUE_URL: queueUrl,
      AWS_ENDPOINT_URL_SQS: queueUrl ? new URL(queueUrl).origin : fauxqsEndpoint,
      ALLOWED_OUTPUT_HOSTS: `http://127.0.0.1:${filePort}`,
      ALLOW_PRIVATE_ADDRESSES: 'true',
      MAX_FILE_BYTES: String(2 * FILE_BYTES),
      POWERTOOLS_LOG_LEVEL: 'ERROR',
    };

    const clear = async (prefix: string) => {
      const { Contents = [] } = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
      for (const object of Contents) await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: object.Key }));
    };
    const archive = async (
      output: string[],
      kind: CompletionKind = CompletionKind.PREDICTION,
    ): Promise<Run & { manifest: ArchiveManifest }> => {
      const predictionId = `bench${randomBytes(6).toString('hex')}`;
      const body = JSON.stringify({
        id: predictionId,
        status: 'succeeded',
        model: 'bench/large-output',
        // A training's output: its new version, and its weights file.
        output: kind === CompletionKind.TRAINING ? { version: 'bench/trained:1', weights: output[0] } : output,
        logs: '',
        urls: { get: `https://api.replicate.com/v1/${kind}s/${predictionId}` },
      });
      const parsed = parsePrediction(body);
      if (!parsed.ok) throw new Error('bad bench payload');
      await store.record({
        webhookId: `msg_${predictionId}`,
        timestampSeconds: Math.floor(Date.now() / 1000),
        prediction: parsed.prediction,
        body,
        bodyBytes: body.length,
        receivedAt: new Date(),
      });
      // What the forwarder queues for a finished prediction: its id; the archiver reads the rest from the table.
      const event = archiveQueueEvent(
        { messageId: `bench-${predictionId}`, receiptHandle: `bench-${predictionId}`, body: JSON.stringify({ predictionId }) },
        queueAttributes?.QueueArn ?? 'arn:aws:sqs:us-east-1:000000000000:bench-archive',
      );
      const run = await runChild<SQSBatchResponse>('archive-once.cjs', [JSON.stringify(event)], archiverEnv);
      if ((run.result?.batchItemFailures ?? []).length > 0) throw new Error(`archival failed: ${JSON.stringify(run.result)}`);
      const manifestObject = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: manifestKey('', predictionId, kind) }));
      const manifest = JSON.parse(await manifestObject.Body!.transformToString()) as ArchiveManifest;
      await clear(`${kind}s/${predictionId}/`);
      if (manifest.files.length !== output.length) throw new Error(`archival failed: ${JSON.stringify(manifest.failures)}`);
      return { ms: run.ms, maxRssBytes: run.maxRssBytes, manifest };
    };

    const baseline: Run[] = [];
    const archiver: Run[] = [];
    for (let round = 0; round < rounds; round++) {
      baseline.push(
        await runChild('bare-copy.cjs', [fileUrl, BUCKET, `baseline/${round}.bin`, String(PART_SIZE), String(QUEUE_SIZE)], env),
      );
      await clear('baseline/');
      const { manifest, ...run } = await archive([fileUrl]);
      if (manifest.files[0].sha256 !== expectedSha256 || manifest.files[0].bytes !== FILE_BYTES) {
        throw new Error(`archived copy differs: ${JSON.stringify(manifest.files[0])}`);
      }
      archiver.push(run);
    }
    // Memory follows the files in flight (each holds its multipart buffers), not their size.
    const files = ARCHIVER_DEFAULTS.fileConcurrency;
    const manyFileBytes = 128 * MiB;
    const { ms, maxRssBytes } = await archive(
      Array.from({ length: files }, (_, n) => `http://127.0.0.1:${filePort}/bench/part-${n}.bin?size=${manyFileBytes}`),
    );
    // A training's weights: far over the predictions' default cap, under the trainings' (50 GiB).
    const weightsGib = Number(process.env.BENCH_TRAINING_WEIGHTS_GIB ?? '5');
    let trainingWeights: ArchiveThroughputResult['trainingWeights'];
    if (weightsGib > 0) {
      const weightsBytes = Math.round(weightsGib * 1024 * MiB);
      const weightsUrl = `http://127.0.0.1:${filePort}/bench/trained_model.tar?size=${weightsBytes}`;
      const weightsBaseline = await runChild(
        'bare-copy.cjs',
        [weightsUrl, BUCKET, 'baseline/weights.bin', String(partSizeFor(weightsBytes, PART_SIZE)), String(QUEUE_SIZE)],
        env,
      );
      await clear('baseline/');
      const { manifest, ...weightsRun } = await archive([weightsUrl], CompletionKind.TRAINING);
      if (manifest.files[0]?.bytes !== weightsBytes) throw new Error(`weights not archived whole: ${JSON.stringify(manifest)}`);
      trainingWeights = { fileBytes: weightsBytes, archiver: weightsRun, baseline: weightsBaseline };
    }
    for (const c of [s3, sns, sqs, dynamodb]) c.destroy();
    return {
      ...(trainingWeights ? { trainingWeights } : {}),
      fileBytes: FILE_BYTES,
      partSize: PART_SIZE,
      baseline,
      archiver,
      archiverManyFiles: { ms, maxRssBytes, files, fileBytes: manyFileBytes },
    };
  } finally {
    fileServer.closeAllConnections();
    fileServer.close();
    await keepAlive?.stop();
    fauxqs.child.kill('SIGTERM');
    await dynamoDbLocal.stop();
  }
}

export function reportArchiveThroughput(result: ArchiveThroughputResult): string {
  const mbps = (run: Run) => result.fileBytes / MiB / (run.ms / 1000);
  const describe = (runs: Run[]) =>
    runs.map((run) => `${mbps(run).toFixed(0)} MiB/s, ${(run.maxRssBytes / MiB).toFixed(0)} MiB`).join('; ');
  const baselineMbps = median(result.baseline.map(mbps));
  const archiverMbps = median(result.archiver.map(mbps));
  const archiverRss = Math.max(...result.archiver.map((run) => run.maxRssBytes));
  return [
    `Archiving a ${result.fileBytes / MiB} MiB output from loopback into the S3 stand-in (part size ${result.partSize / MiB} MiB, ` +
      `each in its own process, ${result.archiver.length} rounds):`,
    table([
      ['', 'median throughput', 'runs (throughput, peak RSS)'],
      ['archiver (assets/archiver, whole handler)', `${archiverMbps.toFixed(0)} MiB/s`, describe(result.archiver)],
      ['bare fetch → multipart copy', `${baselineMbps.toFixed(0)} MiB/s`, describe(result.baseline)],
    ]),
    `${result.archiverManyFiles.files} files of ${result.archiverManyFiles.fileBytes / MiB} MiB archived at once (the default file concurrency): ` +
      `${(result.archiverManyFiles.maxRssBytes / MiB).toFixed(0)} MiB peak RSS, ` +
      `${((result.archiverManyFiles.files * result.archiverManyFiles.fileBytes) / MiB / (result.archiverManyFiles.ms / 1000)).toFixed(0)} MiB/s`,
    `targets: archiver peak RSS ${(archiverRss / MiB).toFixed(0)} MiB (≤256 MiB), throughput ${ratio(archiverMbps, baselineMbps)} of the bare copy (≥0.8×)`,
    ...(result.trainingWeights ? [trainingLine(result.trainingWeights)] : []),
  ].join('\n');
}

function trainingLine({ fileBytes, archiver, baseline }: NonNullable<ArchiveThroughputResult['trainingWeights']>): string {
  const mbps = (run: Run) => fileBytes / MiB / (run.ms / 1000);
  return (
    `a training's ${(fileBytes / 1024 / MiB).toFixed(1)} GiB weights file (trainings/, part size ${partSizeFor(fileBytes, PART_SIZE) / MiB} MiB): ` +
    `archiver ${mbps(archiver).toFixed(0)} MiB/s, ${(archiver.maxRssBytes / MiB).toFixed(0)} MiB peak RSS; ` +
    `bare copy ${mbps(baseline).toFixed(0)} MiB/s, ${(baseline.maxRssBytes / MiB).toFixed(0)} MiB; ` +
    `${ratio(mbps(archiver), mbps(baseline))} of the bare copy`
  );
}
