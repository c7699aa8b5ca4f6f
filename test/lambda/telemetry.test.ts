/**
 * What the handlers print: structured JSON logs (ids and outcomes, never the signing key, the
 * payload's logs or its inputs) and CloudWatch embedded-metric-format metrics.
 */
import { readVerifierConfig } from '../../lambda/verifier/config';
import { verifierDependencies } from '../../lambda/verifier/dependencies';
import { createVerifierHandler } from '../../lambda/verifier/handler';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import {
  ALARMED_SERIES,
  DETAILED_METRICS_ENV,
  isAlarmedSeries,
  METRIC,
  METRICS_NAMESPACE,
  REASON_DIMENSION,
  SERVICE_NAME,
} from '../../lambda/shared/metrics';
import { ReplicateWebhooks } from '../../lib';
import { startSecretsManager, type SecretsManagerStandIn } from '../../local/aws/standins/secrets-manager';
import { createTestTable, dynamoDbEndpoint, useStandInEnvironment } from '../support/aws';
import { startFauxqs, type Fauxqs } from '../support/fauxqs';
import { newSecret, newWebhookId, prediction, signedEvent } from '../support/webhooks';

type Handler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;

let fauxqs: Fauxqs;
let secrets: SecretsManagerStandIn;
let secret: string;
let handler: Handler;
const captured: string[] = [];

const LOGS_MARKER = 'training step 1234 with very private prompt context';
const INPUT_MARKER = 'a portrait of my neighbour, confidential';

beforeAll(async () => {
  fauxqs = await startFauxqs();
  fauxqs.createBucket('observability-archive');
  secrets = await startSecretsManager();
  const { tableName } = await createTestTable();
  useStandInEnvironment({ dynamodb: dynamoDbEndpoint(), s3: fauxqs.s3Endpoint, secretsmanager: secrets.endpoint });
  secret = newSecret();
  secrets.putSecret('observability-secret', secret);
  Object.assign(process.env, {
    TABLE_NAME: tableName,
    SIGNING_SECRET_ID: 'observability-secret',
    BUCKET_NAME: 'observability-archive',
    POWERTOOLS_LOG_LEVEL: 'DEBUG',
    POWERTOOLS_METRICS_DISABLED: 'false',
    POWERTOOLS_METRICS_NAMESPACE: 'TestNamespace',
  });
  handler = createVerifierHandler(verifierDependencies(readVerifierConfig()));
  for (const stream of [process.stdout, process.stderr]) {
    jest.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
      captured.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
      return true;
    });
  }
});

afterAll(async () => {
  jest.restoreAllMocks();
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  await secrets.stop();
  await fauxqs.stop();
});

/** Every JSON line printed since the last call. */
function drainLines(): Array<Record<string, unknown>> {
  const lines = captured
    .splice(0)
    .join('')
    .split('\n')
    .filter((line) => line.trim().startsWith('{'));
  return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
}

const emfMetrics = (lines: Array<Record<string, unknown>>) =>
  lines
    .filter((line) => line._aws !== undefined)
    .flatMap((line) => {
      const meta = line._aws as {
        CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string }> }>;
      };
      return meta.CloudWatchMetrics.flatMap((group) =>
        group.Metrics.map((metric) => ({
          name: metric.Name,
          namespace: group.Namespace,
          dimensions: group.Dimensions.flat(),
          value: line[metric.Name],
          reason: line.reason,
        })),
      );
    });

test('an accepted webhook: one structured log line with its ids and outcome, and metrics', async () => {
  const webhookId = newWebhookId();
  const id = `obs${Date.now()}`;
  const body = prediction(id, 'processing', { logs: LOGS_MARKER, input: { prompt: INPUT_MARKER } });
  expect((await handler(signedEvent(body, { secret, webhookId }))).statusCode).toBe(200);
  const lines = drainLines();
  const recorded = lines.find((line) => line.message === 'webhook recorded');
  expect(recorded).toMatchObject({
    level: 'INFO',
    service: 'replicate-webhooks',
    outcome: 'accepted',
    webhookId,
    predictionId: id,
    status: 'processing',
  });
  expect(emfMetrics(lines)).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ name: 'WebhooksReceived', namespace: 'TestNamespace', dimensions: ['service'], value: 1 }),
      expect.objectContaining({ name: 'WebhooksAccepted', value: 1 }),
      expect.objectContaining({ name: 'PayloadBytes', value: Buffer.byteLength(JSON.stringify(body)) }),
    ]),
  );
});

test('outcomes and rejections are counted, rejections also by reason', async () => {
  const webhookId = newWebhookId();
  const id = `obs${Date.now()}b`;
  await handler(signedEvent(prediction(id, 'processing'), { secret, webhookId }));
  await handler(signedEvent(prediction(id, 'processing'), { secret, webhookId }));
  await handler(signedEvent(prediction(id, 'starting'), { secret }));
  await handler(signedEvent(prediction(id, 'starting'), { secret: newSecret() }));
  await handler(signedEvent('not json', { secret }));
  const metrics = emfMetrics(drainLines());
  const names = metrics.map((metric) => metric.name);
  expect(names).toEqual(expect.arrayContaining(['WebhooksDuplicate', 'WebhooksStale', 'WebhooksRejected']));
  expect(
    metrics.filter((metric) => metric.name === 'WebhooksRejected' && metric.dimensions.includes('reason')).map((m) => m.reason),
  ).toEqual(['bad_signature', 'invalid_json']);
});

