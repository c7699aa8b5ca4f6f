/**
 * `replicate-webhooks status <prediction-id> --local` against local mode in its own process: the
 * command finds it through the endpoints file local mode writes, and reads the same table,
 * archive and dead-letter queue a deployed stack has, with the same SDK calls.
 */
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../cli/index';
import { LOCAL_ENDPOINTS_VARIABLE, type LocalEndpoints } from '../../cli/local-endpoints';
import { startOutputServer, type OutputServer } from '../../cli/output-server';
import { buildScenario, seededRandom } from '../../cli/scenarios';
import { sendDelivery } from '../../cli/send';
import type { PredictionStatusReport } from '../../cli/operate/status';
import { freePort } from '../../local/aws/standins/dynamodb-local';
import { startLocalMode, type LocalModeProcess } from '../support/local-mode';

const SECRET = 'whsec_' + Buffer.alloc(24, 7).toString('base64');
let local: LocalModeProcess;
let files: OutputServer;
let directory: string;
let endpointsFile: string;

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'status-test-'));
  endpointsFile = join(directory, 'local.json');
  // The command reads the variable from its own environment, as a user's shell would set it.
  process.env[LOCAL_ENDPOINTS_VARIABLE] = endpointsFile;
  const filesPort = await freePort();
  files = await startOutputServer({ port: filesPort });
  local = await startLocalMode({
    PORT: '0',
    ALLOWED_OUTPUT_HOSTS: `127.0.0.1:${filesPort}`,
    REPLICATE_WEBHOOK_SECRET: SECRET,
    RECONCILE_INTERVAL_SECONDS: '0',
    INSPECTOR: 'off',
    [LOCAL_ENDPOINTS_VARIABLE]: endpointsFile,
  });
}, 120_000);

afterAll(async () => {
  delete process.env[LOCAL_ENDPOINTS_VARIABLE];
  await files?.stop();
  if (local?.child.exitCode === null) local.child.kill('SIGKILL');
  rmSync(directory, { recursive: true, force: true });
});

const run = async (argv: string[]) => {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await main(argv, { stdout: (line) => stdout.push(line), stderr: (line) => stderr.push(line) });
  return { code, stdout, stderr };
};

async function statusJson(predictionId: string): Promise<PredictionStatusReport> {
  const { code, stdout, stderr } = await run(['status', predictionId, '--local', '--json']);
  expect(stderr).toEqual([]);
  expect(code).toBe(0);
  return JSON.parse(stdout.join('\n')) as PredictionStatusReport;
}

async function untilAnnounced(predictionId: string): Promise<PredictionStatusReport> {
  for (const deadline = Date.now() + 30_000; ;) {
    const report = await statusJson(predictionId);
    if (report.channels.notifiedAt || Date.now() > deadline) return report;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

test('local mode leaves its endpoints and names for the CLI, and no secret', () => {
  const written = readFileSync(endpointsFile, 'utf8');
  const endpoints = JSON.parse(written) as LocalEndpoints;
  expect(endpoints).toMatchObject({
    pid: local.child.pid,
    tableName: local.ready.tableName,
    bucketName: local.ready.bucketName,
    archiveDeadLetterQueueUrl: local.ready.archiveDeadLetterQueueUrl,
  });
  expect(written).not.toContain(SECRET);
});

test('an archived prediction: its record, every file with its S3 URI, a failure with its reason, its channels', async () => {
  const scenario = buildScenario('image', { fileBaseUrl: files.origin, random: seededRandom(11) });
  // The second output is never served: the archiver records it as a failure and announces the rest.
  files.add(scenario.files.slice(0, 1));
  for (const delivery of scenario.deliveries)
    expect((await sendDelivery(local.ready.webhookUrl, SECRET, delivery)).status).toBe(200);

  const report = await untilAnnounced(scenario.predictionId);
  const folder = `s3://${local.ready.bucketName}/predictions/${scenario.predictionId}/`;
  expect(report.record).toMatchObject({
    status: 'succeeded',
    terminal: true,
    model: 'black-forest-labs/flux-schnell',
    webhooksApplied: scenario.deliveries.length,
    lastWebhookId: scenario.deliveries.at(-1)!.webhookId,
  });
  expect(report.archive).toMatchObject({
    status: 'archived_with_failures',
    prediction: `${folder}prediction.json`,
    manifest: `${folder}manifest.json`,
    files: [{ s3Uri: expect.stringMatching(new RegExp(`^${folder}outputs/0-`)), bytes: scenario.files[0].bytes.length }],
    failures: [{ source: expect.stringContaining(files.origin), reason: 'http_error', status: 404 }],
  });
  expect(report.deadLetterQueue).toMatchObject({ holdsIt: false, queueUrl: local.ready.archiveDeadLetterQueueUrl });
  expect(report.channels).toMatchObject({
    completionTopicArn: local.ready.completionTopicArn,
    eventBusName: local.ready.eventBusName,
    notifiedAt: expect.any(String),
  });

  // The same, for a person.
  const { code, stdout } = await run(['status', scenario.predictionId, '--local']);
  expect(code).toBe(0);
  expect(stdout[0]).toBe(
    `${scenario.predictionId} succeeded (black-forest-labs/flux-schnell), in local mode (pid ${local.child.pid})`,
  );
  expect(stdout).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/^ {2}archive {5}archived_with_failures at \S+, 1 attempt$/),
      `    manifest.json    ${folder}manifest.json`,
      expect.stringMatching(new RegExp(`^ {4}${folder}outputs/0-\\S+ {2}\\(\\d+ bytes, image/png\\)$`)),
      expect.stringMatching(/^ {4}✗ http:\/\/127\.0\.0\.1:\d+\/\S+: http_error \(HTTP 404\)$/),
      expect.stringMatching(/^ {2}dead-letter not in the archive dead-letter queue/),
      expect.stringMatching(/^ {2}channels {4}announced at \S+: SNS arn:aws:sns:\S+, EventBridge bus replicate-webhooks-events$/),
    ]),
  );
}, 60_000);

