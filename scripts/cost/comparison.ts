/**
 * What the construct costs a month at three volumes, beside what it cost before issue 31 and
 * beside the seed-style handler it replaces (a Function URL and one PutItem per webhook, nothing
 * archived), priced with the same prices, traffic and measured bodies.
 */
import {
  DAYS_PER_MONTH,
  KB_PER_GB,
  LAMBDA_SYSTEM_RECORDS,
  MEASURED,
  MB_PER_GB,
  verifierSecondsAt,
  WEBHOOKS,
  WEBHOOKS_PER_PREDICTION,
} from './assumptions';
import { count, num, price, usd } from './format';
import {
  CLOUDWATCH_LOGS_INGESTION_PER_GB,
  CLOUDWATCH_LOGS_STORAGE_PER_GB_MONTH,
  DYNAMODB_PER_MILLION_WRU,
  LAMBDA_ARM_PER_GB_SECOND,
  LAMBDA_PER_MILLION_REQUESTS,
} from './prices';
import { perMillionWebhooks, totalOf, type CostRow } from './rows';

/** The README's figures before issue 31 (commit 50eab53): every metric, a dashboard, verbose logs, prediction.json. */
export const PREVIOUS = { perMillion: 9.95, fixed: 24.16 } as const;

/** Monthly volumes the comparison is printed for. */
export const COMPARED_VOLUMES = [10_000, 1_000_000, 100_000_000] as const;

/** The seed-style handler: the smallest Lambda, the verifier's measured duration, logs kept as ours are. */
export const SEED_MEMORY_MB = 128;
export const SEED_LOG_RETENTION_DAYS = 90;
/** Its item: the body as one attribute, plus the key and attribute names. */
export const SEED_ITEM_OVERHEAD_BYTES = 100;

const wruOf = (bodyBytes: number) => Math.ceil((bodyBytes + SEED_ITEM_OVERHEAD_BYTES) / 1024);

/** The seed-style handler per million webhooks: Function URLs are free; one invocation and one PutItem each. */
export function seedPerMillionWebhooks(): CostRow[] {
  const { start, intermediate, terminalInline } = MEASURED.webhooks;
  const predictions = WEBHOOKS / WEBHOOKS_PER_PREDICTION;
  const wruPerPrediction =
    wruOf(start.bodyBytes) + (WEBHOOKS_PER_PREDICTION - 2) * wruOf(intermediate.bodyBytes) + wruOf(terminalInline.bodyBytes);
  // As long as our verifier's one write: the seed's PutItem waits as long, and its CPU is little.
  const { seconds } = verifierSecondsAt(SEED_MEMORY_MB);
  const gbSeconds = WEBHOOKS * seconds * (SEED_MEMORY_MB / MB_PER_GB);
  const recordBytes = LAMBDA_SYSTEM_RECORDS.reduce((sum, line) => sum + Buffer.byteLength(line), 0);
  const logGb = (WEBHOOKS * recordBytes) / 1024 / KB_PER_GB;
  const months = SEED_LOG_RETENTION_DAYS / DAYS_PER_MONTH;
  return [
    perMillionWebhooks(
      'seed-requests',
      'Lambda',
      'requests (Function URL: no charge of its own)',
      `${count(WEBHOOKS)} × ${price(LAMBDA_PER_MILLION_REQUESTS)}/M`,
      (WEBHOOKS * LAMBDA_PER_MILLION_REQUESTS) / 1e6,
    ),
    perMillionWebhooks(
      'seed-compute',
      'Lambda',
      `compute (${SEED_MEMORY_MB} MB, arm64, ${num(seconds, 4)} s: our verifier's measured duration)`,
      `${count(WEBHOOKS)} × ${num(seconds, 4)} s × ${num(SEED_MEMORY_MB / MB_PER_GB, 3)} GB = ${num(gbSeconds)} GB-s × ${price(LAMBDA_ARM_PER_GB_SECOND)}`,
      gbSeconds * LAMBDA_ARM_PER_GB_SECOND,
    ),
    perMillionWebhooks(
      'seed-writes',
      'DynamoDB',
      `one PutItem of the whole body per webhook (the measured bodies, ${SEED_ITEM_OVERHEAD_BYTES} B of key and names each)`,
      `${count(predictions)} × ${wruPerPrediction} WRU = ${count(predictions * wruPerPrediction)} WRU × ${price(DYNAMODB_PER_MILLION_WRU)}/M`,
      (predictions * wruPerPrediction * DYNAMODB_PER_MILLION_WRU) / 1e6,
    ),
    perMillionWebhooks(
      'seed-logs',
      'CloudWatch Logs',
      `Lambda's start, runtimeDone and report records, kept ${SEED_LOG_RETENTION_DAYS} days`,
      `${count(WEBHOOKS)} × ${count(recordBytes)} B ÷ 1,024 ÷ ${count(KB_PER_GB)} KB/GB = ${num(logGb)} GB × (${price(CLOUDWATCH_LOGS_INGESTION_PER_GB)} + ${num(months)} months × ${price(CLOUDWATCH_LOGS_STORAGE_PER_GB_MONTH)})/GB`,
      logGb * (CLOUDWATCH_LOGS_INGESTION_PER_GB + months * CLOUDWATCH_LOGS_STORAGE_PER_GB_MONTH),
    ),
  ];
}

/** A month's cost at `webhooks` webhooks: the fixed part plus the per-million part in proportion. */
export const monthly = (webhooks: number, perMillion: number, fixed: number) => fixed + (perMillion * webhooks) / WEBHOOKS;

export function comparisonMarkdown(total: number, fixed: number): string[] {
  const seed = seedPerMillionWebhooks();
  const seedTotal = totalOf(seed);
  return [
    '**A month at three volumes, against a seed-style handler and the previous figures**',
    '',
    `Seed-style handler (a Function URL and one PutItem per webhook; nothing archived, announced, alarmed or recovered): ${usd(seedTotal)} per million webhooks, nothing fixed: ${seed.map((r) => `${r.service} ${r.item}: \`${r.arithmetic}\``).join('; ')}. Previous: this construct before issue 31 (every metric, a dashboard, verbose logs, prediction.json), ${usd(PREVIOUS.perMillion)} per million and ${usd(PREVIOUS.fixed)} fixed. Archive storage left out (the seed keeps no files).`,
    '',
    '| Webhooks a month | Seed-style handler | Previous | Now |',
    '| ---: | ---: | ---: | ---: |',
    ...COMPARED_VOLUMES.map(
      (volume) =>
        `| ${count(volume)} | ${usd(monthly(volume, seedTotal, 0))} | ${usd(monthly(volume, PREVIOUS.perMillion, PREVIOUS.fixed))} | ${usd(monthly(volume, total, fixed))} |`,
    ),
    '',
  ];
}
