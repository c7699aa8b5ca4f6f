/**
 * What the verifier and the archiver are billed for, per invocation, measured rather than assumed:
 * each shipped bundle runs warm in a process held to what Lambda gives its memory (a cgroup CPU
 * quota of memory ÷ 1,769 MB of a core, and the memory itself, where this machine lets us make
 * them), with the network held to stated in-region times (a proxy in front of each stand-in holds
 * an answer until the stated time has passed since the request, so the stand-ins' own time is not
 * added to it; an output host answers after a first-byte delay, at a bounded rate).
 *
 * The verifier: every webhook of a prediction's life. The archiver: the cost model's prediction
 * (3 outputs of 2 MB), one invocation at a time, at several memory sizes, against the same archival
 * on loopback with a whole core (the baseline, in the same run); and outputs larger than a part,
 * for the rate the CPU share allows and the peak memory. The billed means go to
 * docs/measured-durations.json, from which the cost estimate prices both functions' compute.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileConcurrencyFor } from '../lambda/archiver/settings';
import { manifestKey } from '../lambda/shared/archive-layout';
import type { ArchiveManifest } from '../lambda/shared/completion-message';
import { FORWARDER_FUNCTION_DEFAULTS, loggingEnvironment, VERIFIER_FUNCTION_DEFAULTS } from '../lambda/shared/function-defaults';
import { forwarderEnvironment } from '../lambda/forwarder/settings';
import { parsePrediction } from '../lambda/shared/prediction';
import { signWebhook } from '../lambda/shared/signature';
import { toHttpApiEvent } from '../local/aws/api-gateway';
import { startSecretsManager } from '../local/aws/standins/secrets-manager';
import { WebhookStore } from '../lambda/store/webhook-store';
import { startDynamoDbLocal } from '../local/aws/standins/dynamodb-local';
import { createStateTable } from '../local/state-table';
import { startFauxqsProcess } from './archive-throughput';
import { startCountingProxy, type CountingProxy } from './counting-proxy';
import { archiveQueueEvent } from './sqs-event';
import { median, percentile, ratio, table } from './stats';

const mean = (values: readonly number[]): number => values.reduce((total, value) => total + value, 0) / values.length;
/** The mean of what Lambda bills for each invocation: its duration rounded up to the millisecond. */
const billedMean = (ms: readonly number[]): number => Number(mean(ms.map((value) => Math.ceil(value))).toFixed(1));

const MiB = 1024 * 1024;
/** Lambda gives a function a whole vCPU at 1,769 MB, and CPU in proportion to its memory. */
export const LAMBDA_MB_PER_VCPU = 1769;
export const DURATION_MEMORY_SIZES_MB = [256, 512, 1024] as const;
/** The cost model's prediction: 3 outputs of 2 MB (scripts/cost/assumptions.ts). */
const OUTPUT_FILES = 3;
const OUTPUT_BYTES = 2 * 1000 * 1000;
/** Archivals per memory size; the first is left out (its SDK clients open their connections). */
const ARCHIVALS = 13;
/** Finished predictions' stream records through the forwarder, one per invocation; the first is left out. */
const FORWARDED_PREDICTIONS = 21;
/** Predictions whose webhooks go through the verifier; the first is left out. */
const VERIFIED_PREDICTIONS = 16;
/** Larger than a part (8 MiB): each file holds its multipart buffers. */
const LARGE_OUTPUT_BYTES = 64 * MiB;

/**
 * The network the archiver would see in its region, stated rather than measured (neither AWS nor
 * Replicate can be reached from here). Each is held on every request through the proxies.
 */
export const NETWORK = {
  /** DynamoDB: "single-digit millisecond" reads and writes; the upper end. */
  dynamodbMs: 9,
  /** S3: its performance guide's "roughly 100–200 milliseconds" for small objects; the low end, for every request. */
  s3Ms: 100,
  /** Uploads into S3 from Lambda, per MiB, besides the request's latency. */
  s3MsPerMiB: 10,
  sqsMs: 20,
  snsMs: 30,
  /** replicate.delivery (a CDN): time to the first byte of an output, and its rate after that. */
  outputFirstByteMs: 100,
  outputMiBPerSecond: 50,
} as const;

export interface DurationRun {
  readonly memoryMb: number;
  /** The CPU quota the archiver ran under (a share of one core), or none when none could be set. */
  readonly cpuShare?: number;
  readonly ms: number[];
  readonly cpuMs: number[];
}

