/**
 * The reconciler's decisions at the edges the main suite left undecided (found by mutation
 * testing, docs/mutation.md): webhook URLs that cannot be parsed, runs of trailing slashes,
 * stored keys that are not signing keys, and a stored secret whose JSON has fields of the
 * wrong type.
 */
import { nextSigningSecret, readStoredSigningSecret, sameWebhookUrl } from '../lambda/shared/reconcile';

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
