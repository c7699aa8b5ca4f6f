/**
 * Starts the next model of a chain when a prediction succeeds: an EventBridge target for the
 * completion events of `replicate-webhooks-cdk`.
 *
 * 1. decide (pure): is there an archived output to pass on, and what does the request look like;
 * 2. claim the source prediction in a small table (EventBridge delivers at least once, and
 *    Replicate's API documents no idempotency key: a duplicate event would run the model twice);
 * 3. presign a GET URL of the archived copy (Replicate's own file is deleted after an hour);
 * 4. create the prediction with this deployment's webhook URL, so its result is archived too;
 * 5. record the new prediction's id on the claim.
 *
 * A failure after the claim releases it and throws: Lambda's asynchronous retries, then the
 * dead-letter queue, take over. The one duplicate left: Replicate accepted step 4 but this
 * invocation never learned it (its answer timed out, or the function died before step 5); the
 * claim then expires or is released, and a retry starts the next model again.
 */
import {
  type ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Context, EventBridgeEvent } from 'aws-lambda';
import { randomUUID } from 'node:crypto';
import type { CompletionMessage } from 'replicate-webhooks-cdk';
import { readChainSettings, type ChainSettings } from './settings';

export type ChainPlan =
  | { readonly start: false; readonly reason: string }
  | {
      readonly start: true;
      readonly sourcePredictionId: string;
      readonly file: { readonly bucket: string; readonly key: string };
      /** The API path and body, but for the file URL, which is signed only once the claim is held. */
      readonly path: string;
      readonly body: (fileUrl: string) => Record<string, unknown>;
    };

/** What to start for this completion message, if anything. Pure. */
export function planNextPrediction(message: CompletionMessage, settings: ChainSettings): ChainPlan {
  if (message.status !== 'succeeded') return { start: false, reason: `status ${message.status}` };
  // The first archived file: an image model's output list, or the one file of most models.
  const file = message.outputs[0];
  if (!file) return { start: false, reason: 'no archived output file' };
  const { owner, name, version } = settings.nextModel;
  const common = (fileUrl: string) => ({
    input: { ...settings.nextInput, [settings.nextInputField]: fileUrl },
    webhook: settings.webhookUrl,
    // Only the result matters to the archive; progress webhooks would cost invocations for nothing.
    webhook_events_filter: ['completed'],
  });
  return {
    start: true,
    sourcePredictionId: message.predictionId,
    file: { bucket: file.bucket, key: file.key },
    ...(version
      ? { path: '/v1/predictions', body: (fileUrl: string) => ({ version, ...common(fileUrl) }) }
      : {
          path: `/v1/models/${encodeURIComponent(owner)}/${encodeURIComponent(name)}/predictions`,
          body: common,
        }),
  };
}

/** Replicate answered with an error: `status` says whether a retry can help (429, 5xx). */
export class ReplicateRequestError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'ReplicateRequestError';
  }
}

/** Another invocation holds the claim right now: thrown, so this event is retried after it. */
export class ChainInProgressError extends Error {
  override name = 'ChainInProgressError';
}

type ClaimResult =
  { readonly claimed: true; readonly token: string } | { readonly claimed: false; readonly nextPredictionId: string };

/** One item per source prediction: `starting` while held, `started` with the new id once done. */
export class ChainClaims {
  constructor(
    private readonly dynamodb: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async claim(sourcePredictionId: string, holdMs: number): Promise<ClaimResult> {
    const now = Date.now();
    const token = randomUUID();
    try {
      await this.dynamodb.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: {
            sourcePredictionId: { S: sourcePredictionId },
            state: { S: 'starting' },
            claimToken: { S: token },
            claimedUntil: { N: String(now + holdMs) },
            // Duplicates come within hours; a month of claims costs next to nothing.
            expiresAt: { N: String(Math.floor(now / 1000) + 30 * 24 * 3600) },
          },
          // Free, or held by an invocation that ran out of time without starting anything.
          ConditionExpression: 'attribute_not_exists(sourcePredictionId) OR (#state = :starting AND claimedUntil < :now)',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':starting': { S: 'starting' }, ':now': { N: String(now) } },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { claimed: true, token };
    } catch (error) {
      // By name: the bundle may carry another copy of the SDK's class.
      if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
      const held = (error as ConditionalCheckFailedException).Item;
      const nextPredictionId = held?.nextPredictionId?.S;
      if (held?.state?.S === 'started' && nextPredictionId) return { claimed: false, nextPredictionId };
      throw new ChainInProgressError(`prediction ${sourcePredictionId} is being chained by another invocation`);
    }
  }

