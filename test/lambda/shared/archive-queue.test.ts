/**
 * The archive queue's ceiling the main suite left unchecked (found by mutation testing,
 * docs/mutation.md): a prediction that keeps failing waits at most as long as SQS allows a
 * message to stay invisible, twelve hours, and never longer (SQS would refuse the call).
 */
import { MAX_VISIBILITY_TIMEOUT_SECONDS } from '../../../lambda/shared/archive-queue';
import { requeueDelaySeconds } from '../../../lambda/shared/retry';

test("a prediction that keeps failing waits SQS's longest visibility timeout, twelve hours", () => {
  expect(MAX_VISIBILITY_TIMEOUT_SECONDS).toBe(43_200);
  const longest = requeueDelaySeconds(40, 30, MAX_VISIBILITY_TIMEOUT_SECONDS, () => 1);
  expect(longest).toBe(12 * 3600);
});
