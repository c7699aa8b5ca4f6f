/**
 * Prediction lifecycles for the suite: start, several logs/output webhooks, a terminal webhook
 * with 1–3 output files served from loopback, then the duplicates, reordering and late webhooks
 * Replicate can produce (planned by the sender's `planDeliveries`). Each webhook keeps the
 * timestamp it was "sent" with, so a duplicate or a late copy is signed exactly like the original.
 */
import type { FileServer } from '../support/file-server';
import { sha256 } from './harness';
import { generatePredictionId, generateWebhookId, planDeliveries, type Delivery } from '../../cli/scenarios';

export interface PlannedWebhook extends Delivery {
  readonly timestamp: number;
}

export interface PredictionPlan {
  readonly id: string;
  readonly terminalStatus: 'succeeded' | 'failed' | 'canceled';
  readonly files: ReadonlyArray<{ readonly url: string; readonly sha256: string; readonly bytes: number }>;
  /** In the order they will be sent. */
  readonly webhooks: readonly PlannedWebhook[];
}

export interface PlanOptions {
  readonly duplicateRate: number;
  readonly reorderRate: number;
  /** Chance that a prediction also gets a late webhook after its terminal one. */
  readonly lateRate: number;
  /** The prediction's `webhook` field (absent when not given). */
  readonly webhookUrl?: string;
  /** When it was created. @default a minute ago */
  readonly createdAt?: Date;
  /** Logs webhooks between start and completed. @default 2–4 */
  readonly steps?: number;
  /**
   * A training instead: `urls` under /v1/trainings/, a `destination`, and (it always succeeds)
   * `output: { version, weights }` with one weights file of `weightsBytes` (default 1 MiB).
   */
  readonly training?: { readonly weightsBytes?: number };
}

export function planPrediction(random: () => number, files: FileServer, options: PlanOptions): PredictionPlan {
  const id = generatePredictionId(random);
  const training = options.training;
  const roll = training ? 0 : random();
  const terminalStatus = roll < 0.9 ? 'succeeded' : roll < 0.95 ? 'failed' : 'canceled';
  const fileCount = training ? 1 : terminalStatus === 'succeeded' ? 1 + Math.floor(random() * 3) : 0;
  const served = Array.from({ length: fileCount }, (_, index) => {
    const { url, bytes } = training
      ? files.serveRandom(`/${id}/trained_model.tar`, training.weightsBytes ?? 1024 * 1024, 'application/x-tar')
      : files.serveRandom(`/${id}/out-${index}.png`, 1024 + Math.floor(random() * 63 * 1024), 'image/png');
    return { url, sha256: sha256(bytes), bytes: bytes.length };
  });
  const collection = training ? 'trainings' : 'predictions';
  const createdAt = options.createdAt ?? new Date(Date.now() - 60_000);
  const base = {
    id,
    ...(training
      ? {
          model: 'ostris/flux-dev-lora-trainer',
          version: 'e440909d3512c31646ee2e0c7d6f6f4923224863a6a10c494606e79fb5844497',
          destination: 'alice/my-flux',
          input: { input_images: 'https://example.com/photos.zip', steps: 1000 },
        }
      : {
          model: 'black-forest-labs/flux-schnell',
          version: '5599ed30703defd1d160a25a63321b4dec97101d98b4674bcc56e41f62f35637',
          input: { prompt: 'a lighthouse at dawn', num_outputs: fileCount },
        }),
    data_removed: false,
    source: 'api',
    created_at: createdAt.toISOString(),
    ...(options.webhookUrl !== undefined ? { webhook: options.webhookUrl } : {}),
    urls: {
      get: `https://api.replicate.com/v1/${collection}/${id}`,
      cancel: `https://api.replicate.com/v1/${collection}/${id}/cancel`,
    },
  };
  const steps = options.steps ?? 2 + Math.floor(random() * 3);
  const bodies: Array<{ status: string; event: Delivery['event']; body: Record<string, unknown> }> = [
    {
      status: 'starting',
      event: 'start',
      body: { ...base, status: 'starting', logs: '', output: null, error: null, metrics: {} },
    },
  ];
  let logs = '';
  for (let step = 1; step <= steps; step++) {
    logs += `${Math.round((step / (steps + 1)) * 100)}%|${'#'.repeat(step)}| ${step}/${steps + 1}\n`;
    bodies.push({
      status: 'processing',
      event: 'logs',
      body: { ...base, status: 'processing', started_at: createdAt.toISOString(), logs, output: null, error: null, metrics: {} },
    });
  }
  bodies.push({
    status: terminalStatus,
    event: 'completed',
    body: {
      ...base,
      status: terminalStatus,
      started_at: createdAt.toISOString(),
      completed_at: new Date().toISOString(),
      logs,
      output: training
        ? { version: `alice/my-flux:${id}`, weights: served[0].url }
        : terminalStatus === 'succeeded'
          ? served.map((file) => file.url)
          : null,
      error: terminalStatus === 'failed' ? 'CUDA out of memory' : null,
      metrics: { predict_time: steps * 0.4 },
    },
  });
  // "Sent" one second apart, in lifecycle order, ending now.
  const now = Math.floor(Date.now() / 1000);
  const timestamps = new Map<string, number>();
  const deliveries: Delivery[] = bodies.map(({ status, event, body }, index) => {
    const webhookId = generateWebhookId(random);
    timestamps.set(webhookId, now - bodies.length + index);
    return { webhookId, status, event, body: JSON.stringify(body) };
  });
  const planned = planDeliveries(deliveries, {
    duplicateRate: options.duplicateRate,
    reorderRate: options.reorderRate,
    afterTerminal: random() < options.lateRate ? 1 : 0,
    random,
  });
  return {
    id,
    terminalStatus,
    files: served,
    // A late webhook was sent after the terminal one, so it carries a later timestamp.
    webhooks: planned.map((delivery) => ({ ...delivery, timestamp: timestamps.get(delivery.webhookId) ?? now })),
  };
}
