/**
 * The local inspector: a page on the webhook's own port (`GET /`) that lists deliveries live,
 * shows one in full (headers, body, why its signature failed, the prediction's record, its
 * archived files and completion message) and replays it. Local mode only; nothing of this is
 * deployed. Bodies stay in memory (DeliveryRecorder) and are never logged.
 */
import { GetItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ARCHIVE_FOLDERS, manifestKey } from '../../lambda/shared/archive-layout';
import type { CompletionMessage } from '../../lambda/shared/completion-message';
import { CompletionKind, isPredictionId } from '../../lambda/shared/prediction';
import { signWebhook } from '../../lambda/shared/signature';
import { predictionItemKey } from '../../lambda/shared/state';
import { diagnoseSignature } from './diagnose';
import { INSPECTOR_PAGE } from './page';
import {
  DeliveryRecorder,
  summarize,
  type Delivery,
  type DeliverySummary,
  type RecorderLimits,
  type ReplayMode,
} from './recorder';

export interface WebhookRequest {
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Buffer;
}

export interface WebhookAnswer {
  readonly status: number;
  readonly body: Buffer;
}

export interface InspectorOptions extends RecorderLimits {
  /** Local mode's signing secret, to say why a signature failed and to re-sign replays. */
  readonly signingSecret: string;
  readonly toleranceSeconds: number;
  readonly dynamodb: DynamoDBClient;
  readonly s3: S3Client;
  readonly tableName: string;
  readonly bucketName: string;
  readonly archivePrefix: string;
  /** The interface the server listens on: on loopback, requests must name a loopback host too (no DNS rebinding). */
  readonly listenHost: string;
}

export interface Inspector {
  /** Answers the inspector's routes; false for anything else. */
  serve(request: IncomingMessage, response: ServerResponse, url: URL): Promise<boolean>;
  /** Called by the HTTP adapter for every webhook it handled. */
  observe(
    request: WebhookRequest,
    answer: WebhookAnswer,
    receivedAt: Date,
    latencyMs: number,
    replay?: Delivery['replay'],
  ): DeliverySummary;
  /** The completion message of a finished prediction, as the completion topic carried it. */
  recordCompletion(message: CompletionMessage): void;
  /** How replays reach the verifier: through the adapter, as a delivery would (the inspector records them itself). */
  attach(deliver: (request: WebhookRequest) => Promise<WebhookAnswer>): void;
  readonly recorder: DeliveryRecorder;
}

const API = '/_inspector/api';
const LOOPBACK_LISTEN = new Set(['127.0.0.1', 'localhost', '::1']);
const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]']);

export function createInspector(options: InspectorOptions): Inspector {
  const inspector = new LocalInspector(options);
  return {
    recorder: inspector.recorder,
    serve: (request, response, url) => inspector.serve(request, response, url),
    observe: (request, answer, receivedAt, latencyMs, replay) =>
      inspector.observe(request, answer, receivedAt, latencyMs, replay),
    recordCompletion: (message) => inspector.recordCompletion(message),
    attach: (deliver) => inspector.attach(deliver),
  };
}

class LocalInspector {
  readonly recorder: DeliveryRecorder;
  /** The latest completion messages, oldest first, as many as deliveries are kept. */
  private readonly completions = new Map<string, CompletionMessage>();
  private readonly maxCompletions: number;
  private deliver: ((request: WebhookRequest) => Promise<WebhookAnswer>) | undefined;

  constructor(private readonly options: InspectorOptions) {
    this.recorder = new DeliveryRecorder(options);
    this.maxCompletions = options.maxDeliveries ?? 200;
  }

  attach(deliver: (request: WebhookRequest) => Promise<WebhookAnswer>): void {
    this.deliver = deliver;
  }

  recordCompletion(message: CompletionMessage): void {
    this.completions.delete(message.predictionId);
    this.completions.set(message.predictionId, message);
    if (this.completions.size > this.maxCompletions) this.completions.delete(this.completions.keys().next().value!);
  }

