/**
 * An archival that crashes every time (its process killed once it holds the prediction, as an
 * out-of-memory kill or a hung call would end it), among good predictions. The queue tries it
 * its tries and dead-letters it; the reconciler sees it stuck and queues it again until the
 * attempt cap, then marks it failed for a person and never queues it again. The good ones are
 * archived and announced once; nothing is queued forever.
 */
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { PendingArchivals } from '../../lambda/reconciler/archivals';
import { readReconcilerConfig } from '../../lambda/reconciler/config';
import { createReconcilerHandler, type ReconcileReport } from '../../lambda/reconciler/handler';
import { ReconcilerLedger } from '../../lambda/reconciler/ledger';
import { RecordedPredictions } from '../../lambda/reconciler/recorded';
import { ReplicateApiClient } from '../../lambda/reconciler/replicate-api';
import { RecoveryRetries } from '../../lambda/reconciler/retries';
import { reconcilerEnvironment } from '../../lambda/reconciler/settings';
import { parsePrediction } from '../../lambda/shared/prediction';
import { predictionItemKey } from '../../lambda/shared/state';
import { WebhookStore } from '../../lambda/store/webhook-store';
import { createTelemetry } from '../../lambda/telemetry';
import { seededRandom } from '../../cli/scenarios';
import { startSqsPoller, type SqsPoller } from '../../local/aws/sqs-poller';
import { createStateTable } from '../../local/state-table';
import { startReplicateApi } from '../../local/standins/replicate-api';
import { startSecretsManager } from '../../local/aws/standins/secrets-manager';
import { startForwarder } from '../support/forwarder';
import { subscribeQueue } from '../support/notifications';
import { check, createArchiveQueue, queueDepth, type Harness } from './harness';
import { planPrediction } from './lifecycles';

const VISIBILITY_TIMEOUT_SECONDS = 3;
const MAX_RECEIVE_COUNT = 2;
/** Two rounds of the queue's tries. */
const MAX_ARCHIVE_ATTEMPTS = 4;
const GOOD = 4;

export interface CrashCapResult {
  readonly maxReceiveCount: number;
  readonly maxArchiveAttempts: number;
  readonly good: { readonly predictions: number; readonly announcedOnce: number };
  /** Archiver processes killed while they held the crashing prediction. */
  readonly crashes: number;
  /** How many times the reconciler queued it again, and in which run it gave it up. */
  readonly redriven: number;
  readonly gaveUpInRun?: number;
  readonly runsAfterGivingUp: number;
  readonly record: {
    readonly archiveStatus?: string;
    readonly archiveError?: string;
    readonly archivePending?: string;
    readonly attempts: number;
  };
  readonly deadLettered: number;
  readonly seconds: number;
  readonly violations: string[];
}