  async started(sourcePredictionId: string, token: string, nextPredictionId: string): Promise<void> {
    await this.dynamodb.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: { sourcePredictionId: { S: sourcePredictionId } },
        UpdateExpression: 'SET #state = :started, nextPredictionId = :next REMOVE claimToken, claimedUntil',
        ConditionExpression: 'claimToken = :token',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: { ':started': { S: 'started' }, ':next': { S: nextPredictionId }, ':token': { S: token } },
      }),
    );
  }

  async release(sourcePredictionId: string, token: string): Promise<void> {
    await this.dynamodb.send(
      new DeleteItemCommand({
        TableName: this.tableName,
        Key: { sourcePredictionId: { S: sourcePredictionId } },
        ConditionExpression: 'claimToken = :token',
        ExpressionAttributeValues: { ':token': { S: token } },
      }),
    );
  }
}

const TOKEN_CACHE_MS = 5 * 60 * 1000;
const REQUEST_TIMEOUT_MS = 15_000;
const DEFAULT_HOLD_MS = 60_000;

let clients: { dynamodb: DynamoDBClient; s3: S3Client; secrets: SecretsManagerClient } | undefined;
let cachedToken: { value: string; until: number } | undefined;

/** The token secret holds the plain token, or JSON `{"token": "r8_..."}`; cached a few minutes, so a rotation is picked up. */
async function readToken(secrets: SecretsManagerClient, secretId: string): Promise<string> {
  if (cachedToken && cachedToken.until > Date.now()) return cachedToken.value;
  const secret = await secrets.send(new GetSecretValueCommand({ SecretId: secretId }));
  const text = (secret.SecretString ?? '').trim();
  const token = text.startsWith('{') ? (JSON.parse(text) as { token?: unknown }).token : text;
  if (typeof token !== 'string' || token.length === 0) throw new Error('the Replicate API token secret holds no token');
  cachedToken = { value: token, until: Date.now() + TOKEN_CACHE_MS };
  return token;
}

async function createPrediction(settings: ChainSettings, token: string, path: string, body: unknown): Promise<string> {
  const url = new URL(path, settings.apiBaseUrl);
  const response = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    // A redirect would be a second, unchecked destination for the token.
    redirect: 'error',
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await response.text();
  if (response.status !== 201 && response.status !== 200) {
    // Replicate's error bodies carry a `detail`; the token is never part of what is said.
    const detail = text.slice(0, 500).split(token).join('[redacted]');
    throw new ReplicateRequestError(`Replicate answered ${response.status} to POST ${url.pathname}: ${detail}`, response.status);
  }
  const id = (JSON.parse(text) as { id?: unknown }).id;
  if (typeof id !== 'string') throw new Error(`Replicate answered POST ${url.pathname} without a prediction id`);
  return id;
}

export interface ChainResult {
  readonly sourcePredictionId: string;
  readonly outcome: 'started' | 'already_started' | 'skipped';
  readonly nextPredictionId?: string;
  readonly reason?: string;
}

export const handler = async (
  event: EventBridgeEvent<string, CompletionMessage>,
  context?: Pick<Context, 'getRemainingTimeInMillis'>,
): Promise<ChainResult> => {
  const settings = readChainSettings();
  clients ??= { dynamodb: new DynamoDBClient({}), s3: new S3Client({}), secrets: new SecretsManagerClient({}) };
  const message = event.detail;
  const plan = planNextPrediction(message, settings);
  if (!plan.start) return log({ sourcePredictionId: message.predictionId, outcome: 'skipped', reason: plan.reason });

  const claims = new ChainClaims(clients.dynamodb, settings.claimsTable);
  // Held as long as this invocation can run: past that, a retry may take over.
  const claim = await claims.claim(plan.sourcePredictionId, context?.getRemainingTimeInMillis() ?? DEFAULT_HOLD_MS);
  if (!claim.claimed) {
    return log({
      sourcePredictionId: plan.sourcePredictionId,
      outcome: 'already_started',
      nextPredictionId: claim.nextPredictionId,
    });
  }
  let nextPredictionId: string;
  try {
    const token = await readToken(clients.secrets, settings.tokenSecretId);
    const fileUrl = await getSignedUrl(
      clients.s3,
      new GetObjectCommand({ Bucket: plan.file.bucket, Key: plan.file.key }),
      // A URL signed with the function's temporary credentials stops working when they expire,
      // whatever this says; Replicate fetches inputs when the prediction starts.
      { expiresIn: settings.inputUrlExpirySeconds },
    );
    nextPredictionId = await createPrediction(settings, token, plan.path, plan.body(fileUrl));
  } catch (error) {
    // Best effort: a claim left behind expires with this invocation, and the retry takes it then.
    await claims.release(plan.sourcePredictionId, claim.token).catch(() => undefined);
    throw error;
  }
  await claims.started(plan.sourcePredictionId, claim.token, nextPredictionId);
  return log({ sourcePredictionId: plan.sourcePredictionId, outcome: 'started', nextPredictionId });
};

function log(result: ChainResult): ChainResult {
  console.log(JSON.stringify({ message: 'chain', ...result }));
  return result;
}
