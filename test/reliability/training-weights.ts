/**
 * A training's multi-GiB weights file archived within the archiver's memory bound: the shipped
 * archiver bundle, in a process of its own (as bench/archive-throughput.ts runs it), archives a
 * training whose `output.weights` is one file of TRAINING_WEIGHTS_GIB (default 1 GiB; 2 or more
 * with the variable) served from loopback, into fauxqs in another process (fauxqs keeps objects in
 * memory: in local mode, where it shares the process with the archiver, the object itself would be
 * counted). Checked: archived whole under trainings/<id>/outputs/, byte-exact (the copy in the
 * stand-in hashed again), announced, and the archiver process's peak RSS within 256 MiB, its
 * growth above the loaded bundle within 192 MiB, whatever the file's size. S3 goes through a proxy
 * that keeps CompleteMultipartUpload alive with whitespace as S3 does (fauxqs assembles the object
 * for longer than the archiver's 5 s of S3 socket silence).
 */
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { manifestKey } from '../../lambda/shared/archive-layout';
import type { ArchiveManifest } from '../../lambda/shared/completion-message';
import { partSizeFor } from '../../lambda/shared/part-size';
import { CompletionKind, parsePrediction } from '../../lambda/shared/prediction';
import { ATTR, predictionItemKey } from '../../lambda/shared/state';
import { WebhookStore } from '../../lambda/store/webhook-store';
import { startDynamoDbLocal } from '../../local/aws/standins/dynamodb-local';
import { createStateTable } from '../../local/state-table';
import { check } from './harness';
import { startS3CompleteKeepAlive } from '../support/s3-complete-keepalive';

const MiB = 1024 * 1024;
/** The archiver process's peak RSS, bundle included (the bench's target for a 1 GiB output). */
export const PEAK_RSS_BOUND_BYTES = 256 * MiB;
/** Its growth above the loaded bundle while it streams the file. */
export const RSS_GROWTH_BOUND_BYTES = 192 * MiB;
// Not DNS-compatible: the SDK uses path-style URLs, so the child processes need no DNS tricks.
const BUCKET = 'reliability_weights';

export interface TrainingWeightsResult {
  readonly fileBytes: number;
  readonly partSize: number;
  readonly archived: boolean;
  readonly byteExact: boolean;
  readonly announced: boolean;
  readonly seconds: number;
  readonly mibPerSecond: number;
  readonly peakRssBytes: number;
  readonly rssAtStartBytes: number;
  readonly rssGrowthBytes: number;
  readonly bounds: { readonly peakRssBytes: number; readonly rssGrowthBytes: number };
  readonly violations: string[];
}

/** Deterministic bytes: a random 1 MiB block, each copy stamped with its index. */
function generatedFile(block: Buffer, size: number): Readable {
  let index = 0;
  return new Readable({
    read() {
      if (index * block.length >= size) return void this.push(null);
      const chunk = Buffer.from(block);
      chunk.writeUInt32BE(index++, 0);
      this.push(size - (index - 1) * block.length < block.length ? chunk.subarray(0, size % block.length) : chunk);
    },
  });
}

const hashOf = (stream: Readable): Promise<string> =>
  new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    stream
      .on('data', (chunk: Buffer) => hash.update(chunk))
      .on('end', () => resolve(hash.digest('hex')))
      .on('error', reject);
  });

async function startFauxqsProcess(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [join(__dirname, '..', '..', 'bench', 'processes', 'fauxqs-server.mjs')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (chunk: Buffer) => resolve((JSON.parse(chunk.toString()) as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`fauxqs exited with ${code}`)));
  });
  return { child, port };
}

interface ArchiveOnce {
  readonly ms: number;
  readonly maxRssBytes: number;
  readonly rssAtStartBytes: number;
  readonly result?: SQSBatchResponse;
  /** What the handler logged (POWERTOOLS_LOG_LEVEL, from RELIABILITY_LOG_LEVEL). */
  readonly logLines: string[];
}

