/**
 * How long a webhook waits for its answer when a dependency stops answering (a partition: the
 * connection is accepted, or already open, and nothing comes back), for the shipped verifier
 * bundle: warm, with DynamoDB partitioned after a first webhook left its keep-alive connection
 * open; cold, with Secrets Manager partitioned before the first request; and the first webhook
 * after the partition heals. Each sample is a fresh module instance (its own SDK clients). An
 * answer is awaited for the verifier's 10 s timeout at most, where Lambda would end the
 * invocation. BENCH_VERIFIER_BUNDLE measures another build (an earlier commit's, say).
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { signWebhook } from '../lambda/shared/signature';
import { VERIFIER_FUNCTION_DEFAULTS } from '../lambda/shared/function-defaults';
import { toHttpApiEvent } from '../local/aws/api-gateway';
import { createStateTable } from '../local/state-table';
import { startDynamoDbLocal } from '../local/aws/standins/dynamodb-local';
import { startSecretsManager } from '../local/aws/standins/secrets-manager';
import { startTcpProxy, type TcpProxy } from '../test/support/tcp-proxy';
import { median, percentile, table } from './stats';

type Handler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;

const VERIFIER_TIMEOUT_MS = VERIFIER_FUNCTION_DEFAULTS.timeoutSeconds * 1000;

export interface Sample {
  readonly ms: number;
  /** `503 state_store_unavailable`, or `no answer` within the verifier's timeout. */
  readonly answer: string;
}

export interface PartitionLatencyResult {
  readonly bundle: string;
  readonly samples: number;
  readonly warm: Sample[];
  readonly cold: Sample[];
  readonly afterHeal: Sample[];
}

export async function benchPartitionLatency(samples = 20): Promise<PartitionLatencyResult> {
  const bundle = process.env.BENCH_VERIFIER_BUNDLE ?? join(__dirname, '..', 'assets', 'verifier', 'index.js');
  const dynamoDbLocal = await startDynamoDbLocal();
  const secrets = await startSecretsManager();
  const proxies: TcpProxy[] = [];
  try {
    const secret = `whsec_${randomBytes(24).toString('base64')}`;
    secrets.putSecret('bench-secret', secret);
    const dynamodbProxy = await startTcpProxy(dynamoDbLocal.endpoint);
    const secretsProxy = await startTcpProxy(secrets.endpoint);
    proxies.push(dynamodbProxy, secretsProxy);
    Object.assign(process.env, {
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL_DYNAMODB: dynamodbProxy.endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsProxy.endpoint,
      TABLE_NAME: 'bench-partition',
      SIGNING_SECRET_ID: 'bench-secret',
      BUCKET_NAME: 'bench-bucket',
      POWERTOOLS_LOG_LEVEL: 'CRITICAL',
      POWERTOOLS_METRICS_DISABLED: 'true',
    });
    const direct = new DynamoDBClient({ endpoint: dynamoDbLocal.endpoint });
    await createStateTable(direct, 'bench-partition');
    direct.destroy();

    const coldStart = (): Handler => {
      delete require.cache[require.resolve(bundle)];
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- a fresh load of the bundle: a cold start
      return (require(bundle) as { handler: Handler }).handler;
    };
    const webhook = (status: 'starting' | 'succeeded'): APIGatewayProxyEventV2 => {
      const body = Buffer.from(
        JSON.stringify({
          id: `bench${randomBytes(8).toString('hex')}`,
          model: 'black-forest-labs/flux-schnell',
          version: '5599ed30703defd1d160a25a63321b4dec97101d98b4674bcc56e41f62f35637',
          status,
          output: null,
          created_at: new Date().toISOString(),
        }),
      );
      const webhookId = `msg_${randomBytes(12).toString('hex')}`;
      const timestamp = String(Math.floor(Date.now() / 1000));
      return toHttpApiEvent({
        method: 'POST',
        path: '/webhook',
        headers: [
          ['content-type', 'application/json'],
          ['webhook-id', webhookId],
          ['webhook-timestamp', timestamp],
          ['webhook-signature', signWebhook(secret, webhookId, timestamp, body)],
        ],
        body,
      });
    };
    const timed = async (handler: Handler, event: APIGatewayProxyEventV2): Promise<Sample> => {
      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      const response = await Promise.race([
        handler(event),
        new Promise<undefined>((resolve) => (timer = setTimeout(resolve, VERIFIER_TIMEOUT_MS, undefined))),
      ]);
      clearTimeout(timer);
      const ms = performance.now() - started;
      if (!response) return { ms, answer: 'no answer' };
      const { outcome, error } = JSON.parse(response.body ?? '{}') as { outcome?: string; error?: string };
      return { ms, answer: `${response.statusCode} ${outcome ?? error ?? ''}`.trim() };
    };

    const warm: Sample[] = [];
    const cold: Sample[] = [];
    const afterHeal: Sample[] = [];
    for (let i = 0; i < samples; i++) {
      const warmHandler = coldStart();
      const first = await timed(warmHandler, webhook('starting'));
      if (first.answer !== '200 accepted') throw new Error(`the warm-up webhook was answered ${first.answer}`);
      dynamodbProxy.partition();
      const event = webhook('succeeded');
      warm.push(await timed(warmHandler, event));
      dynamodbProxy.heal();
      // Replicate's retry of the same webhook, once the partition is over.
      afterHeal.push(await timed(warmHandler, event));

      const coldHandler = coldStart();
      secretsProxy.partition();
      cold.push(await timed(coldHandler, webhook('starting')));
      secretsProxy.heal();
    }
    return { bundle, samples, warm, cold, afterHeal };
  } finally {
    // Cuts whatever still waits on them.
    for (const proxy of proxies) await proxy.stop();
    await secrets.stop();
    await dynamoDbLocal.stop();
  }
}

export function reportPartitionLatency({ bundle, samples, warm, cold, afterHeal }: PartitionLatencyResult): string {
  const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const answers = (values: readonly Sample[]) => {
    const counts = new Map<string, number>();
    for (const { answer } of values) counts.set(answer, (counts.get(answer) ?? 0) + 1);
    return [...counts].map(([answer, count]) => `${count}× ${answer}`).join(', ');
  };
  const rows = [['', 'p50', 'p99', 'max', 'answers']];
  for (const [name, values] of [
    ['warm, DynamoDB partitioned (its connection frozen)', warm],
    ['cold, Secrets Manager partitioned', cold],
    ['the same webhook once healed', afterHeal],
  ] as const) {
    const ms = values.map((sample) => sample.ms);
    rows.push([name, seconds(median(ms)), seconds(percentile(ms, 99)), seconds(Math.max(...ms)), answers(values)]);
  }
  return [
    `Time to the verifier's answer under a partition, ${samples} samples each, ${bundle}`,
    `(awaited for the verifier's 10 s timeout at most; "no answer" is where Lambda would end the invocation):`,
    table(rows),
    'target: warm and cold p99 under 3 s, answered 503; once healed, accepted',
  ].join('\n');
}