  async serve(request: IncomingMessage, response: ServerResponse, url: URL): Promise<boolean> {
    const path = url.pathname;
    if (path !== '/' && !path.startsWith('/_inspector/')) return false;
    if (!this.hostAllowed(request)) {
      request.resume();
      sendJson(response, 403, { error: 'the inspector answers loopback host names only' });
      return true;
    }
    if (request.method === 'GET' && path === '/') {
      send(response, 200, 'text/html; charset=utf-8', INSPECTOR_PAGE);
      return true;
    }
    if (request.method === 'GET' && path === `${API}/deliveries`) {
      sendJson(response, 200, { deliveries: this.recorder.list() });
      return true;
    }
    if (request.method === 'GET' && path === `${API}/stream`) {
      this.stream(request, response);
      return true;
    }
    const detail = new RegExp(`^${API}/deliveries/(\\d+)$`).exec(path);
    if (request.method === 'GET' && detail) {
      const delivery = this.recorder.get(Number(detail[1]));
      if (!delivery) sendJson(response, 404, { error: 'no such delivery (only the most recent are kept)' });
      else sendJson(response, 200, await this.describe(delivery));
      return true;
    }
    const replay = new RegExp(`^${API}/deliveries/(\\d+)/replay$`).exec(path);
    if (request.method === 'POST' && replay) {
      await this.replay(request, response, url, Number(replay[1]));
      return true;
    }
    if (request.method === 'GET' && path === '/_inspector/files') {
      await this.download(url.searchParams.get('key') ?? '', response);
      return true;
    }
    request.resume();
    sendJson(response, 404, { error: 'not found' });
    return true;
  }

  observe(
    request: WebhookRequest,
    answer: WebhookAnswer,
    receivedAt: Date,
    latencyMs: number,
    replay?: Delivery['replay'],
  ): DeliverySummary {
    const headers = Object.fromEntries(request.headers.map(([name, value]) => [name.toLowerCase(), value]));
    let parsed: Record<string, unknown> | undefined;
    try {
      parsed = JSON.parse(answer.body.toString('utf8')) as Record<string, unknown>;
    } catch {
      parsed = undefined;
    }
    const recorded = this.recorder.add({
      receivedAt: receivedAt.toISOString(),
      headers: request.headers,
      body: request.body,
      status: answer.status,
      ...(parsed ? { answer: parsed } : {}),
      latencyMs,
      signature: diagnoseSignature(
        headers,
        request.body,
        this.options.signingSecret,
        Math.floor(receivedAt.getTime() / 1000),
        this.options.toleranceSeconds,
      ),
      ...(replay ? { replay } : {}),
    });
    return summarize(recorded);
  }