function archiveOnce(event: SQSEvent, env: NodeJS.ProcessEnv): Promise<ArchiveOnce> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [join(__dirname, '..', '..', 'bench', 'processes', 'archive-once.cjs'), JSON.stringify(event)],
      { env, maxBuffer: 16 * MiB },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`archive-once failed: ${stderr || error.message}`));
        const lines = stdout.trim().split('\n');
        resolve({ ...(JSON.parse(lines.pop()!) as ArchiveOnce), logLines: [...lines, ...stderr.trim().split('\n')] });
      },
    );
  });
}

export async function runTrainingWeights(options: { fileBytes: number; seed: number }): Promise<TrainingWeightsResult> {
  const violations: string[] = [];
  const { fileBytes } = options;
  const dynamoDbLocal = await startDynamoDbLocal();
  const fauxqs = await startFauxqsProcess().catch(async (error: unknown) => {
    await dynamoDbLocal.stop();
    throw error;
  });
  const block = randomBytes(MiB);
  block.writeUInt32BE(options.seed >>> 0, 4);
  const fileServer: Server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/x-tar', 'content-length': String(fileBytes) });
    generatedFile(block, fileBytes).pipe(response);
  });
  const fauxqsEndpoint = `http://127.0.0.1:${fauxqs.port}`;
  // S3 keeps a long CompleteMultipartUpload alive with whitespace; fauxqs needs this to do so.
  const keepAlive = await startS3CompleteKeepAlive(fauxqsEndpoint);
  const endpoint = keepAlive.endpoint;
  const client = { region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
  const s3 = new S3Client({ ...client, endpoint, forcePathStyle: true });
  const sns = new SNSClient({ ...client, endpoint });
  const sqs = new SQSClient({ ...client, endpoint, useQueueUrlAsEndpoint: false });
  const dynamodb = new DynamoDBClient({ ...client, endpoint: dynamoDbLocal.endpoint });
  try {
    await new Promise<void>((resolve) => fileServer.listen(0, '127.0.0.1', resolve));
    const filePort = (fileServer.address() as AddressInfo).port;
    const expectedSha256 = await hashOf(generatedFile(block, fileBytes));

    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: 'reliability-weights' }));
    const { QueueUrl: queueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'reliability-weights' }));
    const tableName = 'reliability-weights-state';
    await createStateTable(dynamodb, tableName);
    const store = new WebhookStore(dynamodb, s3, {
      tableName,
      bucketName: BUCKET,
      archivePrefix: '',
      maxInlinePayloadBytes: 16 * 1024,
    });

    // The training's terminal webhook, recorded as the verifier records it.
    const id = `tw${randomBytes(6).toString('hex')}`;
    const weightsUrl = `http://127.0.0.1:${filePort}/${id}/trained_model.tar`;
    const body = JSON.stringify({
      id,
      status: 'succeeded',
      model: 'ostris/flux-dev-lora-trainer',
      version: 'e440909d3512c31646ee2e0c7d6f6f4923224863a6a10c494606e79fb5844497',
      destination: 'alice/my-flux',
      output: { version: `alice/my-flux:${id}`, weights: weightsUrl },
      logs: 'flux_train_replicate: 100%|##########| 1000/1000\n',
      urls: {
        get: `https://api.replicate.com/v1/trainings/${id}`,
        cancel: `https://api.replicate.com/v1/trainings/${id}/cancel`,
      },
    });
    const parsed = parsePrediction(body);
    if (!parsed.ok) throw new Error('training-weights: bad training payload');
    await store.record({
      webhookId: `msg_${id}`,
      timestampSeconds: Math.floor(Date.now() / 1000),
      prediction: parsed.prediction,
      body,
      bodyBytes: body.length,
      receivedAt: new Date(),
    });
    const now = String(Date.now());
    const event: SQSEvent = {
      Records: [
        {
          messageId: `weights-${id}`,
          receiptHandle: `weights-${id}`,
          body: JSON.stringify({ predictionId: id }),
          attributes: {
            ApproximateReceiveCount: '1',
            SentTimestamp: now,
            SenderId: 'reliability',
            ApproximateFirstReceiveTimestamp: now,
          },
          messageAttributes: {},
          md5OfBody: '',
          eventSource: 'aws:sqs',
          eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:reliability-weights',
          awsRegion: 'us-east-1',
        },
      ],
    };
    // The archiver's own defaults otherwise: the trainings' cap (50 GiB), its part sizes.
    const run = await archiveOnce(event, {
      ...process.env,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL_DYNAMODB: dynamoDbLocal.endpoint,
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_ENDPOINT_URL_SNS: fauxqsEndpoint,
      AWS_ENDPOINT_URL_SQS: queueUrl ? new URL(queueUrl).origin : fauxqsEndpoint,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      TABLE_NAME: tableName,
      BUCKET_NAME: BUCKET,
      COMPLETION_TOPIC_ARN: TopicArn,
      ARCHIVE_QUEUE_URL: queueUrl,
      ALLOWED_OUTPUT_HOSTS: `http://127.0.0.1:${filePort}`,
      ALLOW_PRIVATE_ADDRESSES: 'true',
      POWERTOOLS_LOG_LEVEL: process.env.RELIABILITY_LOG_LEVEL ?? 'CRITICAL',
    });
    check(
      (run.result?.batchItemFailures ?? []).length === 0,
      `training-weights: the archiver reported ${JSON.stringify(run.result)}`,
      violations,
    );
    const manifest = await s3
      .send(new GetObjectCommand({ Bucket: BUCKET, Key: manifestKey('', id, CompletionKind.TRAINING) }))
      .then(async (object) => JSON.parse(await object.Body!.transformToString()) as ArchiveManifest)
      .catch(() => undefined);
    const weights = manifest?.files.find((file) => file.source === weightsUrl);
    const archived = weights !== undefined && weights.bytes === fileBytes && weights.key.startsWith(`trainings/${id}/outputs/`);
    check(
      archived,
      `training-weights: weights not archived whole: ${JSON.stringify(manifest ?? 'no manifest')}` +
        (run.logLines.length > 0
          ? `; the archiver logged: ${run.logLines
              .filter((line) => !line.includes('CloudWatchMetrics'))
              .slice(-5)
              .join(' | ')}`
          : ''),
      violations,
    );
    // The manifest's digest is the archiver's; the copy in the stand-in is hashed again here.
    let byteExact = false;
    if (archived) {
      const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: weights.key }));
      byteExact = weights.sha256 === expectedSha256 && (await hashOf(object.Body as Readable)) === expectedSha256;
    }
    check(byteExact, 'training-weights: the archived weights differ from the served ones', violations);
    const { Item } = await dynamodb.send(
      new GetItemCommand({ TableName: tableName, Key: { pk: { S: predictionItemKey(id) } }, ConsistentRead: true }),
    );
    const announced = Item?.notifiedAt?.S !== undefined && Item?.[ATTR.kind]?.S === CompletionKind.TRAINING;
    check(announced, `training-weights: the training was not announced (kind ${Item?.[ATTR.kind]?.S ?? '-'})`, violations);
    const rssGrowthBytes = run.maxRssBytes - run.rssAtStartBytes;
    check(
      run.maxRssBytes <= PEAK_RSS_BOUND_BYTES,
      `training-weights: archiver peak RSS ${(run.maxRssBytes / MiB).toFixed(0)} MiB > ${PEAK_RSS_BOUND_BYTES / MiB} MiB`,
      violations,
    );
    check(
      rssGrowthBytes <= RSS_GROWTH_BOUND_BYTES,
      `training-weights: archiver RSS grew ${(rssGrowthBytes / MiB).toFixed(0)} MiB > ${RSS_GROWTH_BOUND_BYTES / MiB} MiB`,
      violations,
    );
    return {
      fileBytes,
      partSize: partSizeFor(fileBytes, 8 * MiB),
      archived,
      byteExact,
      announced,
      seconds: Math.round(run.ms / 100) / 10,
      mibPerSecond: Math.round(fileBytes / MiB / (run.ms / 1000)),
      peakRssBytes: run.maxRssBytes,
      rssAtStartBytes: run.rssAtStartBytes,
      rssGrowthBytes,
      bounds: { peakRssBytes: PEAK_RSS_BOUND_BYTES, rssGrowthBytes: RSS_GROWTH_BOUND_BYTES },
      violations,
    };
  } finally {
    for (const c of [s3, sns, sqs, dynamodb]) c.destroy();
    fileServer.closeAllConnections();
    fileServer.close();
    await keepAlive.stop();
    fauxqs.child.kill('SIGTERM');
    await dynamoDbLocal.stop();
  }
}
