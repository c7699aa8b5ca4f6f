import fc from 'fast-check';
import {
  ReconciliationScope,
  advanceListing,
  decideReconcile,
  isOurWebhookUrl,
  listingSettleMs,
  nextSigningSecret,
  planListing,
  readStoredSigningSecret,
  sameWebhookUrl,
  type ListedPrediction,
  type ListingPass,
  type ListingProgress,
} from '../../../lambda/shared/reconcile';

const OURS = 'https://abc123.execute-api.eu-west-1.amazonaws.com/webhook';
const listed = (overrides: Partial<ListedPrediction> = {}): ListedPrediction => ({
  id: 'p1',
  status: 'succeeded',
  created_at: '2026-11-30T10:00:00Z',
  webhook: OURS,
  ...overrides,
});
// The table's rows are listed while young: a running one without a record is not settled yet.
const YOUNG = Date.parse('2026-11-30T10:00:00Z');
const SETTLED = YOUNG + 1;

describe('which listed predictions are recorded', () => {
  test.each<[string, ListedPrediction, Parameters<typeof decideReconcile>[1], ReconciliationScope, string]>([
    ['finished, ours, never seen', listed(), 'absent', ReconciliationScope.WEBHOOK_URL, 'record'],
    ['finished, ours, seen in progress', listed(), 'in_progress', ReconciliationScope.WEBHOOK_URL, 'record'],
    ['finished and recorded as finished', listed(), 'terminal', ReconciliationScope.WEBHOOK_URL, 'already_terminal'],
    ['still running', listed({ status: 'processing' }), 'absent', ReconciliationScope.WEBHOOK_URL, 'not_terminal_yet'],
    [
      "another application's webhook",
      listed({ webhook: 'https://other.example/hook' }),
      'absent',
      ReconciliationScope.WEBHOOK_URL,
      'out_of_scope',
    ],
    ['no webhook at all', listed({ webhook: null }), 'absent', ReconciliationScope.WEBHOOK_URL, 'out_of_scope'],
    ['a listing that does not say', listed({ webhook: undefined }), 'absent', ReconciliationScope.WEBHOOK_URL, 'check_webhook'],
    [
      'a listing that does not say, still running',
      listed({ webhook: undefined, status: 'processing' }),
      'absent',
      ReconciliationScope.WEBHOOK_URL,
      'not_terminal_yet',
    ],
    [
      'no webhook, but a webhook of it reached us',
      listed({ webhook: null }),
      'in_progress',
      ReconciliationScope.WEBHOOK_URL,
      'record',
    ],
    ['no webhook, account scope', listed({ webhook: undefined }), 'absent', ReconciliationScope.ACCOUNT, 'record'],
    [
      'failed, canceled and aborted count as finished',
      listed({ status: 'aborted' }),
      'absent',
      ReconciliationScope.WEBHOOK_URL,
      'record',
    ],
    [
      'an unknown status is not finished',
      listed({ status: 'queued' }),
      'absent',
      ReconciliationScope.ACCOUNT,
      'not_terminal_yet',
    ],
  ])('%s', (_name, prediction, recorded, scope, expected) => {
    expect(decideReconcile(prediction, recorded, scope, [OURS], YOUNG)).toBe(expected);
  });

  test.each<[string, ListedPrediction, Parameters<typeof decideReconcile>[1], ReconciliationScope, string]>([
    [
      'running a while, ours, no record',
      listed({ status: 'processing' }),
      'absent',
      ReconciliationScope.WEBHOOK_URL,
      'record_progress',
    ],
    [
      'starting a while, ours, no record',
      listed({ status: 'starting' }),
      'absent',
      ReconciliationScope.WEBHOOK_URL,
      'record_progress',
    ],
    [
      'running, recorded: followed already',
      listed({ status: 'processing' }),
      'in_progress',
      ReconciliationScope.WEBHOOK_URL,
      'not_terminal_yet',
    ],
    [
      "running, another application's",
      listed({ status: 'processing', webhook: 'https://other.example/hook' }),
      'absent',
      ReconciliationScope.WEBHOOK_URL,
      'out_of_scope',
    ],
    [
      'running, the listing does not say',
      listed({ status: 'processing', webhook: undefined }),
      'absent',
      ReconciliationScope.WEBHOOK_URL,
      'check_webhook',
    ],
    [
      'running, account scope',
      listed({ status: 'processing', webhook: null }),
      'absent',
      ReconciliationScope.ACCOUNT,
      'record_progress',
    ],
    [
      'running, no creation time: never settled',
      listed({ status: 'processing', created_at: undefined }),
      'absent',
      ReconciliationScope.ACCOUNT,
      'not_terminal_yet',
    ],
    ['finished: settling does not matter', listed(), 'absent', ReconciliationScope.WEBHOOK_URL, 'record'],
  ])('settled: %s', (_name, prediction, recorded, scope, expected) => {
    expect(decideReconcile(prediction, recorded, scope, [OURS], SETTLED)).toBe(expected);
  });

  test('any of the deployment URLs makes a prediction ours; none makes none', () => {
    const proxy = 'https://hooks.example.com/replicate';
    expect(
      decideReconcile(listed({ webhook: `${proxy}/` }), 'absent', ReconciliationScope.WEBHOOK_URL, [OURS, proxy], YOUNG),
    ).toBe('record');
    expect(decideReconcile(listed({ webhook: proxy }), 'absent', ReconciliationScope.WEBHOOK_URL, [OURS], YOUNG)).toBe(
      'out_of_scope',
    );
    expect(isOurWebhookUrl(proxy, [])).toBe(false);
    expect(isOurWebhookUrl(undefined, [OURS])).toBe(false);
  });

  test('the webhook URL matches as Replicate echoes it, not as a look-alike', () => {
    expect(sameWebhookUrl(`${OURS}/`, OURS)).toBe(true);
    expect(sameWebhookUrl(OURS.replace('https://abc123', 'https://ABC123'), OURS)).toBe(true);
    expect(sameWebhookUrl(OURS.replace('.com/', '.com:443/'), OURS)).toBe(true);
    expect(sameWebhookUrl(`${OURS}?x=1`, OURS)).toBe(true);
    expect(sameWebhookUrl(`${OURS}x`, OURS)).toBe(false);
    expect(sameWebhookUrl(OURS.replace('https:', 'http:'), OURS)).toBe(false);
    expect(sameWebhookUrl('https://abc123.execute-api.eu-west-1.amazonaws.com.evil.example/webhook', OURS)).toBe(false);
    expect(sameWebhookUrl('not a url', OURS)).toBe(false);
  });
});