test('without detailedMetrics, only the series the alarms read are printed', async () => {
  process.env[DETAILED_METRICS_ENV] = 'false';
  const alarmedOnly = createVerifierHandler(verifierDependencies(readVerifierConfig()));
  delete process.env[DETAILED_METRICS_ENV];
  const id = `obs${Date.now()}c`;
  expect((await alarmedOnly(signedEvent(prediction(id, 'processing'), { secret }))).statusCode).toBe(200);
  await alarmedOnly(signedEvent(prediction(id, 'processing'), { secret: newSecret() }));
  await alarmedOnly(signedEvent('not json', { secret }));
  expect(emfMetrics(drainLines()).map(({ name, dimensions, reason }) => ({ name, dimensions, reason }))).toEqual([
    { name: METRIC.rejected, dimensions: ['service', REASON_DIMENSION], reason: 'bad_signature' },
  ]);
});

test('nothing printed ever contains the signing key, the payload logs or its inputs', async () => {
  const keyMaterial = secret.slice('whsec_'.length);
  // A mix of every path: accepted, terminal, forged, unparsable, and a key refetch.
  const id = `obs${Date.now()}c`;
  const sensitive = { logs: LOGS_MARKER, input: { prompt: INPUT_MARKER } };
  await handler(signedEvent(prediction(id, 'processing', sensitive), { secret }));
  await handler(signedEvent(prediction(id, 'succeeded', sensitive), { secret }));
  await handler(signedEvent(prediction(id, 'succeeded', sensitive), { secret: newSecret() }));
  await handler(signedEvent(`{"logs":"${LOGS_MARKER}"`, { secret }));
  secrets.available = false;
  try {
    await handler(signedEvent(prediction(id, 'processing', sensitive), { secret: newSecret() }));
  } finally {
    secrets.available = true;
  }
  const output = captured.join('');
  drainLines();
  expect(output.length).toBeGreaterThan(0);
  expect(output).not.toContain(keyMaterial);
  expect(output).not.toContain(LOGS_MARKER);
  expect(output).not.toContain(INPUT_MARKER);
});

test('every handler metric an alarm reads is one the handlers print, with the dimensions they print it with', () => {
  const stack = new Stack(new App(), 'Alarms');
  new ReplicateWebhooks(stack, 'Hooks', {
    replicateApiToken: new secretsmanager.Secret(stack, 'Token'),
    eventBus: new events.EventBus(stack, 'Bus'),
  });
  type MetricReference = { Namespace: string; MetricName: string; Dimensions?: Array<{ Name: string; Value: unknown }> };
  const read = Object.values(Template.fromStack(stack).findResources('AWS::CloudWatch::Alarm'))
    .flatMap(({ Properties: alarm }) => [
      ...(alarm.MetricName ? [alarm as MetricReference] : []),
      ...((alarm.Metrics ?? []) as Array<{ MetricStat?: { Metric: MetricReference } }>).flatMap((query) =>
        query.MetricStat ? [query.MetricStat.Metric] : [],
      ),
    ])
    .filter((metric) => metric.Namespace === METRICS_NAMESPACE);
  expect(read.map((metric) => metric.MetricName)).toEqual(
    expect.arrayContaining([
      METRIC.archivalsFailed,
      METRIC.archivalsRedriven,
      METRIC.reconcilerListingLag,
      METRIC.oldestPendingArchivalAge,
    ]),
  );
  for (const metric of read) {
    expect(Object.values(METRIC)).toContain(metric.MetricName);
    // Powertools prints `service` on every metric; a count by reason is its own dimension set, with `reason` too.
    const names = (metric.Dimensions ?? []).map((dimension) => dimension.Name).sort();
    expect([['service'], [REASON_DIMENSION, 'service'].sort()]).toContainEqual(names);
    expect(metric.Dimensions).toContainEqual({ Name: 'service', Value: SERVICE_NAME });
  }
  // Published without detailedMetrics: every series an alarm reads, and no series no alarm reads.
  const series = read.map((metric) => ({
    name: metric.MetricName,
    reason: metric.Dimensions?.find((dimension) => dimension.Name === REASON_DIMENSION)?.Value as string | undefined,
  }));
  for (const one of series) expect(isAlarmedSeries(one.name, one.reason)).toBe(true);
  expect(ALARMED_SERIES.map(({ name, reason }) => ({ name, reason })).sort(byName)).toEqual(
    [...new Map(series.map((one) => [`${one.name}/${one.reason}`, one])).values()].sort(byName),
  );
});

const byName = (a: { name: string; reason?: string }, b: { name: string; reason?: string }) =>
  `${a.name}/${a.reason}`.localeCompare(`${b.name}/${b.reason}`);