test('a prediction whose archive request sits in the dead-letter queue says so, and leaves it there', async () => {
  const { ready } = local;
  const sqs = new SQSClient({
    region: ready.region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    endpoint: ready.endpoints.sqs,
    useQueueUrlAsEndpoint: false,
  });
  const scenario = buildScenario('canceled', { fileBaseUrl: files.origin, random: seededRandom(12) });
  await sendDelivery(ready.webhookUrl, SECRET, scenario.deliveries[0]);
  const body = JSON.stringify({ predictionId: scenario.predictionId });
  await sqs.send(new SendMessageCommand({ QueueUrl: ready.archiveDeadLetterQueueUrl, MessageBody: body }));
  sqs.destroy();

  for (let time = 0; time < 2; time++) {
    const report = await statusJson(scenario.predictionId);
    expect(report.deadLetterQueue).toMatchObject({ holdsIt: true });
    expect(report.record).toMatchObject({ status: 'starting', terminal: false });
    expect(report.archive).toBeUndefined();
  }
});

test('a prediction with no record exits 1 and says so; an id that cannot be one exits 2 before any call', async () => {
  const missing = await run(['status', 'nosuchprediction0000000000', '--local']);
  expect(missing.code).toBe(1);
  expect(missing.stdout[0]).toBe(`nosuchprediction0000000000: no record in local mode (pid ${local.child.pid})`);

  const invalid = await run(['status', '../etc/passwd', '--local']);
  expect(invalid.code).toBe(2);
  expect(invalid.stderr[0]).toBe(
    'error: "../etc/passwd" is not a prediction id (letters, digits, - and _, at most 128, as Replicate\'s ids are)',
  );
});

test('local mode not running: a clear error naming the file, exit 1', async () => {
  const elsewhere = join(directory, 'none.json');
  process.env[LOCAL_ENDPOINTS_VARIABLE] = elsewhere;
  try {
    const { code, stderr } = await run(['status', 'abc', '--local']);
    expect(code).toBe(1);
    expect(stderr).toEqual([`error: local mode is not running: no ${elsewhere} (start it with npm start, in this checkout)`]);
  } finally {
    process.env[LOCAL_ENDPOINTS_VARIABLE] = endpointsFile;
  }
});

test.each([[['status', '--help']], [['status', '-h']], [['status', 'abc', '--local', '-h']]])(
  '%j prints the usage',
  async (argv) => {
    const { code, stdout } = await run(argv);
    expect(code).toBe(0);
    expect(stdout[0]).toContain('replicate-webhooks status <prediction-id> --local');
  },
);
