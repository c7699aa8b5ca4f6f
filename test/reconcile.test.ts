import {
  ReconciliationScope,
  decideReconcile,
  nextSigningSecret,
  readStoredSigningSecret,
  sameWebhookUrl,
  type ListedPrediction,
} from '../lambda/shared/reconcile';

const OURS = 'https://abc123.execute-api.eu-west-1.amazonaws.com/webhook';
const listed = (overrides: Partial<ListedPrediction> = {}): ListedPrediction => ({
  id: 'p1',
  status: 'succeeded',
  created_at: '2026-11-30T10:00:00Z',
  webhook: OURS,
  ...overrides,
});

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
    expect(decideReconcile(prediction, recorded, scope, OURS)).toBe(expected);
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
