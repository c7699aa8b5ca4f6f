/** The webhook's path: the HTTP API, the verifier, its writes to the table, and the signing key it reads. */
import { HOURS_PER_MONTH, MB_PER_GB, MEASURED, verifierSecondsAt, WARM_VERIFIERS, WEBHOOKS } from './assumptions';
import type { Flow } from './flow';
import { count, num, price } from './format';
import {
  DYNAMODB_PER_MILLION_WRU,
  HTTP_API_PER_MILLION_REQUESTS,
  LAMBDA_PER_MILLION_REQUESTS,
  lambdaPricePerGbSecond,
  S3_PER_THOUSAND_PUTS,
  SECRET_PER_MONTH,
  SECRETS_MANAGER_PER_10K_CALLS,
} from './prices';
import { fixedMonthly, perMillionWebhooks, type CostRow } from './rows';

export function webhookPerMillionWebhooks({ settings, predictions, intermediates, spilled, terminal }: Flow): CostRow[] {
  const gbSecondPrice = lambdaPricePerGbSecond('verifier', settings.verifier.architecture);
  const measuredWebhooks = MEASURED.webhooks;
  const verifierGb = settings.verifier.memoryMb / MB_PER_GB;
  const { seconds: verifierSeconds } = verifierSecondsAt(settings.verifier.memoryMb);
  const verifierGbSeconds = WEBHOOKS * verifierSeconds * verifierGb;
  const startWru = measuredWebhooks.start.wru;
  // Logs and output are not kept in the item: an intermediate webhook with large logs costs the same.
  const intermediateWru = Math.max(measuredWebhooks.intermediate.wru, measuredWebhooks.intermediateLargeLogs.wru);
  const progressWru = predictions * startWru + intermediates * intermediateWru;
  const rows = [
    perMillionWebhooks(
      'api-requests',
      'API Gateway',
      'HTTP API requests',
      `${count(WEBHOOKS)} × ${price(HTTP_API_PER_MILLION_REQUESTS)}/M`,
      (WEBHOOKS * HTTP_API_PER_MILLION_REQUESTS) / 1e6,
    ),
    perMillionWebhooks(
      'verifier-requests',
      'Lambda',
      'verifier requests',
      `${count(WEBHOOKS)} × ${price(LAMBDA_PER_MILLION_REQUESTS)}/M`,
      (WEBHOOKS * LAMBDA_PER_MILLION_REQUESTS) / 1e6,
    ),
    perMillionWebhooks(
      'verifier-compute',
      'Lambda',
      `verifier compute (${settings.verifier.memoryMb} MB, ${settings.verifier.architecture})`,
      `${count(WEBHOOKS)} × ${num(verifierSeconds, 4)} s × ${num(verifierGb, 3)} GB = ${num(verifierGbSeconds)} GB-s × ${price(gbSecondPrice)}`,
      verifierGbSeconds * gbSecondPrice,
    ),
    perMillionWebhooks(
      'verifier-writes-progress',
      'DynamoDB',
      'UpdateItem of start and intermediate webhooks (measured)',
      `${count(predictions)} × ${startWru} WRU + ${count(intermediates)} × ${intermediateWru} WRU = ${count(progressWru)} WRU × ${price(DYNAMODB_PER_MILLION_WRU)}/M`,
      (progressWru * DYNAMODB_PER_MILLION_WRU) / 1e6,
    ),
    perMillionWebhooks(
      'verifier-writes-terminal',
      'DynamoDB',
      `${spilled ? 'UpdateItem' : 'PutItem of the payload and UpdateItem of the record'} for terminal webhooks (measured: the payload ${spilled ? 'spilled' : 'in an item of its own'}, the archive-pending index included)`,
      `${count(predictions)} × ${terminal.wru} WRU × ${price(DYNAMODB_PER_MILLION_WRU)}/M`,
      (predictions * terminal.wru * DYNAMODB_PER_MILLION_WRU) / 1e6,
    ),
  ];
  if (spilled) {
    rows.push(
      perMillionWebhooks(
        'verifier-spill-puts',
        'S3',
        'PUT of terminal payloads above the inline limit',
        `${count(predictions)} × 1 PUT × ${price(S3_PER_THOUSAND_PUTS)}/1,000`,
        (predictions * S3_PER_THOUSAND_PUTS) / 1000,
      ),
    );
  }
  // Uncached, the verifier reads the key for every webhook; cached, the reads are a fixed cost (signingKeyMonthly).
  if (settings.keyCacheTtlSeconds === 0) {
    rows.push(
      perMillionWebhooks(
        'secret-reads',
        'Secrets Manager',
        'signing key read for every webhook (no cache)',
        `${count(WEBHOOKS)} × ${price(SECRETS_MANAGER_PER_10K_CALLS)}/10,000`,
        (WEBHOOKS * SECRETS_MANAGER_PER_10K_CALLS) / 10_000,
      ),
    );
  }
  return rows;
}

/** The signing key secret, and its reads when the verifiers cache it. */
export function signingKeyMonthly({ settings }: Flow): CostRow[] {
  const rows: CostRow[] = [];
  if (settings.secrets > 0) {
    rows.push(
      fixedMonthly(
        'secrets',
        'Secrets Manager',
        'signing key secret',
        `${settings.secrets} × ${price(SECRET_PER_MONTH)}`,
        settings.secrets * SECRET_PER_MONTH,
      ),
    );
  }
  // A TTL of 0 caches nothing: the reads follow the webhooks and are priced with them.
  if (settings.keyCacheTtlSeconds > 0) {
    const refetchesPerHour = 3600 / settings.keyCacheTtlSeconds;
    const keyReads = WARM_VERIFIERS * HOURS_PER_MONTH * refetchesPerHour;
    rows.push(
      fixedMonthly(
        'secret-reads',
        'Secrets Manager',
        `signing key reads (cache ${settings.keyCacheTtlSeconds} s)`,
        `${WARM_VERIFIERS} verifiers × ${HOURS_PER_MONTH} h × ${num(refetchesPerHour)}/h = ${count(keyReads)} × ${price(SECRETS_MANAGER_PER_10K_CALLS)}/10,000`,
        (keyReads * SECRETS_MANAGER_PER_10K_CALLS) / 10_000,
      ),
    );
  }
  return rows;
}