export interface LargeRun {
  readonly memoryMb: number;
  readonly cpuShare?: number;
  readonly files: number;
  readonly fileBytes: number;
  readonly ms: number;
  /** The archiver process's peak RSS, bundle and all (shared pages included). */
  readonly maxRssBytes: number;
  /** The memory cgroup's peak (what a limit of the function's memory is held against), where one could be made. */
  readonly peakMemoryBytes?: number;
}

/** The verifier, warm, on every webhook of a prediction's life (start, 4 logs/output, completed). */
export interface VerifierRun {
  readonly memoryMb: number;
  readonly cpuShare?: number;
  /** Per webhook, in the order sent (the first prediction's, which open connections, left out). */
  readonly ms: number[];
  readonly kinds: string[];
}

/** The forwarder, warm: one finished prediction's stream record per invocation, queued with SendMessageBatch. */
export interface ForwarderRun {
  readonly memoryMb: number;
  readonly cpuShare?: number;
  readonly ms: number[];
}

export interface DurationsResult {
  readonly outputFiles: number;
  readonly outputBytes: number;
  readonly network: typeof NETWORK;
  readonly baseline: DurationRun;
  readonly runs: DurationRun[];
  /** Outputs larger than a part, on loopback: what the CPU share allows, and the memory. */
  readonly large: LargeRun[];
  readonly verifier: VerifierRun;
  readonly forwarder: ForwarderRun;
}

export const MEASURED_DURATIONS_FILE = join(__dirname, '..', 'docs', 'measured-durations.json');

/**
 * Cgroups holding their processes to what Lambda gives `memoryMb`: memory ÷ 1,769 MB of a core,
 * and the memory itself (past it, the kernel kills the process, as Lambda ends the invocation).
 * Undefined parts when this machine does not let us make them (not root, or no such controller).
 */
function lambdaCgroups(
  name: string,
  memoryMb: number,
): { readonly dirs: string[]; readonly cpuLimited: boolean; peakMemoryBytes(): number | undefined; remove(): void } {
  const period = 100_000;
  const quota = Math.max(1000, Math.round((memoryMb / LAMBDA_MB_PER_VCPU) * period));
  const limits: Array<[kind: 'cpu' | 'memory', root: string, write: (dir: string) => void]> = [
    [
      'cpu',
      '/sys/fs/cgroup/cpu',
      (dir) => {
        writeFileSync(join(dir, 'cpu.cfs_period_us'), String(period));
        writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(quota));
      },
    ],
    ['memory', '/sys/fs/cgroup/memory', (dir) => writeFileSync(join(dir, 'memory.limit_in_bytes'), String(memoryMb * MiB))],
  ];
  const dirs: string[] = [];
  let cpuLimited = false;
  for (const [kind, root, write] of limits) {
    if (!existsSync(root)) continue;
    const dir = join(root, name);
    try {
      mkdirSync(dir, { recursive: true });
      write(dir);
      dirs.push(dir);
      if (kind === 'cpu') cpuLimited = true;
    } catch {
      removeCgroup(dir);
    }
  }
  const memoryDir = dirs.find((dir) => dir.startsWith('/sys/fs/cgroup/memory/'));
  return {
    dirs,
    cpuLimited,
    // What the memory controller charged: the process's own pages, not the shared ones its RSS counts too.
    peakMemoryBytes: () => (memoryDir ? Number(readFileSync(join(memoryDir, 'memory.max_usage_in_bytes'), 'utf8')) : undefined),
    remove: () => dirs.forEach(removeCgroup),
  };
}

function removeCgroup(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // Never made, or still busy for a moment; an empty leftover group harms nothing.
  }
}

interface Invocation {
  readonly ms: number;
  readonly cpuMs: number;
  readonly result: SQSBatchResponse;
}

