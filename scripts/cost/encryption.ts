/** KMS: the construct's customer managed keys and the data keys SNS asks for to encrypt the completion topic. */
import {
  COMPLETION_TOPIC_PUBLISHERS,
  SECONDS_PER_MONTH,
  SNS_DATA_KEY_REUSE_SECONDS,
  SNS_KMS_REQUESTS_PER_REUSE_PERIOD,
} from './assumptions';
import type { Flow } from './flow';
import { count, price } from './format';
import { KMS_KEY_PER_MONTH, KMS_PER_10K_REQUESTS } from './prices';
import { fixedMonthly, type CostRow } from './rows';

export function encryptionMonthly({ settings }: Flow): CostRow[] {
  const rows: CostRow[] = [];
  if (settings.kmsKeys > 0) {
    rows.push(
      fixedMonthly(
        'kms-keys',
        'KMS',
        `customer managed key${settings.kmsKeys > 1 ? 's' : ''}`,
        `${settings.kmsKeys} × ${price(KMS_KEY_PER_MONTH)}`,
        settings.kmsKeys * KMS_KEY_PER_MONTH,
      ),
    );
  }
  if (settings.encryptedCompletionTopic) {
    // Per SNS's formula, not per publish: an upper bound, reached when the archiver publishes at least every 5 minutes.
    const requests =
      (SECONDS_PER_MONTH / SNS_DATA_KEY_REUSE_SECONDS) * SNS_KMS_REQUESTS_PER_REUSE_PERIOD * COMPLETION_TOPIC_PUBLISHERS;
    rows.push(
      fixedMonthly(
        'completion-kms',
        'KMS',
        `data keys for the encrypted completion topic (SNS reuses one for ${SNS_DATA_KEY_REUSE_SECONDS / 60} minutes per publisher: ${SNS_KMS_REQUESTS_PER_REUSE_PERIOD} requests each time)`,
        `${count(SECONDS_PER_MONTH)} s ÷ ${SNS_DATA_KEY_REUSE_SECONDS} s × ${SNS_KMS_REQUESTS_PER_REUSE_PERIOD} × ${COMPLETION_TOPIC_PUBLISHERS} publisher = ${count(requests)} × ${price(KMS_PER_10K_REQUESTS)}/10,000`,
        (requests * KMS_PER_10K_REQUESTS) / 10_000,
      ),
    );
  }
  return rows;
}
