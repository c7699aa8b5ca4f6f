/** API Gateway's throttle, as local mode applies it: the token bucket and the limits it is given. */
import { TokenBucket, throttleLimits } from '../../../local/aws/api-gateway';
import { WEBHOOK_THROTTLE_DEFAULTS } from '../../../lambda/verifier/settings';

/** A bucket on a clock the test moves (milliseconds). */
function bucketAt(limits: { rateLimit: number; burstLimit: number }) {
  let now = 0;
  const bucket = new TokenBucket(limits, () => now);
  const take = (count: number) => Array.from({ length: count }, () => bucket.take()).filter(Boolean).length;
  return { take, advance: (ms: number) => (now += ms) };
}

describe('the token bucket', () => {
  test('starts full: a burst of burstLimit passes at once, the next request does not', () => {
    const { take } = bucketAt({ rateLimit: 10, burstLimit: 5 });
    expect(take(5)).toBe(5);
    expect(take(1)).toBe(0);
  });

  test('refills at rateLimit a second, fractions included', () => {
    const { take, advance } = bucketAt({ rateLimit: 10, burstLimit: 5 });
    take(5);
    advance(250);
    expect(take(5)).toBe(2);
    advance(50);
    expect(take(1)).toBe(1);
    expect(take(1)).toBe(0);
  });

  test('never holds more than burstLimit, however long it rests', () => {
    const { take, advance } = bucketAt({ rateLimit: 1000, burstLimit: 3 });
    advance(60_000);
    expect(take(10)).toBe(3);
  });

  test('a steady rate at the limit passes whole', () => {
    const { take, advance } = bucketAt({ rateLimit: 4, burstLimit: 1 });
    let passed = 0;
    for (let second = 0; second < 10; second++) {
      for (let quarter = 0; quarter < 4; quarter++) {
        advance(250);
        passed += take(1);
      }
    }
    expect(passed).toBe(40);
  });
});

describe("local mode's throttle option", () => {
  test("defaults to the construct's limits, which are the README's 1,000 a second and bursts of 2,000", () => {
    expect(throttleLimits(undefined)).toEqual(WEBHOOK_THROTTLE_DEFAULTS);
    expect(WEBHOOK_THROTTLE_DEFAULTS).toEqual({ rateLimit: 1000, burstLimit: 2000 });
  });

  test('takes either limit, keeping the default of the other', () => {
    expect(throttleLimits({ rateLimit: 5 })).toEqual({ rateLimit: 5, burstLimit: 2000 });
    expect(throttleLimits({ burstLimit: 7 })).toEqual({ rateLimit: 1000, burstLimit: 7 });
  });

  test('false turns it off', () => {
    expect(throttleLimits(false)).toBeUndefined();
  });
});
