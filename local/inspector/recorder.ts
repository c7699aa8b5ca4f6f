/**
 * The inspector's memory: the last deliveries to the webhook, bodies included, held only in
 * memory and bounded by count and by bytes (bodies may hold user data, and a load test must not
 * grow local mode without end). Never logged.
 */
import { completionKindOf, type CompletionKind } from '../../lambda/shared/prediction';
import type { SignatureDiagnosis } from './diagnose';

export type ReplayMode = 'as-sent' | 're-signed';

export interface Delivery {
  readonly seq: number;
  readonly receivedAt: string;
  /** As received, names in their original case. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Buffer;
  readonly status: number;
  /** The verifier's JSON answer. */
  readonly answer?: Readonly<Record<string, unknown>>;
  readonly latencyMs: number;
  readonly signature: SignatureDiagnosis;
  readonly replay?: { readonly of: number; readonly mode: ReplayMode };
}

/** What the list shows, and what the live stream sends: no headers, no body. */
export interface DeliverySummary {
  readonly seq: number;
  readonly receivedAt: string;
  readonly webhookId?: string;
  readonly predictionId?: string;
  readonly predictionStatus?: string;
  /** `prediction` or `training`, as the verifier tells them apart; absent when the body is no prediction. */
  readonly kind?: CompletionKind;
  readonly status: number;
  /** `accepted`, `duplicate`, `stale`, `after_terminal`, or the 4xx/5xx reason. */
  readonly verdict: string;
  readonly latencyMs: number;
  readonly bytes: number;
  readonly replay?: Delivery['replay'];
}

export interface RecorderLimits {
  /** @default 200 */
  readonly maxDeliveries?: number;
  /** Bodies kept, in total. @default 64 MiB */
  readonly maxBodyBytes?: number;
}

export class DeliveryRecorder {
  private readonly deliveries: Delivery[] = [];
  private readonly listeners = new Set<(summary: DeliverySummary) => void>();
  private nextSeq = 1;
  private bodyBytes = 0;
  private readonly maxDeliveries: number;
  private readonly maxBodyBytes: number;

  constructor(limits: RecorderLimits = {}) {
    this.maxDeliveries = limits.maxDeliveries ?? 200;
    this.maxBodyBytes = limits.maxBodyBytes ?? 64 * 1024 * 1024;
  }

  add(delivery: Omit<Delivery, 'seq'>): Delivery {
    const recorded: Delivery = { ...delivery, seq: this.nextSeq++ };
    this.deliveries.push(recorded);
    this.bodyBytes += recorded.body.length;
    // The newest always stays, even when its body alone is over the byte bound.
    while (this.deliveries.length > 1 && (this.deliveries.length > this.maxDeliveries || this.bodyBytes > this.maxBodyBytes)) {
      this.bodyBytes -= this.deliveries.shift()!.body.length;
    }
    const summary = summarize(recorded);
    for (const listener of this.listeners) listener(summary);
    return recorded;
  }

  get(seq: number): Delivery | undefined {
    return this.deliveries.find((delivery) => delivery.seq === seq);
  }

  /** Oldest first. */
  list(): DeliverySummary[] {
    return this.deliveries.map(summarize);
  }

  subscribe(listener: (summary: DeliverySummary) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

const headerValue = (delivery: Delivery, name: string): string | undefined =>
  delivery.headers.find(([key]) => key.toLowerCase() === name)?.[1];

export function summarize(delivery: Delivery): DeliverySummary {
  const answer = delivery.answer ?? {};
  const verdict =
    typeof answer.outcome === 'string'
      ? answer.outcome
      : typeof answer.error === 'string'
        ? answer.error
        : `http_${delivery.status}`;
  const prediction = predictionFields(delivery.body);
  return {
    seq: delivery.seq,
    receivedAt: delivery.receivedAt,
    webhookId: headerValue(delivery, 'webhook-id'),
    predictionId: typeof answer.predictionId === 'string' ? answer.predictionId : prediction.id,
    predictionStatus: prediction.status,
    ...(prediction.kind ? { kind: prediction.kind } : {}),
    status: delivery.status,
    verdict,
    latencyMs: delivery.latencyMs,
    bytes: delivery.body.length,
    ...(delivery.replay ? { replay: delivery.replay } : {}),
  };
}

// Enough to read `id` and `status` of any real prediction; a larger body is still shown whole in its detail.
const MAX_PARSED_BYTES = 8 * 1024 * 1024;

/** The prediction's id and status when the body is a JSON object that has them (forged ones too). */
function predictionFields(body: Buffer): { id?: string; status?: string; kind?: CompletionKind } {
  if (body.length > MAX_PARSED_BYTES) return {};
  try {
    const parsed = JSON.parse(body.toString('utf8')) as unknown;
    if (typeof parsed !== 'object' || parsed === null) return {};
    const { id, status } = parsed as { id?: unknown; status?: unknown };
    return {
      ...(typeof id === 'string' ? { id: id.slice(0, 128), kind: completionKindOf(parsed as Record<string, unknown>) } : {}),
      ...(typeof status === 'string' ? { status: status.slice(0, 32) } : {}),
    };
  } catch {
    return {};
  }
}