function runWarm(
  handlerName: 'archiver' | 'verifier' | 'forwarder',
  eventsFile: string,
  env: NodeJS.ProcessEnv,
  memoryMb?: number,
  cgroupDirs: readonly string[] = [],
): Promise<{ invocations: Invocation[]; maxRssBytes: number }> {
  const script = join(__dirname, 'processes', 'handler-warm.cjs');
  // The heap limits Lambda's Node.js bootstrap sets for the function's memory.
  const heap =
    memoryMb === undefined
      ? []
      : [`--max-semi-space-size=${Math.floor(memoryMb / 20)}`, `--max-old-space-size=${Math.floor((memoryMb * 9) / 10)}`];
  // BENCH_NODE_ARGS: more flags for the archiver's process, such as `--cpu-prof --cpu-prof-dir=…` to see where its time goes.
  const extra = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const node = [process.execPath, ...heap, ...extra, script, handlerName, eventsFile];
  // Into the cgroups before node starts, so the bundle loads under the limits too (as Lambda's init does).
  const enter = cgroupDirs.map((dir) => `echo $$ > ${join(dir, 'cgroup.procs')}`).join(' && ');
  const [command, args] = enter ? ['/bin/sh', ['-c', `${enter} && exec "$0" "$@"`, ...node]] : [node[0], node.slice(1)];
  return new Promise((resolve, reject) => {
    execFile(command, args, { env, maxBuffer: 16 * MiB }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`${handlerName}-warm failed: ${stderr || error.message}`));
      resolve(JSON.parse(stdout.trim().split('\n').pop()!) as { invocations: Invocation[]; maxRssBytes: number });
    });
  });
}

/** An output host with a first-byte delay and a bounded rate (bytes are deterministic, their value does not matter). */
function startOutputHost(firstByteMs: number, mibPerSecond: number): Promise<Server> {
  const chunk = randomBytes(64 * 1024);
  const server = createServer((request, response) => {
    const size = Number(new URL(request.url ?? '/', 'http://x').searchParams.get('size') ?? OUTPUT_BYTES);
    setTimeout(() => {
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size) });
      let sent = 0;
      const started = Date.now();
      const pump = () => {
        while (sent < size) {
          // Ahead of the rate: wait until the bytes sent so far are due.
          const dueMs = (sent / MiB / mibPerSecond) * 1000;
          const aheadMs = dueMs - (Date.now() - started);
          if (aheadMs > 1) return void setTimeout(pump, aheadMs);
          const piece = chunk.subarray(0, Math.min(chunk.length, size - sent));
          sent += piece.length;
          if (!response.write(piece)) return void response.once('drain', pump);
        }
        response.end();
      };
      pump();
    }, firstByteMs);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** What every handler process here is given, besides its own wiring: a region and stand-in credentials. */
const LOCAL_AWS_ENV = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'local',
  AWS_SECRET_ACCESS_KEY: 'local',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
} as const;

