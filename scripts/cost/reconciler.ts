/**
 * The reconciler, when the template has one: its scheduled runs, what each run reads, and the
 * look-ups of every prediction its lookback lists. Its rows' ids start with `reconciler-`, which
 * is how the README's addition for it finds them.
 */
import {
  HOURS_PER_MONTH,
  MB_PER_GB,
  RECONCILER_INDEX_QUERIES_PER_RUN,
  RECONCILER_INDEX_RRU_PER_QUERY,
  RECONCILER_RRU_PER_LOOKUP,
  RECONCILER_SECONDS_PER_RUN,
  RECONCILER_SECRET_READS_PER_RUN,
  SECONDS_PER_MONTH,
} from './assumptions';
import type { Flow } from './flow';
import { count, num, price } from './format';
import {
  DYNAMODB_PER_MILLION_RRU,
  EVENTBRIDGE_SCHEDULED_PER_MILLION,
  LAMBDA_PER_MILLION_REQUESTS,
  lambdaPricePerGbSecond,
  SECRET_PER_MONTH,
  SECRETS_MANAGER_PER_10K_CALLS,
} from './prices';
import { alarmedMetrics } from './monitoring';
import { fixedMonthly, perMillionWebhooks, type CostRow } from './rows';

export function reconcilerPerMillionWebhooks({ settings, predictions, lookupsPerPrediction }: Flow): CostRow[] {
  if (!settings.reconciler) return [];
  const lookups = predictions * lookupsPerPrediction;
  return [
    perMillionWebhooks(
      'reconciler-lookups',
      'DynamoDB',
      `reconciler: each listed prediction looked up (BatchGetItem) by every run of its lookback`,
      `${count(predictions)} × ${lookupsPerPrediction} runs × ${RECONCILER_RRU_PER_LOOKUP} RRU = ${count(lookups)} × ${price(DYNAMODB_PER_MILLION_RRU)}/M`,
      (lookups * RECONCILER_RRU_PER_LOOKUP * DYNAMODB_PER_MILLION_RRU) / 1e6,
    ),
  ];
}

export function reconcilerMonthly({ settings }: Flow): CostRow[] {
  const { reconciler } = settings;
  if (!reconciler) return [];
  const gbSecondPrice = lambdaPricePerGbSecond('reconciler', reconciler.architecture);
  // Whole runs, so each row's figures follow from the ones printed before them.
  const runs = Math.round(SECONDS_PER_MONTH / reconciler.intervalSeconds);
  const runsText = `${HOURS_PER_MONTH} h × 3,600 s/h ÷ ${count(reconciler.intervalSeconds)} s = ${count(runs)}`;
  const gb = reconciler.memoryMb / MB_PER_GB;
  const gbSeconds = runs * RECONCILER_SECONDS_PER_RUN * gb;
  const secretReads = runs * RECONCILER_SECRET_READS_PER_RUN;
  const indexRru = runs * RECONCILER_INDEX_QUERIES_PER_RUN * RECONCILER_INDEX_RRU_PER_QUERY;
  return [
    fixedMonthly(
      'reconciler-schedule',
      'EventBridge',
      `reconciler schedule, every ${num(reconciler.intervalSeconds / 60)} min (scheduled rules are free)`,
      `${runsText} × ${price(EVENTBRIDGE_SCHEDULED_PER_MILLION)}/M`,
      (runs * EVENTBRIDGE_SCHEDULED_PER_MILLION) / 1e6,
    ),
    fixedMonthly(
      'reconciler-requests',
      'Lambda',
      'reconciler requests',
      `${runsText} × ${price(LAMBDA_PER_MILLION_REQUESTS)}/M`,
      (runs * LAMBDA_PER_MILLION_REQUESTS) / 1e6,
    ),
    fixedMonthly(
      'reconciler-compute',
      'Lambda',
      `reconciler compute (${reconciler.memoryMb} MB, ${reconciler.architecture})`,
      `${count(runs)} × ${num(RECONCILER_SECONDS_PER_RUN, 3)} s × ${num(gb, 3)} GB = ${num(gbSeconds)} GB-s × ${price(gbSecondPrice)}`,
      gbSeconds * gbSecondPrice,
    ),
    fixedMonthly(
      'reconciler-secret-reads',
      'Secrets Manager',
      'reconciler reads of the API token and the signing secret',
      `${count(runs)} × ${RECONCILER_SECRET_READS_PER_RUN} = ${count(secretReads)} × ${price(SECRETS_MANAGER_PER_10K_CALLS)}/10,000`,
      (secretReads * SECRETS_MANAGER_PER_10K_CALLS) / 10_000,
    ),
    fixedMonthly(
      'reconciler-token-secret',
      'Secrets Manager',
      'the Replicate API token secret (yours; counted as made for this)',
      `1 × ${price(SECRET_PER_MONTH)}`,
      SECRET_PER_MONTH,
    ),
    fixedMonthly(
      'reconciler-index-queries',
      'DynamoDB',
      'reconciler Query of the archive-pending index (sparse: about empty)',
      `${count(runs)} × ${RECONCILER_INDEX_QUERIES_PER_RUN} × ${num(RECONCILER_INDEX_RRU_PER_QUERY)} RRU = ${count(indexRru)} × ${price(DYNAMODB_PER_MILLION_RRU)}/M`,
      (indexRru * DYNAMODB_PER_MILLION_RRU) / 1e6,
    ),
    // With detailedMetrics, the base estimate counts every name, the reconciler's included.
    ...(settings.detailedMetrics ? [] : [alarmedMetrics(settings, true)]),
  ];
}
