/**
 * `npm start`: the whole pipeline on this machine, no AWS account needed.
 *
 *   PORT                       webhook port (default 3000; 0 = any free port)
 *   REPLICATE_WEBHOOK_SECRET   the signing secret (default: a new one, printed)
 *   ALLOWED_OUTPUT_HOSTS       extra host[:port] list the archiver may fetch outputs from over
 *                              plain http, beside 127.0.0.1:8788, where `replicate-webhooks send`
 *                              serves its files (always allowed, so the first run archives them)
 *   HOST                       interface to listen on (default 127.0.0.1)
 *   RECONCILE_INTERVAL_SECONDS seconds between reconciler runs (default 10; 0 = no reconciler)
 *   REPLICATE_API_TOKEN        a real Replicate API token: the reconciler reads the real API
 *                              (default: a Replicate API stand-in with a generated token)
 *   REPLICATE_API_BASE_URL     another Replicate API base URL for that token (say a stand-in of your own)
 *   EVENT_RULE_STATUSES        terminal statuses the local EventBridge rule delivers to its queue (default: all)
 *   EVENT_RULE_MODELS          models (owner/name) it delivers (default: all)
 *   EVENT_RULE_KINDS           prediction, training or both (default: both)
 *   INSPECTOR                  off: no inspector page (default: on, at GET / on the webhook's port)
 *
 * Prints the endpoints in words, then one line `ready {json}` for scripts. SIGINT or SIGTERM stops
 * everything and the process exits on its own (`npm start` execs this process, so npm passes a
 * SIGTERM it receives straight here).
 */
import { rmSync, writeFileSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { constants } from 'node:os';
import { booleanVariable, listVariable } from '../lambda/shared/env';
import { COMPLETION_KINDS, TERMINAL_STATUSES, isCompletionKind } from '../lambda/shared/prediction';
import type { LocalPipeline, ReadyInfo } from './pipeline';
import { DEFAULT_FILES_HOST, DEFAULT_FILES_PORT } from '../cli/output-server';
import { localEndpointsFile, type LocalEndpoints } from '../cli/local-endpoints';

// Node 20 runs local mode well; the SDK's notice that its releases after January 2027 will need
// Node 22 would otherwise be the first thing `npm start` prints. Set before any SDK module loads.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// If stopping hangs (a stand-in that does not let go), the process still ends: stopped means gone.
const STOP_DEADLINE_MS = 10_000;

// Where `replicate-webhooks send` serves the image scenario's files by default: the command local
// mode suggests first must archive them, with nothing to configure. Loopback, local mode only.
const SENDER_FILES_HOST = `${DEFAULT_FILES_HOST}:${DEFAULT_FILES_PORT}`;

function describe(info: ReadyInfo, generatedSecret: boolean): string {
  return [
    '',
    'Replicate webhooks, local mode',
    `  webhook URL       POST ${info.webhookUrl}`,
    ...(info.inspectorUrl
      ? [`  inspector         ${info.inspectorUrl}   (open in a browser: deliveries live, detail, replay)`]
      : []),
    `  signing secret    ${info.secret}${generatedSecret ? '   (generated; set REPLICATE_WEBHOOK_SECRET to choose it)' : ''}`,
    `  DynamoDB          ${info.endpoints.dynamodb}   table ${info.tableName}`,
    `  S3                ${info.endpoints.s3}   bucket ${info.bucketName} (path-style)`,
    `  SNS               ${info.endpoints.sns}   completions ${info.completionTopicArn}`,
    `  SQS               ${info.endpoints.sqs}`,
    `  Secrets Manager   ${info.endpoints.secretsmanager}   secret ${info.signingSecretId}`,
    `  EventBridge       ${info.endpoints.eventbridge}   bus ${info.eventBusName}; its rule's queue ${info.eventQueueUrl}`,
    `  output hosts      ${info.allowedOutputHosts.join(', ')}`,
    ...(info.replicateApi
      ? [
          `  Replicate API     ${info.replicateApi.endpoint}${info.replicateApi.standIn ? `   (stand-in; its token ${info.replicateApi.token})` : ''}`,
          `  reconciler        every ${info.reconcileIntervalSeconds} s: records predictions whose terminal webhook never arrived`,
        ]
      : ['  reconciler        off (RECONCILE_INTERVAL_SECONDS=0)']),
    '',
    `Try: npx replicate-webhooks send --url ${info.webhookUrl} --secret ${info.secret} --scenario image`,
    ...(info.replicateApi?.standIn
      ? [
          `Drop a terminal webhook, see the reconciler record it: npx replicate-webhooks send --url ${info.webhookUrl} --secret ${info.secret} \\`,
          `     --scenario failed --drop-terminal 1 --replicate-api ${info.replicateApi.endpoint} --replicate-token ${info.replicateApi.token}`,
        ]
      : []),
    'What happened to one: npx replicate-webhooks status <prediction-id> --local',
    // Any credentials do (the emulators check none), but a fresh machine has none, nor a region.
    `Inspect: AWS_REGION=${info.region} AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local aws --endpoint-url ${info.endpoints.dynamodb} dynamodb scan --table-name ${info.tableName}`,
    '',
  ].join('\n');
}

/** What `replicate-webhooks status|redrive|replay --local` reads: names and endpoints, no secret. */
function writeLocalEndpoints(info: ReadyInfo): string {
  const file = localEndpointsFile();
  const endpoints: LocalEndpoints = {
    pid: process.pid,
    region: info.region,
    endpoints: {
      dynamodb: info.endpoints.dynamodb,
      s3: info.endpoints.s3,
      sns: info.endpoints.sns,
      sqs: info.endpoints.sqs,
      eventbridge: info.endpoints.eventbridge,
    },
    tableName: info.tableName,
    bucketName: info.bucketName,
    archivePrefix: '',
    completionTopicArn: info.completionTopicArn,
    eventBusName: info.eventBusName,
    archiveQueueUrl: info.archiveQueueUrl,
    archiveDeadLetterQueueUrl: info.archiveDeadLetterQueueUrl,
  };
  writeFileSync(file, JSON.stringify(endpoints, null, 2) + '\n', { mode: 0o600 });
  return file;
}

/** Removed on the way out, unless another local mode has written it since. */
function removeLocalEndpoints(file: string): void {
  try {
    if ((JSON.parse(readFileSync(file, 'utf8')) as LocalEndpoints).pid === process.pid) rmSync(file, { force: true });
  } catch {
    // Gone already, or not ours to remove.
  }
}

function portUnavailable(port: number, host: string, code: string | undefined): Error {
  const reason = code === 'EADDRINUSE' ? 'is already in use (an earlier npm start still running?)' : `cannot be used (${code})`;
  const other = port === 65535 ? 3000 : port + 1;
  return new Error(
    `port ${port} on ${host} ${reason}. Stop that process, or set PORT to another port: ` +
      `PORT=${other} npm start (PORT=0 takes any free port).`,
  );
}

/** Fails in milliseconds, before DynamoDB Local's JVM is started for nothing. */
function checkPortFree(port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => reject(portUnavailable(port, host, error.code)));
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}