describe('how far the listing is complete', () => {
  const MINUTE = 60_000;
  const LOOKBACK = 75 * MINUTE;
  const T = Date.parse('2026-12-01T12:00:00Z');
  const complete = (since: number, until: number): ListingPass => ({ since, until, complete: true });

  test('the first run lists the lookback only; once complete, everything before it counts as examined', () => {
    const plan = planListing(undefined, T, LOOKBACK);
    expect(plan).toEqual({ recentSince: T - LOOKBACK });
    const top = T - listingSettleMs(LOOKBACK);
    expect(advanceListing(undefined, plan, [complete(plan.recentSince, top)])).toEqual({
      completeBefore: top,
      examinedFrom: top,
      examinedUntil: top,
    });
  });

  test('a reconciler away for two hours lists the gap below the lookback, and nothing is left out', () => {
    const before: ListingProgress = {
      completeBefore: T - 2 * 60 * MINUTE,
      examinedFrom: T - 120 * MINUTE,
      examinedUntil: T - 120 * MINUTE,
    };
    const plan = planListing(before, T, LOOKBACK);
    expect(plan).toEqual({ recentSince: T - LOOKBACK, backlog: { since: T - 120 * MINUTE, until: T - LOOKBACK } });
    const top = T - 2 * MINUTE;
    const after = advanceListing(before, plan, [
      complete(plan.recentSince, top),
      complete(plan.backlog!.since, plan.backlog!.until),
    ]);
    expect(after.completeBefore).toBe(top);
  });

  test('a backlog cut short carries on below where it stopped, not from the top again', () => {
    const before: ListingProgress = {
      completeBefore: T - 3 * 24 * 60 * MINUTE,
      examinedFrom: T - 3 * 24 * 60 * MINUTE,
      examinedUntil: T - 3 * 24 * 60 * MINUTE,
    };
    const plan = planListing(before, T, LOOKBACK);
    const top = T - 2 * MINUTE;
    const stoppedAt = T - 30 * 60 * MINUTE;
    const after = advanceListing(before, plan, [
      complete(plan.recentSince, top),
      { since: plan.backlog!.since, until: plan.backlog!.until, complete: false, oldestExamined: stoppedAt },
    ]);
    expect(after).toEqual({ completeBefore: before.completeBefore, examinedFrom: stoppedAt + 1, examinedUntil: top });
    // Five minutes later: the recent pass, then the backlog from where it stopped.
    const next = planListing(after, T + 5 * MINUTE, LOOKBACK);
    expect(next.backlog).toEqual({ since: before.completeBefore, until: stoppedAt + 1 });
  });

  test('a recent pass cut short still extends the complete part it joins; one that examined nothing changes nothing', () => {
    const before: ListingProgress = {
      completeBefore: T - 7 * MINUTE,
      examinedFrom: T - 7 * MINUTE,
      examinedUntil: T - 7 * MINUTE,
    };
    const plan = planListing(before, T, LOOKBACK);
    expect(plan.backlog).toBeUndefined();
    const after = advanceListing(before, plan, [
      { since: plan.recentSince, until: T - 2 * MINUTE, complete: false, oldestExamined: T - 20 * MINUTE },
    ]);
    expect(after.completeBefore).toBe(T - 2 * MINUTE);
    const cutHigher = advanceListing(before, plan, [
      { since: plan.recentSince, until: T - 2 * MINUTE, complete: false, oldestExamined: T - 5 * MINUTE },
    ]);
    expect(cutHigher).toEqual({
      completeBefore: before.completeBefore,
      examinedFrom: T - 5 * MINUTE + 1,
      examinedUntil: T - 2 * MINUTE,
    });
    expect(advanceListing(before, plan, [{ since: plan.recentSince, until: T - 2 * MINUTE, complete: false }])).toEqual(before);
  });

  test('three days away, each run able to list six hours of them: the backlog catches up in about a dozen runs', () => {
    const capacity = 6 * 60 * MINUTE;
    let now = T;
    let progress: ListingProgress | undefined = {
      completeBefore: T - 3 * 24 * 60 * MINUTE,
      examinedFrom: T - 3 * 24 * 60 * MINUTE,
      examinedUntil: T - 3 * 24 * 60 * MINUTE,
    };
    let runs = 0;
    while (progress.completeBefore < now - listingSettleMs(LOOKBACK) && runs < 50) {
      runs++;
      now += 5 * MINUTE;
      const plan = planListing(progress, now, LOOKBACK);
      const passes: ListingPass[] = [complete(plan.recentSince, now - listingSettleMs(LOOKBACK))];
      if (plan.backlog) {
        const { since, until } = plan.backlog;
        passes.push(
          until - since <= capacity
            ? complete(since, until)
            : { since, until, complete: false, oldestExamined: until - capacity },
        );
      }
      progress = advanceListing(progress, plan, passes);
    }
    expect(runs).toBeLessThanOrEqual(13);
  });

  test('the settled part of a run is a quarter of a short lookback, two minutes of a long one', () => {
    expect(listingSettleMs(LOOKBACK)).toBe(2 * MINUTE);
    expect(listingSettleMs(20_000)).toBe(5_000);
  });

  /**
   * Any sequence of runs (each starting a few minutes after the last, or hours later; each pass
   * complete, cut short anywhere, or failing): `completeBefore` never claims a creation time that
   * no pass examined, and once a run's passes complete, everything before its settled top is claimed.
   */
  test('property: the watermark claims only what was examined, and catches up once runs complete', () => {
    const run = fc.record({
      gapMinutes: fc.oneof(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 60, max: 3 * 24 * 60 })),
      recent: fc.oneof(fc.constant(1), fc.double({ min: 0, max: 1, noNaN: true }), fc.constant(-1)),
      backlog: fc.oneof(fc.constant(1), fc.double({ min: 0, max: 1, noNaN: true }), fc.constant(-1)),
    });
    fc.assert(
      fc.property(fc.array(run, { minLength: 1, maxLength: 30 }), (runs) => {
        let now = T;
        let progress: ListingProgress | undefined;
        const examined: Array<[number, number]> = [];
        // Before the first run's lookback, nothing is claimed: the construct was not there.
        const start = T + runs[0].gapMinutes * MINUTE - LOOKBACK;
        const examinedAll = (from: number, until: number) => {
          // Whether [from, until) is covered by what the passes examined.
          let reached = from;
          for (const [a, b] of [...examined].sort((x, y) => x[0] - y[0])) if (a <= reached && b > reached) reached = b;
          return reached >= until;
        };
        const settle = listingSettleMs(LOOKBACK);
        for (const { gapMinutes, recent, backlog } of runs) {
          now += gapMinutes * MINUTE;
          const plan = planListing(progress, now, LOOKBACK);
          const passes: ListingPass[] = [];
          const pass = (since: number, until: number, outcome: number): ListingPass => {
            if (outcome === 1) {
              examined.push([since, until]);
              return { since, until, complete: true };
            }
            if (outcome < 0) return { since, until, complete: false };
            // Cut short: newest first, down to the oldest it reached.
            const oldest = Math.floor(until - (until - since) * outcome);
            examined.push([oldest + 1, until]);
            return { since, until, complete: false, oldestExamined: oldest };
          };
          passes.push(pass(plan.recentSince, now - settle, recent));
          if (plan.backlog) passes.push(pass(plan.backlog.since, plan.backlog.until, backlog));
          progress = advanceListing(progress, plan, passes);
          expect(progress.completeBefore <= progress.examinedFrom && progress.examinedFrom <= progress.examinedUntil).toBe(true);
          // Safe: all it claims was examined (from the start of time that matters: the first lookback).
          expect(examinedAll(start, progress.completeBefore)).toBe(true);
          expect(examinedAll(progress.examinedFrom, progress.examinedUntil)).toBe(true);
          // Live: a run whose passes all complete leaves nothing pending below its settled top.
          if (recent === 1 && (!plan.backlog || backlog === 1)) expect(progress.completeBefore).toBe(now - settle);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('signing key bootstrap and rotation', () => {
  const now = new Date('2026-11-30T12:00:00Z');
  const day = 24 * 3600;

  test("an empty secret gets Replicate's key", () => {
    expect(nextSigningSecret(undefined, 'whsec_new', now, day)).toEqual({ key: 'whsec_new' });
  });

  test('the same key changes nothing', () => {
    expect(nextSigningSecret({ key: 'whsec_a' }, 'whsec_a', now, day)).toBeUndefined();
  });

  test('a new key goes first and the old one stays accepted, dated', () => {
    expect(nextSigningSecret({ key: 'whsec_old' }, 'whsec_new', now, day)).toEqual({
      key: 'whsec_new',
      keys: ['whsec_old'],
      rotatedAt: now.toISOString(),
    });
  });

  test('the old keys go once the grace period has passed, not before', () => {
    const rotated = { key: 'whsec_new', keys: ['whsec_old'], rotatedAt: '2026-11-30T00:00:00Z' };
    expect(nextSigningSecret(rotated, 'whsec_new', now, day)).toBeUndefined();
    expect(nextSigningSecret(rotated, 'whsec_new', new Date('2026-12-01T00:00:00Z'), day)).toEqual({ key: 'whsec_new' });
  });

  test('extra keys a person added without a date are dropped once the key is confirmed', () => {
    expect(nextSigningSecret({ key: 'whsec_a', keys: ['whsec_b'] }, 'whsec_a', now, day)).toEqual({ key: 'whsec_a' });
  });

  test('a second rotation keeps every key still in its grace period, once each', () => {
    const once = nextSigningSecret({ key: 'whsec_1' }, 'whsec_2', now, day)!;
    expect(nextSigningSecret(once, 'whsec_3', now, day)).toEqual({
      key: 'whsec_3',
      keys: ['whsec_2', 'whsec_1'],
      rotatedAt: now.toISOString(),
    });
    expect(nextSigningSecret({ key: 'whsec_2', keys: ['whsec_3'] }, 'whsec_3', now, day)).toEqual({
      key: 'whsec_3',
      keys: ['whsec_2'],
      rotatedAt: now.toISOString(),
    });
  });

  test('the stored forms the verifier accepts are all read', () => {
    expect(readStoredSigningSecret(undefined)).toBeUndefined();
    expect(readStoredSigningSecret('')).toBeUndefined();
    expect(readStoredSigningSecret('placeholder-generated-by-cloudformation')).toBeUndefined();
    expect(readStoredSigningSecret('whsec_a')).toEqual({ key: 'whsec_a' });
    expect(readStoredSigningSecret('whsec_a, whsec_b')).toEqual({ key: 'whsec_a', keys: ['whsec_b'] });
    expect(readStoredSigningSecret(' {"key":"whsec_a","keys":["whsec_b"],"rotatedAt":"x"}')).toEqual({
      key: 'whsec_a',
      keys: ['whsec_b'],
      rotatedAt: 'x',
    });
    expect(readStoredSigningSecret('{broken')).toBeUndefined();
  });
});

/**
 * The reconciler's decisions at the edges the main suite left undecided (found by mutation
 * testing, docs/mutation.md): webhook URLs that cannot be parsed, runs of trailing slashes,
 * stored keys that are not signing keys, and a stored secret whose JSON has fields of the
 * wrong type.
 */
describe('edges', () => {
  describe('whose webhook a listed prediction has', () => {
    const OURS = 'https://abc123.execute-api.eu-west-1.amazonaws.com/webhook';

    test('any run of trailing slashes is the same URL', () => {
      expect(sameWebhookUrl(`${OURS}//`, OURS)).toBe(true);
      expect(sameWebhookUrl(OURS, `${OURS}///`)).toBe(true);
    });

    test('two URLs that cannot be parsed are not the same webhook, even when equal', () => {
      expect(sameWebhookUrl('not a url', 'not a url')).toBe(false);
      expect(sameWebhookUrl('', '')).toBe(false);
    });
  });

  describe('the stored signing secret', () => {
    const now = new Date('2026-11-30T12:00:00Z');
    const day = 24 * 3600;

    test('on rotation, only signing keys stay accepted: a value that is not one is dropped', () => {
      expect(nextSigningSecret({ key: 'whsec_old', keys: ['placeholder', ''] }, 'whsec_new', now, day)).toStrictEqual({
        key: 'whsec_new',
        keys: ['whsec_old'],
        rotatedAt: now.toISOString(),
      });
      expect(nextSigningSecret({ key: 'placeholder-generated-by-cloudformation' }, 'whsec_new', now, day)).toStrictEqual({
        key: 'whsec_new',
      });
    });

    test('fields of the wrong type in the stored JSON are left out, not passed on', () => {
      expect(readStoredSigningSecret('{"key":5,"keys":"whsec_b","rotatedAt":7}')).toStrictEqual({});
      expect(readStoredSigningSecret('{"keys":["whsec_b",3,null,"whsec_c"]}')).toStrictEqual({ keys: ['whsec_b', 'whsec_c'] });
      expect(readStoredSigningSecret('{"key":"whsec_a"}')).toStrictEqual({ key: 'whsec_a' });
    });
  });
});