export async function benchDurations(): Promise<DurationsResult> {
  const dynamoDbLocal = await startDynamoDbLocal();
  const fauxqs = await startFauxqsProcess();
  const proxies: CountingProxy[] = [];
  const hosts: Server[] = [];
  const scratch = mkdtempSync(join(tmpdir(), 'archive-duration-'));
  try {
    const fauxqsPort = fauxqs.port;
    const client = { region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
    const direct = {
      s3: new S3Client({ ...client, endpoint: `http://127.0.0.1:${fauxqsPort}`, forcePathStyle: true }),
      sns: new SNSClient({ ...client, endpoint: `http://127.0.0.1:${fauxqsPort}` }),
      sqs: new SQSClient({ ...client, endpoint: `http://127.0.0.1:${fauxqsPort}`, useQueueUrlAsEndpoint: false }),
      dynamodb: new DynamoDBClient({ ...client, endpoint: dynamoDbLocal.endpoint }),
    };
    // A bucket name that is not DNS-compatible: path-style URLs, no DNS tricks in the child.
    const bucket = 'bench_duration';
    const tableName = 'bench-duration-state';
    await direct.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await createStateTable(direct.dynamodb, tableName);
    const { TopicArn } = await direct.sns.send(new CreateTopicCommand({ Name: 'bench-duration' }));
    const { QueueUrl: queueUrl } = await direct.sqs.send(new CreateQueueCommand({ QueueName: 'bench-duration' }));
    if (!queueUrl) throw new Error('the queue stand-in gave no queue URL');
    const { Attributes } = await direct.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
    );
    const store = new WebhookStore(direct.dynamodb, direct.s3, {
      tableName,
      bucketName: bucket,
      archivePrefix: '',
      maxInlinePayloadBytes: 16 * 1024,
    });

    const environment = async (network: boolean) => {
      const held = (ms: number) => (network ? ms : 0);
      const dynamodb = await startCountingProxy(Number(new URL(dynamoDbLocal.endpoint).port), {
        latencyMs: () => held(NETWORK.dynamodbMs),
      });
      const aws = await startCountingProxy(fauxqsPort, {
        latencyMs: ({ target, method, requestBytes }) => {
          if (target.startsWith('AmazonSQS.')) return held(NETWORK.sqsMs);
          if (method === 'POST' && target === 'POST /') return held(NETWORK.snsMs);
          return held(NETWORK.s3Ms + (method === 'PUT' ? (requestBytes / MiB) * NETWORK.s3MsPerMiB : 0));
        },
      });
      proxies.push(dynamodb, aws);
      const host = network
        ? await startOutputHost(NETWORK.outputFirstByteMs, NETWORK.outputMiBPerSecond)
        : await startOutputHost(0, 1e9);
      hosts.push(host);
      const awsEndpoint = `http://127.0.0.1:${aws.port}`;
      return {
        outputOrigin: `http://127.0.0.1:${(host.address() as AddressInfo).port}`,
        env: {
          ...process.env,
          ...LOCAL_AWS_ENV,
          AWS_ENDPOINT_URL_DYNAMODB: `http://127.0.0.1:${dynamodb.port}`,
          AWS_ENDPOINT_URL_S3: awsEndpoint,
          AWS_ENDPOINT_URL_SNS: awsEndpoint,
          AWS_ENDPOINT_URL_SQS: awsEndpoint,
          TABLE_NAME: tableName,
          BUCKET_NAME: bucket,
          COMPLETION_TOPIC_ARN: TopicArn,
          ARCHIVE_QUEUE_URL: queueUrl,
          ALLOWED_OUTPUT_HOSTS: `http://127.0.0.1:${(host.address() as AddressInfo).port}`,
          ALLOW_PRIVATE_ADDRESSES: 'true',
          POWERTOOLS_LOG_LEVEL: 'ERROR',
        } as NodeJS.ProcessEnv,
      };
    };

    /** Records ARCHIVALS finished predictions, queues a message for each, and receives them (real receipt handles). */
    const prepare = async (
      outputOrigin: string,
      outputs: (n: number) => number[] = () => Array.from({ length: OUTPUT_FILES }, () => OUTPUT_BYTES),
      archivals = ARCHIVALS,
    ): Promise<{ events: SQSEvent[]; ids: string[] }> => {
      const ids: string[] = [];
      const events: SQSEvent[] = [];
      for (let n = 0; n < archivals; n++) {
        const id = `dur${randomBytes(6).toString('hex')}`;
        ids.push(id);
        const body = JSON.stringify({
          id,
          status: 'succeeded',
          model: 'bench/three-images',
          version: 'a'.repeat(64),
          input: { prompt: 'a lighthouse at dusk, '.repeat(20) },
          output: outputs(n).map((size, file) => `${outputOrigin}/${id}/out-${file}.png?size=${size}`),
          logs: 'step 1/50\n'.repeat(150),
          metrics: { predict_time: 4.2 },
          urls: { get: `https://api.replicate.com/v1/predictions/${id}` },
        });
        const parsed = parsePrediction(body);
        if (!parsed.ok) throw new Error('bad bench payload');
        await store.record({
          webhookId: `msg_${id}`,
          timestampSeconds: Math.floor(Date.now() / 1000),
          prediction: parsed.prediction,
          body,
          bodyBytes: Buffer.byteLength(body),
          receivedAt: new Date(),
        });
        await direct.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify({ predictionId: id }) }));
        const { Messages = [] } = await direct.sqs.send(
          new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 1, VisibilityTimeout: 600, WaitTimeSeconds: 1 }),
        );
        const message = Messages[0];
        if (!message?.ReceiptHandle || !message.Body) throw new Error('the queued archive request did not come back');
        events.push(
          archiveQueueEvent(
            { messageId: message.MessageId ?? id, receiptHandle: message.ReceiptHandle, body: message.Body },
            Attributes?.QueueArn ?? 'arn:aws:sqs:us-east-1:000000000000:bench-duration',
          ),
        );
      }
      return { events, ids };
    };

    const measure = async (memoryMb: number | undefined, network: boolean): Promise<DurationRun> => {
      const { env, outputOrigin } = await environment(network);
      const { events, ids } = await prepare(outputOrigin);
      const eventsFile = join(scratch, `events-${memoryMb ?? 'baseline'}.json`);
      writeFileSync(eventsFile, JSON.stringify(events));
      const share = memoryMb === undefined ? undefined : memoryMb / LAMBDA_MB_PER_VCPU;
      const cgroup =
        memoryMb === undefined ? undefined : lambdaCgroups(`replicate-webhooks-bench-${process.pid}-${memoryMb}`, memoryMb);
      let invocations: Invocation[];
      try {
        ({ invocations } = await runWarm('archiver', eventsFile, env, memoryMb, cgroup?.dirs));
      } finally {
        cgroup?.remove();
      }
      for (const [n, invocation] of invocations.entries()) {
        if (invocation.result.batchItemFailures.length > 0)
          throw new Error(`archival failed: ${JSON.stringify(invocation.result)}`);
        const object = await direct.s3.send(new GetObjectCommand({ Bucket: bucket, Key: manifestKey('', ids[n]) }));
        const manifest = JSON.parse(await object.Body!.transformToString()) as ArchiveManifest;
        if (manifest.files.length !== OUTPUT_FILES) throw new Error(`archival incomplete: ${JSON.stringify(manifest.failures)}`);
      }
      const warm = invocations.slice(1);
      return {
        memoryMb: memoryMb ?? 0,
        ...(cgroup?.cpuLimited && share !== undefined ? { cpuShare: Number(share.toFixed(3)) } : {}),
        ms: warm.map((invocation) => Math.round(invocation.ms)),
        cpuMs: warm.map((invocation) => Math.round(invocation.cpuMs)),
      };
    };

    /** Files larger than a part, as many at once as the memory's default concurrency: the rate the CPU share allows, and the peak memory. */
    const measureLarge = async (memoryMb: number): Promise<LargeRun> => {
      const { env, outputOrigin } = await environment(false);
      const files = fileConcurrencyFor(memoryMb);
      const { events, ids } = await prepare(
        outputOrigin,
        (n) => (n === 0 ? [OUTPUT_BYTES] : Array.from({ length: files }, () => LARGE_OUTPUT_BYTES)),
        2,
      );
      const eventsFile = join(scratch, `large-${memoryMb}.json`);
      writeFileSync(eventsFile, JSON.stringify(events));
      const share = memoryMb / LAMBDA_MB_PER_VCPU;
      const cgroup = lambdaCgroups(`replicate-webhooks-bench-${process.pid}-large-${memoryMb}`, memoryMb);
      try {
        const { invocations, maxRssBytes } = await runWarm(
          'archiver',
          eventsFile,
          { ...env, FILE_CONCURRENCY: String(files) },
          memoryMb,
          cgroup.dirs,
        );
        const large = invocations[1];
        if (large.result.batchItemFailures.length > 0) throw new Error(`archival failed: ${JSON.stringify(large.result)}`);
        const object = await direct.s3.send(new GetObjectCommand({ Bucket: bucket, Key: manifestKey('', ids[1]) }));
        const manifest = JSON.parse(await object.Body!.transformToString()) as ArchiveManifest;
        if (manifest.files.length !== files) throw new Error(`archival incomplete: ${JSON.stringify(manifest.failures)}`);
        return {
          memoryMb,
          ...(cgroup.cpuLimited ? { cpuShare: Number(share.toFixed(3)) } : {}),
          files,
          fileBytes: LARGE_OUTPUT_BYTES,
          ms: Math.round(large.ms),
          maxRssBytes,
          ...(cgroup.peakMemoryBytes() !== undefined ? { peakMemoryBytes: cgroup.peakMemoryBytes() } : {}),
        };
      } finally {
        cgroup.remove();
      }
    };

    /** PREDICTIONS predictions' webhooks, signed, one after the other through the verifier at `memoryMb`. */
    const measureVerifier = async (memoryMb: number): Promise<VerifierRun> => {
      const secrets = await startSecretsManager();
      const secret = `whsec_${randomBytes(24).toString('base64')}`;
      secrets.putSecret('bench-duration-secret', secret);
      try {
        const dynamodb = await startCountingProxy(Number(new URL(dynamoDbLocal.endpoint).port), {
          latencyMs: () => NETWORK.dynamodbMs,
        });
        proxies.push(dynamodb);
        const kinds: string[] = [];
        const events = [];
        const now = Math.floor(Date.now() / 1000);
        for (let p = 0; p < VERIFIED_PREDICTIONS; p++) {
          const id = `ver${randomBytes(6).toString('hex')}`;
          const created = new Date().toISOString();
          const life: Array<[kind: string, status: string, body: Record<string, unknown>]> = [
            ['start', 'starting', { logs: '', output: null }],
            ...[1, 2, 3, 4].map((step): [string, string, Record<string, unknown>] => [
              'intermediate',
              'processing',
              {
                logs: 'step 1/50\n'.repeat(step * 10),
                output: Array.from({ length: Math.min(step, 3) }, (_, n) => `https://replicate.delivery/xezq/${id}/out-${n}.png`),
              },
            ]),
            [
              'terminal',
              'succeeded',
              {
                logs: 'step 1/50\n'.repeat(150),
                output: Array.from({ length: OUTPUT_FILES }, (_, n) => `https://replicate.delivery/xezq/${id}/out-${n}.png`),
                completed_at: new Date().toISOString(),
                metrics: { predict_time: 4.2 },
              },
            ],
          ];
          for (const [n, [kind, status, fields]] of life.entries()) {
            const body = Buffer.from(
              JSON.stringify({
                id,
                model: 'black-forest-labs/flux-schnell',
                version: '5599ed30703defd1d160a25a63321b4dec97101d98b4674bcc56e41f62f35637',
                status,
                input: { prompt: 'a lighthouse at dusk, '.repeat(20) },
                created_at: created,
                urls: { get: `https://api.replicate.com/v1/predictions/${id}` },
                ...fields,
              }),
            );
            const webhookId = `msg_${randomBytes(12).toString('hex')}`;
            const timestamp = String(now + n);
            kinds.push(kind);
            events.push(
              toHttpApiEvent({
                method: 'POST',
                path: '/webhook',
                headers: [
                  ['content-type', 'application/json'],
                  ['webhook-id', webhookId],
                  ['webhook-timestamp', timestamp],
                  ['webhook-signature', signWebhook(secret, webhookId, timestamp, body)],
                ],
                body,
              }),
            );
          }
        }
        const eventsFile = join(scratch, `verifier-${memoryMb}.json`);
        writeFileSync(eventsFile, JSON.stringify(events));
        const env: NodeJS.ProcessEnv = {
          ...process.env,
          ...LOCAL_AWS_ENV,
          AWS_ENDPOINT_URL_DYNAMODB: `http://127.0.0.1:${dynamodb.port}`,
          AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
          TABLE_NAME: tableName,
          SIGNING_SECRET_ID: 'bench-duration-secret',
          BUCKET_NAME: bucket,
          // As the construct deploys it: lean logs, the alarms' metric series.
          ...loggingEnvironment(false),
        };
        const cgroup = lambdaCgroups(`replicate-webhooks-bench-${process.pid}-verifier-${memoryMb}`, memoryMb);
        try {
          const { invocations } = await runWarm('verifier', eventsFile, env, memoryMb, cgroup.dirs);
          for (const invocation of invocations) {
            const answer = invocation.result as unknown as { statusCode?: number; body?: string };
            if (answer.statusCode !== 200) throw new Error(`the verifier answered ${answer.statusCode}: ${answer.body}`);
          }
          const perPrediction = kinds.length / VERIFIED_PREDICTIONS;
          return {
            memoryMb,
            ...(cgroup.cpuLimited ? { cpuShare: Number((memoryMb / LAMBDA_MB_PER_VCPU).toFixed(3)) } : {}),
            ms: invocations.slice(perPrediction).map((invocation) => Number(invocation.ms.toFixed(1))),
            kinds: kinds.slice(perPrediction),
          };
        } finally {
          cgroup.remove();
        }
      } finally {
        await secrets.stop();
      }
    };

    /** FORWARDED_PREDICTIONS stream records, one per invocation, through the forwarder at `memoryMb`; SQS held to its time. */
    const measureForwarder = async (memoryMb: number): Promise<ForwarderRun> => {
      const sqs = await startCountingProxy(fauxqsPort, { latencyMs: () => NETWORK.sqsMs });
      proxies.push(sqs);
      const events = Array.from({ length: FORWARDED_PREDICTIONS }, (_, n) => {
        const id = `fwd${randomBytes(6).toString('hex')}`;
        const keys = { pk: { S: `prediction#${id}` } };
        return {
          Records: [
            {
              eventID: `fwd-${n}`,
              eventName: 'MODIFY',
              eventVersion: '1.1',
              eventSource: 'aws:dynamodb',
              awsRegion: 'us-east-1',
              eventSourceARN: 'arn:aws:dynamodb:us-east-1:000000000000:table/bench-duration-state/stream/2026-12-07T00:00:00.000',
              dynamodb: {
                Keys: keys,
                NewImage: { ...keys, predictionId: { S: id }, status: { S: 'succeeded' }, terminalStatus: { S: 'succeeded' } },
                OldImage: { ...keys, predictionId: { S: id }, status: { S: 'processing' } },
                SequenceNumber: String(100_000 + n),
                SizeBytes: 700,
                StreamViewType: 'NEW_AND_OLD_IMAGES',
              },
            },
          ],
        };
      });
      const eventsFile = join(scratch, `forwarder-${memoryMb}.json`);
      writeFileSync(eventsFile, JSON.stringify(events));
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        ...LOCAL_AWS_ENV,
        AWS_ENDPOINT_URL_SQS: `http://127.0.0.1:${sqs.port}`,
        ...forwarderEnvironment({ queueUrl }),
        ...loggingEnvironment(false),
      };
      const cgroup = lambdaCgroups(`replicate-webhooks-bench-${process.pid}-forwarder-${memoryMb}`, memoryMb);
      try {
        const { invocations } = await runWarm('forwarder', eventsFile, env, memoryMb, cgroup.dirs);
        for (const invocation of invocations) {
          const failures = (invocation.result as unknown as { batchItemFailures?: unknown[] }).batchItemFailures ?? [];
          if (failures.length > 0) throw new Error(`the forwarder could not queue: ${JSON.stringify(invocation.result)}`);
        }
        return {
          memoryMb,
          ...(cgroup.cpuLimited ? { cpuShare: Number((memoryMb / LAMBDA_MB_PER_VCPU).toFixed(3)) } : {}),
          // The first opens its connection.
          ms: invocations.slice(1).map((invocation) => Number(invocation.ms.toFixed(1))),
        };
      } finally {
        cgroup.remove();
      }
    };

    const baseline = await measure(undefined, false);
    const runs: DurationRun[] = [];
    for (const memoryMb of DURATION_MEMORY_SIZES_MB) runs.push(await measure(memoryMb, true));
    const large: LargeRun[] = [];
    for (const memoryMb of DURATION_MEMORY_SIZES_MB) large.push(await measureLarge(memoryMb));
    const verifier = await measureVerifier(VERIFIER_FUNCTION_DEFAULTS.memorySizeMb);
    const forwarder = await measureForwarder(FORWARDER_FUNCTION_DEFAULTS.memorySizeMb);
    for (const c of Object.values(direct)) c.destroy();
    const result: DurationsResult = {
      outputFiles: OUTPUT_FILES,
      outputBytes: OUTPUT_BYTES,
      network: NETWORK,
      baseline,
      runs,
      large,
      verifier,
      forwarder,
    };
    writeFileSync(MEASURED_DURATIONS_FILE, `${JSON.stringify(measuredDurations(result), null, 2)}\n`);
    return result;
  } finally {
    for (const host of hosts) {
      host.closeAllConnections();
      host.close();
    }
    for (const proxy of proxies) await proxy.stop();
    fauxqs.child.kill('SIGTERM');
    await dynamoDbLocal.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** What the cost estimate reads: the median warm duration at each memory size. */
export function measuredDurations(result: DurationsResult) {
  return {
    command: 'npm run bench -- duration',
    archival: `${result.outputFiles} outputs of ${result.outputBytes / 1e6} MB, warm, one prediction per invocation`,
    network: result.network,
    cpuLimited: result.runs.every((run) => run.cpuShare !== undefined),
    // Means of what Lambda bills (whole milliseconds): the estimate multiplies by the count.
    archiverMs: Object.fromEntries(result.runs.map((run) => [String(run.memoryMb), billedMean(run.ms)])),
    archiverCpuMs: Object.fromEntries(result.runs.map((run) => [String(run.memoryMb), median(run.cpuMs)])),
    verifierMs: {
      [String(result.verifier.memoryMb)]: billedMean(result.verifier.ms),
    },
    forwarderMs: { [String(result.forwarder.memoryMb)]: billedMean(result.forwarder.ms) },
    verifierMsByKind: Object.fromEntries(
      [...new Set(result.verifier.kinds)].map((kind) => [
        kind,
        Number(mean(result.verifier.ms.filter((_, n) => result.verifier.kinds[n] === kind)).toFixed(1)),
      ]),
    ),
    largeOutputs: result.large.map((run) => ({
      memoryMb: run.memoryMb,
      files: run.files,
      fileMiB: run.fileBytes / MiB,
      mibPerSecond: Number(((run.files * run.fileBytes) / MiB / (run.ms / 1000)).toFixed(1)),
      peakRssMiB: Math.round(run.maxRssBytes / MiB),
      ...(run.peakMemoryBytes !== undefined ? { peakMemoryMiB: Math.round(run.peakMemoryBytes / MiB) } : {}),
    })),
  };
}

export function reportDurations(result: DurationsResult): string {
  const base = median(result.baseline.ms);
  const rows = [['', 'median', 'mean billed', 'p90', 'CPU (median)', 'against loopback, whole core', 'GB-s per archival (mean)']];
  rows.push([
    'loopback, a whole core (baseline)',
    `${base} ms`,
    `${billedMean(result.baseline.ms)} ms`,
    `${percentile(result.baseline.ms, 90)} ms`,
    `${median(result.baseline.cpuMs)} ms`,
    '1.00×',
    '',
  ]);
  for (const run of result.runs) {
    const ms = median(run.ms);
    rows.push([
      `${run.memoryMb} MB${run.cpuShare !== undefined ? ` (${run.cpuShare} of a core)` : ' (CPU not limited: no cgroup here)'}, in-region network`,
      `${ms} ms`,
      `${billedMean(run.ms)} ms`,
      `${percentile(run.ms, 90)} ms`,
      `${median(run.cpuMs)} ms`,
      ratio(ms, base),
      ((run.memoryMb / 1024) * (billedMean(run.ms) / 1000)).toFixed(3),
    ]);
  }
  const n = result.network;
  const largeRows = [['memory', 'files at once', 'rate', 'peak memory (cgroup)', 'peak RSS']];
  for (const run of result.large) {
    largeRows.push([
      `${run.memoryMb} MB${run.cpuShare !== undefined ? ` (${run.cpuShare} of a core)` : ' (CPU not limited)'}`,
      `${run.files} × ${run.fileBytes / MiB} MiB`,
      `${((run.files * run.fileBytes) / MiB / (run.ms / 1000)).toFixed(1)} MiB/s`,
      run.peakMemoryBytes !== undefined ? `${(run.peakMemoryBytes / MiB).toFixed(0)} MiB` : 'not measured',
      `${(run.maxRssBytes / MiB).toFixed(0)} MiB`,
    ]);
  }
  const v = result.verifier;
  const verifierRows = [['webhook', 'mean', 'p90']];
  for (const kind of [...new Set(v.kinds)]) {
    const ms = v.ms.filter((_, n) => v.kinds[n] === kind);
    verifierRows.push([kind, `${mean(ms).toFixed(1)} ms`, `${percentile(ms, 90).toFixed(1)} ms`]);
  }
  verifierRows.push([
    'every webhook (what the cost model prices)',
    `${mean(v.ms).toFixed(1)} ms`,
    `${percentile(v.ms, 90).toFixed(1)} ms`,
  ]);
  const f = result.forwarder;
  return [
    `The forwarder, warm, at ${f.memoryMb} MB${f.cpuShare !== undefined ? ` (${f.cpuShare} of a core)` : ' (CPU not limited)'}, SQS held to ${result.network.sqsMs} ms: ` +
      `${mean(f.ms).toFixed(1)} ms mean, ${percentile(f.ms, 90).toFixed(1)} ms p90 per finished prediction (${f.ms.length} invocations)`,
    `The verifier, warm, at ${v.memoryMb} MB${v.cpuShare !== undefined ? ` (${v.cpuShare} of a core)` : ' (CPU not limited)'}, DynamoDB held to ${result.network.dynamodbMs} ms (${v.ms.length} webhooks):`,
    table(verifierRows),
    `An archival of ${result.outputFiles} outputs of ${result.outputBytes / 1e6} MB by the shipped archiver, warm (${result.baseline.ms.length} per row; docs/measured-durations.json):`,
    table(rows),
    'Outputs larger than a part, on loopback, as many at once as the memory size allows by default (fileConcurrencyFor):',
    table(largeRows),
    `network held to: DynamoDB ${n.dynamodbMs} ms, S3 ${n.s3Ms} ms + ${n.s3MsPerMiB} ms/MiB uploaded, SQS ${n.sqsMs} ms, SNS ${n.snsMs} ms; outputs ${n.outputFirstByteMs} ms to the first byte, then ${n.outputMiBPerSecond} MiB/s`,
  ].join('\n');
}