async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be a port number, got ${process.env.PORT}`);
  const host = process.env.HOST || '127.0.0.1';
  const secret = process.env.REPLICATE_WEBHOOK_SECRET || undefined;
  const extraOutputHosts = [
    SENDER_FILES_HOST,
    ...listVariable(process.env, 'ALLOWED_OUTPUT_HOSTS', []).filter((entry) => entry !== SENDER_FILES_HOST),
  ];
  const interval = process.env.RECONCILE_INTERVAL_SECONDS?.trim() || '10';
  const intervalSeconds = Number(interval);
  if (!Number.isFinite(intervalSeconds) || intervalSeconds < 0)
    throw new Error(`RECONCILE_INTERVAL_SECONDS must be a number of seconds (0 = off), got ${interval}`);
  const token = process.env.REPLICATE_API_TOKEN?.trim() || undefined;
  const baseUrl = process.env.REPLICATE_API_BASE_URL?.trim() || undefined;
  if (baseUrl && !token) throw new Error('REPLICATE_API_BASE_URL needs REPLICATE_API_TOKEN');
  // A token alone means Replicate's real API; without one, the stand-in with a token of its own.
  const api = token ? { baseUrl: baseUrl ?? 'https://api.replicate.com', token } : undefined;
  const inspector = process.env.INSPECTOR?.trim() === 'off' ? false : {};
  const predictionDocument = booleanVariable(process.env, 'PREDICTION_DOCUMENT', false);
  const eventRule = {
    statuses: listVariable(process.env, 'EVENT_RULE_STATUSES', []),
    models: listVariable(process.env, 'EVENT_RULE_MODELS', []),
    kinds: listVariable(process.env, 'EVENT_RULE_KINDS', []),
  };
  const unknownKinds = eventRule.kinds.filter((kind) => !isCompletionKind(kind));
  if (unknownKinds.length > 0) {
    throw new Error(`EVENT_RULE_KINDS takes ${COMPLETION_KINDS.join(', ')}, got ${unknownKinds.join(', ')}`);
  }
  const notAnnounced = eventRule.statuses.filter((status) => !(TERMINAL_STATUSES as readonly string[]).includes(status));
  if (notAnnounced.length > 0) {
    throw new Error(
      `EVENT_RULE_STATUSES takes terminal statuses (${TERMINAL_STATUSES.join(', ')}), got ${notAnnounced.join(', ')}`,
    );
  }

  let pipeline: LocalPipeline | undefined;
  let stopping = false;
  // Handled from the start. A repeated signal changes nothing: Ctrl-C under npm arrives twice,
  // from the terminal and from npm.
  const onSignal = (signal: NodeJS.Signals) => {
    const running = pipeline;
    if (!running) {
      // Nothing to keep yet: the stand-ins hold everything in memory, this process's end takes
      // its own servers along, and DynamoDB Local's watcher stops the JVM once this process is gone.
      console.log(`\n${signal} during start-up: exiting`);
      process.exit(128 + constants.signals[signal]);
    }
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping`);
    setTimeout(() => {
      console.error(`still not stopped after ${STOP_DEADLINE_MS / 1000} s: exiting anyway`);
      process.exit(1);
    }, STOP_DEADLINE_MS).unref();
    running.stop().then(
      () => {
        console.log('stopped');
        // A reconciler run still retrying an unreachable API keeps a timer or two: not worth waiting for.
        setTimeout(() => process.exit(), 1000).unref();
      },
      (error: unknown) => {
        console.error(error);
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  if (port !== 0) await checkPortFree(port, host);
  // Loaded here, not imported: a static import (and the SDK with it) would load before the line
  // at the top that silences the SDK's notice.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only now, after the lines above
  const { startLocalPipeline } = require('./pipeline') as typeof import('./pipeline');
  try {
    pipeline = await startLocalPipeline({
      port,
      host,
      secret,
      extraOutputHosts,
      reconciler: { api, intervalSeconds },
      eventRule,
      inspector,
      predictionDocument,
    });
  } catch (error) {
    // Taken meanwhile: the pipeline has stopped what it had started.
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES') throw portUnavailable(port, host, code);
    throw error;
  }
  const endpointsFile = writeLocalEndpoints(pipeline.info);
  process.on('exit', () => removeLocalEndpoints(endpointsFile));
  console.log(describe(pipeline.info, secret === undefined));
  console.log(`ready ${JSON.stringify(pipeline.info)}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
