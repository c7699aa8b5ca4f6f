/**
 * Warm verifier latency against DynamoDB Local, vs the same write (one UpdateItem) issued directly
 * to the same emulator in the same run: what our handler adds on top of its one unavoidable write.
 * The handler is the shipped bundle (assets/verifier), wired by environment variables.
 */
import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { parsePrediction } from '../lambda/shared/prediction';
import { signWebhook } from '../lambda/shared/signature';
import { buildUpdate, placePayload, type StoreSettings, type WebhookRecord } from '../lambda/store/webhook-store';
import { toHttpApiEvent } from '../local/aws/api-gateway';
import { createStateTable } from '../local/state-table';
import { startDynamoDbLocal } from '../local/aws/standins/dynamodb-local';
import { startSecretsManager } from '../local/aws/standins/secrets-manager';
import { formatNs, median, percentile, ratio, table } from './stats';

type Handler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;

export interface HandlerLatencyResult {
  readonly iterations: number;
  readonly handlerNs: number[];
  readonly directNs: number[];
}

export async function benchHandlerLatency(iterations = 1000, warmup = 200): Promise<HandlerLatencyResult> {
  const dynamoDbLocal = await startDynamoDbLocal();
  const secrets = await startSecretsManager();
  try {
    const secret = `whsec_${randomBytes(24).toString('base64')}`;
    secrets.putSecret('bench-secret', secret);
    const settings: StoreSettings = {
      tableName: 'bench-state',
      bucketName: 'bench-bucket',
      archivePrefix: '',
      maxInlinePayloadBytes: 16 * 1024,
    };
    Object.assign(process.env, {
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL_DYNAMODB: dynamoDbLocal.endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
      TABLE_NAME: settings.tableName,
      SIGNING_SECRET_ID: 'bench-secret',
      BUCKET_NAME: settings.bucketName,
      POWERTOOLS_LOG_LEVEL: 'ERROR',
      POWERTOOLS_METRICS_DISABLED: 'false',
    });
    const direct = new DynamoDBClient({});
    await createStateTable(direct, settings.tableName);
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the built bundle, loaded by its path
    const { handler } = require(join(__dirname, '..', 'assets', 'verifier', 'index.js')) as { handler: Handler };

    const webhook = (n: number) => {
      const body = Buffer.from(
        JSON.stringify({
          id: `bench${n}${randomBytes(6).toString('hex')}`,
          model: 'black-forest-labs/flux-schnell',
          version: '5599ed30703defd1d160a25a63321b4dec97101d98b4674bcc56e41f62f35637',
          status: 'processing',
          logs: 'Using seed: 1234\n 50%|#####     | 2/4 [00:00<00:00,  5.12it/s]\n',
          output: null,
          created_at: new Date().toISOString(),
        }),
      );
      const webhookId = `msg_${randomBytes(12).toString('hex')}`;
      const timestamp = String(Math.floor(Date.now() / 1000));
      return { body, webhookId, timestamp };
    };
    const handlerCall = async (n: number) => {
      const { body, webhookId, timestamp } = webhook(n);
      const event = toHttpApiEvent({
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
      const started = process.hrtime.bigint();
      const response = await handler(event);
      const elapsed = Number(process.hrtime.bigint() - started);
      if (response.statusCode !== 200 || !response.body?.includes('"accepted"'))
        throw new Error(`handler answered ${response.body}`);
      return elapsed;
    };
    const directCall = async (n: number) => {
      const { body, webhookId, timestamp } = webhook(n);
      const parsed = parsePrediction(body);
      if (!parsed.ok) throw new Error('bad bench payload');
      const record: WebhookRecord = {
        webhookId,
        timestampSeconds: Number(timestamp),
        prediction: parsed.prediction,
        body,
        bodyBytes: body.length,
        receivedAt: new Date(),
      };
      const input = buildUpdate(record, placePayload(record, settings), settings);
      const started = process.hrtime.bigint();
      await direct.send(new UpdateItemCommand(input));
      return Number(process.hrtime.bigint() - started);
    };

    // Metrics stay on (their cost is part of the handler's), but their lines are not the report's.
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = () => true;
    for (let i = 0; i < warmup; i++) {
      await handlerCall(i);
      await directCall(i);
    }
    const handlerNs: number[] = [];
    const directNs: number[] = [];
    // Interleaved, so both see the same emulator state and machine load.
    for (let i = 0; i < iterations; i++) {
      handlerNs.push(await handlerCall(warmup + i));
      directNs.push(await directCall(warmup + i));
    }
    process.stdout.write = write;
    direct.destroy();
    return { iterations, handlerNs, directNs };
  } finally {
    await secrets.stop();
    await dynamoDbLocal.stop();
  }
}

export function reportHandlerLatency({ iterations, handlerNs, directNs }: HandlerLatencyResult): string {
  const rows = [['', 'p50', 'p90', 'p99']];
  for (const [name, values] of [
    ['verifier handler (warm, accepted)', handlerNs],
    ['the same UpdateItem, direct', directNs],
  ] as const) {
    rows.push([name, formatNs(median(values)), formatNs(percentile(values, 90)), formatNs(percentile(values, 99))]);
  }
  return [
    `Warm handler latency against DynamoDB Local, ${iterations} webhooks each, interleaved:`,
    table(rows),
    `target: handler p50 / direct p50 = ${ratio(median(handlerNs), median(directNs))} (≤1.3×)`,
  ].join('\n');
}
