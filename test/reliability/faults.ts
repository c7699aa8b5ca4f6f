/**
 * Faults: DynamoDB cut while webhooks arrive; S3, SNS and the secret store cut during archival;
 * the archiver killed between upload and notification. Nothing may be lost or acknowledged
 * without being recorded, and every retry must complete without duplicates.
 */
import { CreateBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { manifestKey } from '../../lambda/shared/archive-layout';
import { parsePrediction } from '../../lambda/shared/prediction';
import { WebhookStore } from '../../lambda/store/webhook-store';
import { sendDelivery } from '../../cli/send';
import { seededRandom } from '../../cli/scenarios';
import { createStateTable } from '../../local/state-table';
import { startSqsPoller, type SqsPoller } from '../../local/aws/sqs-poller';
import { startForwarder } from '../support/forwarder';
import { subscribeQueue } from '../support/notifications';
import { startTcpProxy } from '../support/tcp-proxy';
import { STATUS_RANK, type PredictionStatus } from '../../lambda/shared/prediction';
import { check, createArchiveQueue, pool, queueDepth, type Harness } from './harness';
import { planPrediction, type PredictionPlan } from './lifecycles';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Answer {
  readonly webhookId: string;
  readonly predictionId: string;
  readonly statusRank: number;
  readonly timestamp: number;
  readonly status: number;
  readonly outcome?: string;
  readonly sentAt: number;
  readonly answeredAt: number;
}

const sentWebhook = (plan: PredictionPlan, webhook: PredictionPlan['webhooks'][number]) => ({
  webhookId: webhook.webhookId,
  predictionId: plan.id,
  statusRank: STATUS_RANK[webhook.status as PredictionStatus],
  timestamp: webhook.timestamp,
});

async function send(harness: Harness, plan: PredictionPlan, answers: Answer[], retryLater: PredictionPlan['webhooks'][number][]) {
  for (const webhook of plan.webhooks) {
    const sentAt = Date.now();
    const result = await sendDelivery(harness.info.webhookUrl, harness.info.secret, webhook, { timestamp: webhook.timestamp });
    const outcome = (JSON.parse(result.body) as { outcome?: string }).outcome;
    answers.push({ ...sentWebhook(plan, webhook), status: result.status, outcome, sentAt, answeredAt: Date.now() });
    // Replicate retries what was not acknowledged; so do we, once the outage is over.
    if (result.status >= 500) retryLater.push(webhook);
  }
}

async function verifyArchived(
  harness: Harness,
  plans: readonly PredictionPlan[],
  violations: string[],
  label: string,
): Promise<number> {
  try {
    await harness.waitForNotified(
      plans.map((plan) => plan.id),
      5 * 60_000,
    );
  } catch (error) {
    // Reported with whatever else broke, instead of hiding it.
    violations.push(`${label}: ${(error as Error).message}`);
    return 0;
  }
  await harness.collectNotifications(1500);
  let notifications = 0;
  for (const plan of plans) {
    const item = await harness.predictionItem(plan.id);
    check(
      item?.status?.S === plan.terminalStatus,
      `${label}: ${plan.id} ended ${item?.status?.S}, expected ${plan.terminalStatus}`,
      violations,
    );
    const manifest = await harness.manifest(plan.id);
    for (const expected of plan.files) {
      const file = manifest.files.find((candidate) => candidate.source === expected.url);
      const exact = file !== undefined && (await harness.objectSha256(file.key)) === expected.sha256;
      check(exact, `${label}: ${plan.id} ${expected.url} not archived byte-exact`, violations);
    }
    check(
      manifest.failures.length === 0,
      `${label}: ${plan.id} archive failures ${JSON.stringify(manifest.failures)}`,
      violations,
    );
    const received = harness.notifications.get(plan.id)?.length ?? 0;
    notifications += received;
    check(received === 1, `${label}: ${plan.id} announced ${received} times`, violations);
  }
  return notifications;
}

export interface DynamoDbCutResult {
  readonly predictions: number;
  readonly webhooks: number;
  readonly outageSeconds: number;
  readonly answered5xxDuringOutage: number;
  readonly answered2xxDuringOutage: number;
  readonly connectionsRefused: number;
  /** Replies DynamoDB sent after applying a request, cut on their way back once the outage was over. */
  readonly repliesLost: number;
  readonly retried: number;
  readonly retriesSucceeded: number;
  /** How many tries each retried webhook took, by count: a webhook meeting a lost reply again and again shows here. */
  readonly triesPerRetry: Record<number, number>;
  readonly acceptedWithoutRecord: number;
  readonly violations: string[];
}

/** Replies lost after the outage (the write applied, the caller never told): one in every few. */
const REPLIES_TO_LOSE = 20;
const LOSE_ONE_REPLY_IN = 4;
/**
 * How a webhook answered 5xx is tried again: waits doubling from 500 ms up to 4 s, each
 * jittered by ±50 %, for at most a minute, as Replicate retries a terminal webhook.
 *
 * While replies are still being lost, a try may fail however often it is made: the outage spent
 * the verifier's SDK retry quota, so a lost reply is answered 503 instead of retried (the write
 * was applied: the next try is answered `duplicate`), and the proxy's one-in-four count runs
 * over every caller's traffic, so a caller can meet it on try after try. (Five tries 500 ms apart
 * once failed the part that way, each answered 503 within 10 ms.) What must hold is that a
 * webhook fails no more once the faults are over: its first try after them is accepted.
 */
const RETRY_FIRST_WAIT_MS = 500;
const RETRY_MAX_WAIT_MS = 4000;
const RETRY_WINDOW_MS = 60_000;

/** DynamoDB unreachable for a few seconds while webhooks arrive, then some of its replies lost. */
export async function runDynamoDbCut(harness: Harness, seed: number): Promise<DynamoDbCutResult> {
  const random = seededRandom(seed);
  const plans = Array.from({ length: 60 }, () =>
    planPrediction(random, harness.files, { duplicateRate: 0.2, reorderRate: 0.1, lateRate: 0.1 }),
  );
  const answers: Answer[] = [];
  const retryLater: PredictionPlan['webhooks'][number][] = [];
  const proxy = harness.proxies.dynamodb;
  const refusedBefore = proxy.refused;
  const lostBefore = proxy.lostReplies;
  let outage = { from: 0, to: 0 };
  const cut = (async () => {
    await sleep(400);
    outage = { from: Date.now(), to: 0 };
    proxy.down();
    await sleep(3000);
    proxy.up();
    outage = { ...outage, to: Date.now() };
    // Every caller retries these and meets its own write: the verifier answers 2xx (or, its SDK's
    // retries spent by the outage, 503 and then `duplicate` to the sender's retry), the archiver
    // must find its own claim, the forwarder's event source must read on from where it was.
    proxy.loseReplies(REPLIES_TO_LOSE, LOSE_ONE_REPLY_IN);
  })();
  await pool(plans, 12, (plan) => send(harness, plan, answers, retryLater));
  await cut;

  let retriesSucceeded = 0;
  // What each retry that never succeeded met, try by try: the first thing to read when one fails.
  const stillFailing: string[] = [];
  const triesPerRetry: Record<number, number> = {};
  const faultsOver = () => proxy.lostReplies - lostBefore >= REPLIES_TO_LOSE;
  for (const webhook of retryLater) {
    const met: string[] = [];
    let succeeded = false;
    const giveUpAt = Date.now() + RETRY_WINDOW_MS;
    for (let attempt = 0; ; attempt++) {
      const healed = faultsOver();
      const result = await sendDelivery(harness.info.webhookUrl, harness.info.secret, webhook, { timestamp: webhook.timestamp });
      met.push(`${result.status} ${result.body} after ${result.ms} ms${healed ? ' (faults over)' : ''}`);
      if (result.status < 500) {
        succeeded = true;
        retriesSucceeded++;
        const outcome = (JSON.parse(result.body) as { outcome?: string }).outcome;
        answers.push({
          ...sentWebhook(
            plans.find((plan) => plan.webhooks.includes(webhook))!,
            webhook,
          ),
          status: result.status,
          outcome,
          sentAt: Date.now(),
          answeredAt: Date.now(),
        });
        break;
      }
      if (healed || Date.now() >= giveUpAt) break;
      await sleep(Math.min(RETRY_MAX_WAIT_MS, RETRY_FIRST_WAIT_MS * 2 ** attempt) * (0.5 + random()));
    }
    if (!succeeded) stillFailing.push(`${webhook.webhookId}: ${met.join('; ')}`);
    triesPerRetry[met.length] = (triesPerRetry[met.length] ?? 0) + 1;
  }

  const violations: string[] = [];
  const inside = answers.filter((answer) => answer.sentAt >= outage.from && answer.answeredAt <= outage.to);
  const answered2xxDuringOutage = inside.filter((answer) => answer.status < 300).length;
  check(
    answered2xxDuringOutage === 0,
    `${answered2xxDuringOutage} webhooks acknowledged while DynamoDB was unreachable`,
    violations,
  );
  check(
    inside.some((answer) => answer.status >= 500),
    'the outage was not exercised: no 5xx while DynamoDB was cut',
    violations,
  );
  check(
    retriesSucceeded === retryLater.length,
    `${retryLater.length - retriesSucceeded} retries still failing after the outage and the lost replies (${stillFailing.join(' | ')})`,
    violations,
  );
  let acceptedWithoutRecord = 0;
  for (const answer of answers.filter((candidate) => candidate.outcome === 'accepted' || candidate.outcome === 'duplicate')) {
    if (!(await harness.recordCovers(answer.predictionId, answer.statusRank, answer.timestamp))) acceptedWithoutRecord++;
  }
  check(acceptedWithoutRecord === 0, `${acceptedWithoutRecord} webhooks acknowledged but not recorded`, violations);
  for (const plan of plans) {
    if (await harness.recordCovers(plan.id, STATUS_RANK[plan.terminalStatus as PredictionStatus], 0)) continue;
    const answered = answers
      .filter((answer) => answer.predictionId === plan.id)
      .map((answer) => `${answer.webhookId} rank ${answer.statusRank} → ${answer.status} ${answer.outcome ?? ''}`.trim());
    violations.push(`dynamodb cut: ${plan.id} never recorded as finished; its answers: ${answered.join(', ')}`);
  }
  await verifyArchived(harness, plans, violations, 'dynamodb cut');
  proxy.loseReplies(0);
  const repliesLost = proxy.lostReplies - lostBefore;
  check(repliesLost > 0, 'no DynamoDB reply was lost after the outage: that part was not exercised', violations);
  return {
    predictions: plans.length,
    webhooks: answers.length,
    outageSeconds: Math.round((outage.to - outage.from) / 100) / 10,
    answered5xxDuringOutage: inside.filter((answer) => answer.status >= 500).length,
    answered2xxDuringOutage,
    connectionsRefused: Math.round(proxy.refused - refusedBefore),
    repliesLost,
    retried: retryLater.length,
    retriesSucceeded,
    triesPerRetry,
    acceptedWithoutRecord,
    violations,
  };
}

export interface ArchivalOutageResult {
  readonly predictions: number;
  readonly outages: Record<string, { readonly seconds: number; readonly connectionsRefused: number }>;
  readonly webhooksAcceptedDuringSecretOutage: number;
  readonly notifications: number;
  readonly violations: string[];
}

/** S3, then SNS, then Secrets Manager unreachable while finished predictions are being archived. */
export async function runArchivalOutages(harness: Harness, seed: number): Promise<ArchivalOutageResult> {
  const random = seededRandom(seed);
  const plan = () => planPrediction(random, harness.files, { duplicateRate: 0, reorderRate: 0, lateRate: 0 });
  const plans: PredictionPlan[] = [];
  const answers: Answer[] = [];
  const unused: PredictionPlan['webhooks'][number][] = [];
  const outages: Record<string, { seconds: number; connectionsRefused: number }> = {};
  const cut = async (dependency: 's3' | 'sns' | 'secretsmanager', during?: () => Promise<void>) => {
    const proxy = harness.proxies[dependency];
    const before = proxy.refused;
    const from = Date.now();
    proxy.down();
    await Promise.all([sleep(3000), during?.()]);
    proxy.up();
    outages[dependency] = {
      seconds: Math.round((Date.now() - from) / 100) / 10,
      connectionsRefused: Math.round(proxy.refused - before),
    };
  };
  // Each outage starts before its batch of predictions finishes, so archival runs into it.
  const batch = () => Array.from({ length: 15 }, plan);
  const duringS3 = batch();
  await cut('s3', () => pool(duringS3, 4, (item) => send(harness, item, answers, unused)));
  const duringSns = batch();
  await cut('sns', () => pool(duringSns, 4, (item) => send(harness, item, answers, unused)));
  // With the key cached, a Secrets Manager outage must not stop verification.
  const duringSecretOutage = Array.from({ length: 10 }, plan);
  const secretAnswers: Answer[] = [];
  await cut('secretsmanager', () => pool(duringSecretOutage, 4, (item) => send(harness, item, secretAnswers, unused)));
  plans.push(...duringS3, ...duringSns);
  const violations: string[] = [];
  const accepted = secretAnswers.filter((answer) => answer.outcome === 'accepted').length;
  check(
    secretAnswers.every((answer) => answer.status === 200),
    'webhooks refused while Secrets Manager was unreachable',
    violations,
  );
  check(unused.length === 0, `${unused.length} webhooks answered 5xx during archival outages`, violations);
  const notifications = await verifyArchived(harness, [...plans, ...duringSecretOutage], violations, 'archival outages');
  return {
    predictions: plans.length + duringSecretOutage.length,
    outages,
    webhooksAcceptedDuringSecretOutage: accepted,
    notifications,
    violations,
  };
}

export interface CrashResult {
  readonly predictions: number;
  readonly archiverProcessesKilled: number;
  readonly invocations: number;
  readonly notifications: number;
  readonly duplicateObjects: number;
  readonly filesDownloadedAgain: number;
  readonly deadLettered: number;
  /** Each invocation: its batch (receive counts show redeliveries) and how it ended. */
  readonly invocationLog: ReadonlyArray<{
    readonly predictions: number;
    readonly distinctPredictions: number;
    readonly receiveCounts: readonly number[];
    readonly ended: string;
  }>;
  /** From the kill to the last announcement: the queue's visibility timeout brings the batch back. */
  readonly recoveredWithinSeconds: number;
  readonly violations: string[];
}

// The archiver reserves 20 s of its timeout as a safety margin; 25 s leaves it 5 s to work.
const CRASH_FUNCTION_TIMEOUT_MS = 25_000;
// Just above the function timeout (the construct adds a minute), so the killed invocation's
// messages come back about as soon as its leases have expired.
const CRASH_VISIBILITY_TIMEOUT_SECONDS = 27;
const CRASH_MAX_RECEIVE_COUNT = 5;

/**
 * The archiver, in a process of its own per invocation, is killed (SIGKILL) after it uploaded
 * the outputs and wrote the manifests of its whole batch but before it could announce them (SNS
 * is held down). The queue hands the batch out again once its visibility timeout has passed.
 */
export async function runArchiverCrash(harness: Harness, seed: number): Promise<CrashResult> {
  const random = seededRandom(seed);
  const region = harness.info.region;
  const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  const fauxqsPort = new URL(harness.info.endpoints.s3).port;
  const direct = `http://127.0.0.1:${fauxqsPort}`;
  // Not DNS-compatible, so the child's SDK addresses it path-style and needs no DNS tricks.
  const bucket = 'crash_archive';
  await harness.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const dynamodb = new DynamoDBClient({ region, credentials, endpoint: harness.info.endpoints.dynamodb });
  const tableName = `crash-${Date.now()}`;
  const { streamArn } = await createStateTable(dynamodb, tableName);
  const sns = new SNSClient({ region, credentials, endpoint: harness.info.endpoints.sns });
  const sqs = new SQSClient({ region, credentials, endpoint: harness.info.endpoints.sqs, useQueueUrlAsEndpoint: false });
  const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: `crash-${Date.now()}` }));
  const subscriber = await subscribeQueue(sns, sqs, TopicArn!);
  const { deadLetterQueueUrl, queueUrl } = await createArchiveQueue(sqs, `crash-${Date.now()}`, {
    visibilityTimeoutSeconds: CRASH_VISIBILITY_TIMEOUT_SECONDS,
    maxReceiveCount: CRASH_MAX_RECEIVE_COUNT,
  });
  const snsProxy = await startTcpProxy(harness.info.endpoints.sns);
  snsProxy.down();

  const childEnv = {
    ...process.env,
    AWS_REGION: region,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_DYNAMODB: harness.info.endpoints.dynamodb,
    AWS_ENDPOINT_URL_S3: direct,
    AWS_ENDPOINT_URL_SNS: snsProxy.endpoint,
    AWS_ENDPOINT_URL_SQS: `http://sqs.${region}.localhost:${fauxqsPort}`,
    AWS_MAX_ATTEMPTS: '1',
    TABLE_NAME: tableName,
    BUCKET_NAME: bucket,
    COMPLETION_TOPIC_ARN: TopicArn!,
    ARCHIVE_QUEUE_URL: queueUrl,
    MAX_RECEIVE_COUNT: String(CRASH_MAX_RECEIVE_COUNT),
    RETRY_QUEUE_BASE_DELAY_SECONDS: '1',
    ARCHIVER_TIMEOUT_MS: String(CRASH_FUNCTION_TIMEOUT_MS),
    ALLOWED_OUTPUT_HOSTS: `http://${harness.files.host}`,
    ALLOW_PRIVATE_ADDRESSES: 'true',
    RETRY_BASE_DELAY_MS: '100',
    POWERTOOLS_LOG_LEVEL: 'CRITICAL',
    POWERTOOLS_METRICS_DISABLED: 'true',
  };
  const plans = Array.from({ length: 5 }, () =>
    planPrediction(random, harness.files, { duplicateRate: 0, reorderRate: 0, lateRate: 0 }),
  ).filter((plan) => plan.files.length > 0);
  let invocations = 0;
  let killed = 0;
  let killedAt = 0;
  const invocationLog: CrashResult['invocationLog'][number][] = [];
  const objectsUnder = async (prefix: string) =>
    ((await harness.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))).Contents ?? []).map(
      (object) => object.Key!,
    );
  const invokeInChild = (event: SQSEvent): Promise<SQSBatchResponse> => {
    invocations++;
    const first = invocations === 1;
    const batch = event.Records.map((record) => (JSON.parse(record.body) as { predictionId: string }).predictionId);
    return new Promise((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [join(__dirname, '..', '..', 'bench', 'processes', 'archive-once.cjs'), JSON.stringify(event)],
        {
          env: childEnv,
          stdio: ['ignore', 'pipe', 'ignore'],
        },
      );
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      if (first) {
        // Killed once every manifest of its batch is written: uploads done, announcements pending.
        let checking = false;
        // eslint-disable-next-line @typescript-eslint/no-misused-promises -- a polling tick: `checking` keeps two from overlapping
        const watcher = setInterval(async () => {
          if (checking) return;
          checking = true;
          const written = await Promise.all(batch.map(async (id) => (await objectsUnder(manifestKey('', id))).length > 0));
          if (written.every(Boolean) && child.exitCode === null) {
            clearInterval(watcher);
            // SNS comes back only once the process is gone, or a retry in flight could still
            // publish in the moment before the kill lands (a later crash than the one rehearsed).
            child.once('exit', () => snsProxy.up());
            child.kill('SIGKILL');
            killed++;
            killedAt = Date.now();
          }
          checking = false;
        }, 50);
        child.once('exit', () => clearInterval(watcher));
      }
      child.once('exit', (code, signal) => {
        const failures =
          code === 0 ? (JSON.parse(output.trim().split('\n').pop()!) as { result: SQSBatchResponse }).result : undefined;
        invocationLog.push({
          predictions: batch.length,
          distinctPredictions: new Set(batch).size,
          receiveCounts: event.Records.map((record) => Number(record.attributes.ApproximateReceiveCount)),
          ended: signal ?? (code === 0 ? `returned ${failures?.batchItemFailures.length ?? 0} failure(s)` : `exit ${code}`),
        });
        if (code === 0) resolve((JSON.parse(output.trim().split('\n').pop()!) as { result: SQSBatchResponse }).result);
        else reject(new Error(`archiver process ended with ${signal ?? code}`));
      });
    });
  };
  // The forwarder on the table's stream, as the construct's event source runs it.
  const forwarder = startForwarder({ streamArn, queueUrl, sqs, region, onError: () => undefined });
  let consumer: SqsPoller | undefined;
  const store = new WebhookStore(dynamodb, harness.s3, {
    tableName,
    bucketName: bucket,
    archivePrefix: '',
    maxInlinePayloadBytes: 16 * 1024,
  });
  const violations: string[] = [];
  try {
    for (const plan of plans) {
      const terminal = plan.webhooks.find((webhook) => webhook.event === 'completed')!;
      const parsed = parsePrediction(terminal.body);
      if (!parsed.ok) throw new Error('bad plan');
      await store.record({
        webhookId: terminal.webhookId,
        timestampSeconds: terminal.timestamp,
        prediction: parsed.prediction,
        body: terminal.body,
        bodyBytes: Buffer.byteLength(terminal.body),
        receivedAt: new Date(),
      });
    }
    // Every message queued before the consumer starts, so the first invocation gets the whole batch.
    await forwarder.drain(30_000);
    consumer = startSqsPoller({
      queueUrl,
      handler: invokeInChild,
      batchSize: 10,
      maxConcurrency: 1,
      sqsClient: sqs,
      region,
      onError: () => undefined,
    });
    await consumer.drain(CRASH_VISIBILITY_TIMEOUT_SECONDS * 1000 + 60_000);
    const recoveredWithinSeconds = killedAt ? Math.round((Date.now() - killedAt) / 1000) : 0;
    const received = await subscriber.receiveAll(1500);
    let duplicateObjects = 0;
    let filesDownloadedAgain = 0;
    for (const plan of plans) {
      const count = received.filter((notification) => notification.message.predictionId === plan.id).length;
      check(count === 1, `crash: ${plan.id} announced ${count} times`, violations);
      const keys = await objectsUnder(`predictions/${plan.id}/`);
      // The outputs and manifest.json (the one document by default: prediction.json only with predictionDocument).
      const expected = 1 + plan.files.length;
      duplicateObjects += Math.max(0, keys.length - expected);
      check(keys.length === expected, `crash: ${plan.id} has ${keys.length} objects, expected ${expected}`, violations);
      for (const file of plan.files) {
        const hits = harness.files.hits.get(new URL(file.url).pathname) ?? 0;
        filesDownloadedAgain += Math.max(0, hits - 1);
      }
    }
    const deadLettered = await queueDepth(sqs, deadLetterQueueUrl);
    check(killed === 1, `crash: the archiver was killed ${killed} times, expected once`, violations);
    check(filesDownloadedAgain === 0, `crash: ${filesDownloadedAgain} files downloaded again after the crash`, violations);
    check(deadLettered === 0, `crash: ${deadLettered} messages in the dead-letter queue`, violations);
    return {
      predictions: plans.length,
      archiverProcessesKilled: killed,
      invocations,
      notifications: received.length,
      duplicateObjects,
      filesDownloadedAgain,
      deadLettered,
      invocationLog,
      recoveredWithinSeconds,
      violations,
    };
  } finally {
    await consumer?.stop();
    await forwarder.stop();
    await snsProxy.stop();
    for (const c of [dynamodb, sns, sqs]) c.destroy();
  }
}
