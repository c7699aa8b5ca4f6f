/** CloudWatch Logs: what the verifier, the API's access log, the forwarder and the archiver write, and how long it is kept. */
import { DAYS_PER_MONTH, KB_PER_GB, STRICT_LOG_RETENTION_DAYS, WEBHOOKS } from './assumptions';
import type { Flow } from './flow';
import { cents, count, num, price } from './format';
import { CLOUDWATCH_LOGS_INGESTION_PER_GB, CLOUDWATCH_LOGS_STORAGE_PER_GB_MONTH } from './prices';
import { perMillionWebhooks, type CostRow } from './rows';

/** The forwarder's and the archiver's bytes for one finished prediction. */
const perPredictionBytes = (logBytes: Flow['logBytes']) => logBytes.forwarderLogBytes + logBytes.archiverLogBytes;

/** Gigabytes of log messages per million webhooks. */
function logGb({ predictions, logBytes }: Flow): number {
  const logKb = (WEBHOOKS * logBytes.verifierLogBytes + predictions * perPredictionBytes(logBytes)) / 1024;
  return logKb / KB_PER_GB;
}

export function logsPerMillionWebhooks(flow: Flow): CostRow[] {
  const { verifierLogBytes } = flow.logBytes;
  const gb = logGb(flow);
  return [
    perMillionWebhooks(
      'logs-ingestion',
      'CloudWatch Logs',
      'ingestion: access log and verifier per webhook, forwarder and archiver per prediction',
      `(${count(WEBHOOKS)} × ${count(verifierLogBytes)} B + ${count(flow.predictions)} × ${count(perPredictionBytes(flow.logBytes))} B) ÷ 1,024 ÷ ${count(KB_PER_GB)} KB/GB = ${num(gb)} GB × ${price(CLOUDWATCH_LOGS_INGESTION_PER_GB)}/GB`,
      gb * CLOUDWATCH_LOGS_INGESTION_PER_GB,
    ),
    logStorage(gb, flow.settings.logRetentionDays),
  ];
}

/** Log groups that never expire are billed every month for what a month adds. */
function logStorage(gb: number, retentionDays: number | undefined): CostRow {
  if (retentionDays === undefined) {
    return perMillionWebhooks(
      'logs-storage',
      'CloudWatch Logs',
      'storage, kept forever (each month)',
      `${num(gb)} GB × ${price(CLOUDWATCH_LOGS_STORAGE_PER_GB_MONTH)}/GB-month`,
      gb * CLOUDWATCH_LOGS_STORAGE_PER_GB_MONTH,
    );
  }
  const months = retentionDays / DAYS_PER_MONTH;
  return perMillionWebhooks(
    'logs-storage',
    'CloudWatch Logs',
    `storage for ${retentionDays} days (uncompressed, an upper bound)`,
    `${num(gb)} GB × ${num(months)} months × ${price(CLOUDWATCH_LOGS_STORAGE_PER_GB_MONTH)}/GB-month`,
    gb * months * CLOUDWATCH_LOGS_STORAGE_PER_GB_MONTH,
  );
}

/**
 * Not a row: what log storage per million webhooks becomes with the retention a strict account
 * requires, when the template keeps logs for less.
 */
export function yearOfLogStorage(flow: Flow): number | undefined {
  const days = flow.settings.logRetentionDays;
  return days !== undefined && days < STRICT_LOG_RETENTION_DAYS
    ? cents(logGb(flow) * (STRICT_LOG_RETENTION_DAYS / DAYS_PER_MONTH) * CLOUDWATCH_LOGS_STORAGE_PER_GB_MONTH)
    : undefined;
}