  private hostAllowed(request: IncomingMessage): boolean {
    if (!LOOPBACK_LISTEN.has(this.options.listenHost)) return true;
    const host = (request.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
    return LOOPBACK_NAMES.has(host);
  }

  private stream(request: IncomingMessage, response: ServerResponse): void {
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    response.write(': inspector\n\n');
    const unsubscribe = this.recorder.subscribe((summary) =>
      response.write(`event: delivery\ndata: ${JSON.stringify(summary)}\n\n`),
    );
    const keepAlive = setInterval(() => response.write(': keep-alive\n\n'), 15_000);
    request.once('close', () => {
      clearInterval(keepAlive);
      unsubscribe();
    });
  }

  /** Sends a recorded delivery to the verifier again, as sent or re-signed now, and records it too. */
  private async replay(request: IncomingMessage, response: ServerResponse, url: URL, seq: number): Promise<void> {
    request.resume();
    // A custom header: a cross-origin page cannot send it without a preflight, which is never answered.
    if (request.headers['x-inspector'] !== '1') {
      sendJson(response, 403, { error: 'replays need the x-inspector header' });
      return;
    }
    const mode: ReplayMode = url.searchParams.get('mode') === 're-signed' ? 're-signed' : 'as-sent';
    const original = this.recorder.get(seq);
    if (!original || !this.deliver) {
      sendJson(response, 404, { error: 'no such delivery (only the most recent are kept)' });
      return;
    }
    const replayed = this.replayRequest(original, mode);
    const receivedAt = new Date();
    const started = performance.now();
    const answer = await this.deliver(replayed);
    const latencyMs = Math.round(performance.now() - started);
    sendJson(response, 200, this.observe(replayed, answer, receivedAt, latencyMs, { of: original.seq, mode }));
  }

  private replayRequest(original: Delivery, mode: ReplayMode): WebhookRequest {
    if (mode === 'as-sent') return { headers: original.headers, body: original.body };
    const webhookId = original.headers.find(([name]) => name.toLowerCase() === 'webhook-id')?.[1] ?? `msg_replay_${original.seq}`;
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signature = signWebhook(this.options.signingSecret, webhookId, timestamp, original.body);
    const resigned = new Map([
      ['webhook-id', webhookId],
      ['webhook-timestamp', timestamp],
      ['webhook-signature', signature],
    ]);
    const headers = original.headers.filter(([name]) => !resigned.has(name.toLowerCase()));
    return { headers: [...headers, ...resigned.entries()], body: original.body };
  }

  /** A delivery in full, with its prediction's record, manifest and completion message when there are. */
  private async describe(delivery: Delivery): Promise<Record<string, unknown>> {
    const summary = summarize(delivery);
    const predictionId = summary.predictionId && isPredictionId(summary.predictionId) ? summary.predictionId : undefined;
    const [record, manifest] = predictionId
      ? await Promise.all([this.readRecord(predictionId), this.readManifest(predictionId, summary.kind)])
      : [undefined, undefined];
    const text = delivery.body.toString('utf8');
    const isText = Buffer.from(text, 'utf8').equals(delivery.body);
    return {
      summary,
      headers: delivery.headers,
      body: isText ? { text } : { base64: delivery.body.toString('base64') },
      answer: delivery.answer ?? null,
      signature: delivery.signature,
      record: record ?? null,
      manifest: manifest ?? null,
      manifestKey: manifest && predictionId ? manifestKey(this.options.archivePrefix, predictionId, summary.kind) : null,
      completion: (predictionId && this.completions.get(predictionId)) ?? null,
    };
  }

  private async readRecord(predictionId: string): Promise<Record<string, unknown> | undefined> {
    const { Item } = await this.options.dynamodb.send(
      new GetItemCommand({
        TableName: this.options.tableName,
        Key: { pk: { S: predictionItemKey(predictionId) } },
        ConsistentRead: true,
      }),
    );
    return Item ? (unmarshall(Item) as Record<string, unknown>) : undefined;
  }

  private async readManifest(predictionId: string, kind = CompletionKind.PREDICTION): Promise<unknown> {
    try {
      const object = await this.options.s3.send(
        new GetObjectCommand({
          Bucket: this.options.bucketName,
          Key: manifestKey(this.options.archivePrefix, predictionId, kind),
        }),
      );
      return JSON.parse(await object.Body!.transformToString()) as unknown;
    } catch (error) {
      if ((error as Error)?.name === 'NoSuchKey') return undefined; // not archived (yet)
      throw error;
    }
  }

  private async download(key: string, response: ServerResponse): Promise<void> {
    // Only what the archiver wrote: the archive, not the spilled payloads or anything else in the bucket.
    const archived = Object.values(ARCHIVE_FOLDERS).some((folder) => key.startsWith(`${this.options.archivePrefix}${folder}`));
    if (!archived || key.includes('..')) {
      sendJson(response, 400, { error: 'not an archived file' });
      return;
    }
    try {
      const object = await this.options.s3.send(new GetObjectCommand({ Bucket: this.options.bucketName, Key: key }));
      const bytes = Buffer.from(await object.Body!.transformToByteArray());
      const name = key.slice(key.lastIndexOf('/') + 1).replace(/[^\w.-]/g, '_');
      response.writeHead(200, {
        'content-type': object.ContentType ?? 'application/octet-stream',
        'content-length': String(bytes.length),
        'content-disposition': `attachment; filename="${name}"`,
      });
      response.end(bytes);
    } catch (error) {
      if ((error as Error)?.name !== 'NoSuchKey') throw error;
      sendJson(response, 404, { error: 'no such file' });
    }
  }
}

function send(response: ServerResponse, status: number, contentType: string, body: string): void {
  response.writeHead(status, {
    'content-type': contentType,
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
    // The page loads nothing from elsewhere and runs only its own script.
    'content-security-policy':
      "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'",
    'x-content-type-options': 'nosniff',
  });
  response.end(body);
}

const sendJson = (response: ServerResponse, status: number, body: unknown) =>
  send(response, status, 'application/json', JSON.stringify(body));