export async function runCrashPastCap(harness: Harness, seed: number): Promise<CrashCapResult> {
  const started = Date.now();
  const random = seededRandom(seed);
  const region = harness.info.region;
  const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  const fauxqsPort = new URL(harness.info.endpoints.s3).port;
  // Not DNS-compatible, so the child's SDK addresses it path-style and needs no DNS tricks.
  const bucket = 'crash_cap_archive';
  await harness.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const dynamodb = new DynamoDBClient({ region, credentials, endpoint: harness.info.endpoints.dynamodb });
  const tableName = `crash-cap-${Date.now()}`;
  const { streamArn } = await createStateTable(dynamodb, tableName);
  const sns = new SNSClient({ region, credentials, endpoint: harness.info.endpoints.sns });
  const sqs = new SQSClient({ region, credentials, endpoint: harness.info.endpoints.sqs, useQueueUrlAsEndpoint: false });
  const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: `crash-cap-${Date.now()}` }));
  const subscriber = await subscribeQueue(sns, sqs, TopicArn!);
  const { deadLetterQueueUrl, queueUrl } = await createArchiveQueue(sqs, `crash-cap-${Date.now()}`, {
    visibilityTimeoutSeconds: VISIBILITY_TIMEOUT_SECONDS,
    maxReceiveCount: MAX_RECEIVE_COUNT,
  });
  const secrets = await startSecretsManager({ region });
  const token = 'r8_crash_cap_token';
  const replicate = await startReplicateApi({ token });
  const secretsClient = new SecretsManagerClient({ region, credentials, endpoint: secrets.endpoint });
  secrets.putSecret('token', token);

  const plans = Array.from({ length: GOOD + 1 }, () =>
    planPrediction(random, harness.files, { duplicateRate: 0, reorderRate: 0, lateRate: 0 }),
  ).filter((plan) => plan.files.length > 0);
  const crashing = plans[0];
  const good = plans.slice(1);
  const childEnv = {
    ...process.env,
    AWS_REGION: region,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_DYNAMODB: harness.info.endpoints.dynamodb,
    AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${fauxqsPort}`,
    AWS_ENDPOINT_URL_SNS: harness.info.endpoints.sns,
    AWS_ENDPOINT_URL_SQS: `http://sqs.${region}.localhost:${fauxqsPort}`,
    TABLE_NAME: tableName,
    BUCKET_NAME: bucket,
    COMPLETION_TOPIC_ARN: TopicArn!,
    ARCHIVE_QUEUE_URL: queueUrl,
    MAX_RECEIVE_COUNT: String(MAX_RECEIVE_COUNT),
    RETRY_QUEUE_BASE_DELAY_SECONDS: '1',
    ARCHIVER_TIMEOUT_MS: String((VISIBILITY_TIMEOUT_SECONDS - 1) * 1000),
    ALLOWED_OUTPUT_HOSTS: `http://${harness.files.host}`,
    ALLOW_PRIVATE_ADDRESSES: 'true',
    POWERTOOLS_LOG_LEVEL: 'CRITICAL',
    POWERTOOLS_METRICS_DISABLED: 'true',
  };
  const attemptsOf = async (id: string): Promise<number> => {
    const item = await harness.dynamodb
      .send(
        new GetItemCommand({
          TableName: tableName,
          Key: { pk: { S: predictionItemKey(id) } },
          ConsistentRead: true,
        }),
      )
      .then((result) => result.Item);
    return Number(item?.archiveAttempts?.N ?? '0');
  };
  let crashes = 0;
  const invokeInChild = (event: SQSEvent): Promise<SQSBatchResponse> =>
    new Promise((resolve, reject) => {
      const ids = event.Records.map((record) => (JSON.parse(record.body) as { predictionId: string }).predictionId);
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
      if (ids.includes(crashing.id)) {
        // Killed as soon as it holds the prediction (its claim counted), every time.
        void attemptsOf(crashing.id).then((before) => {
          const watcher = setInterval(() => {
            void attemptsOf(crashing.id).then((now) => {
              if (now > before && child.exitCode === null) {
                clearInterval(watcher);
                child.kill('SIGKILL');
                crashes++;
              }
            });
          }, 25);
          child.once('exit', () => clearInterval(watcher));
        });
      }
      child.once('exit', (code, signal) => {
        if (code === 0) resolve((JSON.parse(output.trim().split('\n').pop()!) as { result: SQSBatchResponse }).result);
        else reject(new Error(`archiver process ended with ${signal ?? code}`));
      });
    });

  const config = readReconcilerConfig(
    reconcilerEnvironment({
      tableName,
      bucketName: bucket,
      archivePrefix: '',
      signingSecretId: 'unused',
      tokenSecretId: 'token',
      archiveQueueUrl: queueUrl,
      webhookUrl: harness.info.webhookUrl,
      manageSigningKey: false,
      apiBaseUrl: replicate.endpoint,
      stuckAfterSeconds: 0,
      maxArchiveAttempts: MAX_ARCHIVE_ATTEMPTS,
    }),
  );
  const reconcile = createReconcilerHandler({
    config,
    telemetry: createTelemetry(),
    secrets: secretsClient,
    sqs,
    store: new WebhookStore(dynamodb, harness.s3, config),
    recorded: new RecordedPredictions(dynamodb, tableName),
    retries: new RecoveryRetries(dynamodb, tableName),
    archivals: new PendingArchivals(dynamodb, tableName),
    ledger: new ReconcilerLedger(dynamodb, tableName),
    replicateApi: (apiToken, onRetry) => new ReplicateApiClient({ baseUrl: replicate.endpoint, token: apiToken, onRetry }),
  });
  // The forwarder on the table's stream, as the construct's event source runs it.
  const forwarder = startForwarder({ streamArn, queueUrl, sqs, region, onError: () => undefined });
  let consumer: SqsPoller | undefined;
  const store = new WebhookStore(dynamodb, harness.s3, config);
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
    await forwarder.drain(30_000);
    // One prediction an invocation: the crash takes only its own down.
    consumer = startSqsPoller({
      queueUrl,
      handler: invokeInChild,
      batchSize: 1,
      maxConcurrency: 2,
      sqsClient: sqs,
      region,
      onError: () => undefined,
    });
    const reports: ReconcileReport[] = [];
    const context = { getRemainingTimeInMillis: () => 30_000 } as never;
    let gaveUpInRun: number | undefined;
    let runsAfterGivingUp = 0;
    // A run each time the crashing one has used its tries and sits in the dead-letter queue, a few more after.
    for (let run = 1; run <= MAX_ARCHIVE_ATTEMPTS / MAX_RECEIVE_COUNT + 2; run++) {
      await consumer.drain(4 * VISIBILITY_TIMEOUT_SECONDS * 1000 + 30_000);
      const report = await reconcile({}, context);
      reports.push(report);
      if (report.gaveUp.includes(crashing.id)) gaveUpInRun = run;
      else if (gaveUpInRun !== undefined) runsAfterGivingUp++;
    }
    const redriven = reports.reduce((sum, report) => sum + report.redriven.filter((id) => id === crashing.id).length, 0);
    const afterGivingUp = reports.slice(gaveUpInRun ?? reports.length);
    check(gaveUpInRun !== undefined, 'crash cap: the crashing archival was never given up', violations);
    check(
      afterGivingUp.every((report) => !report.redriven.includes(crashing.id) && !report.gaveUp.includes(crashing.id)),
      'crash cap: the crashing archival was queued or given up again after it was given up',
      violations,
    );
    const received = await subscriber.receiveAll(1500);
    let announcedOnce = 0;
    for (const plan of good) {
      const count = received.filter((notification) => notification.message.predictionId === plan.id).length;
      if (count === 1) announcedOnce++;
      else violations.push(`crash cap: ${plan.id} announced ${count} times`);
    }
    check(
      !received.some((notification) => notification.message.predictionId === crashing.id),
      'crash cap: the crashing prediction was announced',
      violations,
    );
    const item = (
      await dynamodb.send(
        new GetItemCommand({
          TableName: tableName,
          Key: { pk: { S: predictionItemKey(crashing.id) } },
          ConsistentRead: true,
        }),
      )
    ).Item;
    const record = {
      archiveStatus: item?.archiveStatus?.S,
      archiveError: item?.archiveError?.S,
      archivePending: item?.archivePending?.S,
      attempts: Number(item?.archiveAttempts?.N ?? '0'),
    };
    check(
      record.archiveError === 'attempts_exhausted' && record.archivePending === 'failed',
      `crash cap: the record reads ${JSON.stringify(record)}`,
      violations,
    );
    check(record.attempts >= MAX_ARCHIVE_ATTEMPTS, `crash cap: given up after ${record.attempts} tries`, violations);
    check(crashes === record.attempts, `crash cap: ${crashes} crashes for ${record.attempts} counted tries`, violations);
    const deadLettered = await queueDepth(sqs, deadLetterQueueUrl);
    return {
      maxReceiveCount: MAX_RECEIVE_COUNT,
      maxArchiveAttempts: MAX_ARCHIVE_ATTEMPTS,
      good: { predictions: good.length, announcedOnce },
      crashes,
      redriven,
      ...(gaveUpInRun !== undefined ? { gaveUpInRun } : {}),
      runsAfterGivingUp,
      record,
      deadLettered,
      seconds: Math.round((Date.now() - started) / 1000),
      violations,
    };
  } finally {
    await consumer?.stop();
    await forwarder.stop();
    await replicate.stop();
    await secrets.stop();
    for (const client of [dynamodb, sns, sqs, secretsClient]) client.destroy();
  }
}
