/**
 * Signature edges the main suite left undecided (found by mutation testing, docs/mutation.md):
 * the base64 check of a key on its own, the secret's JSON forms, and the bounds of the headers.
 */
import {
  checkHeaders,
  decodeSigningKey,
  matchesAnyKey,
  parseSigningSecret,
  parseV1Signatures,
  signWebhook,
  verifyWebhook,
  type WellFormedRequest,
} from '../lambda/shared/signature';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const OTHER = `whsec_${Buffer.alloc(24, 7).toString('base64')}`;
const NOW = 1614265330;
const TIMESTAMP = String(NOW);
const BODY = '{"test": 2432232314}';

const signed = (webhookId: string, secret = SECRET) => ({
  webhookId,
  timestamp: TIMESTAMP,
  signature: signWebhook(secret, webhookId, TIMESTAMP, BODY),
  body: Buffer.from(BODY),
});

const refusal = (value: string): string => {
  try {
    parseSigningSecret(value);
  } catch (error) {
    expect(error).toMatchObject({ name: 'SigningSecretError' });
    return (error as Error).message;
  }
  throw new Error(`${JSON.stringify(value)} was accepted`);
};

describe('a whsec_ key is prefix then standard base64, padded', () => {
  test.each([
    ['no padding needed', `whsec_${Buffer.alloc(3, 1).toString('base64')}`, 3],
    ['one padding character', `whsec_${Buffer.alloc(2, 1).toString('base64')}`, 2],
    ['two padding characters', `whsec_${Buffer.alloc(1, 1).toString('base64')}`, 1],
    ['+ and / in the alphabet', 'whsec_+/+/', 3],
  ])('%s is accepted, to the exact bytes', (_name, secret, bytes) => {
    const key = decodeSigningKey(secret);
    expect(key).toHaveLength(bytes);
    expect(key.equals(Buffer.from(secret.slice(6), 'base64'))).toBe(true);
  });

  // Each has the prefix and is not empty: only the base64 check can refuse it.
  test.each([
    ['a length that is not a multiple of four', 'whsec_QUJD1'],
    ['missing padding', 'whsec_QUI'],
    ['padding in the middle', 'whsec_QQ==QUJD'],
    ['three padding characters', 'whsec_Q==='],
    ['URL-safe alphabet', 'whsec_-_-_'],
    ['a character outside base64, in the first group', 'whsec_QU.D'],
    ['a character outside base64, after valid groups', 'whsec_QUJDQU.D'],
    ['junk after the padding', 'whsec_QQ==x'],
  ])('%s is refused as not base64', (_name, secret) => {
    expect(() => decodeSigningKey(secret)).toThrow('signing secret is not a whsec_<base64> key');
  });

  test('the prefix is required, and said to be', () => {
    expect(() => decodeSigningKey('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')).toThrow('signing secret is not a whsec_ key');
    expect(() => decodeSigningKey('whsec_')).toThrow('signing secret is not a whsec_<base64> key');
  });
});

describe('secret values: the forms a rotation may take', () => {
  const keyOf = (secret: string) => decodeSigningKey(secret);

  test('JSON with only `keys` holds those keys, in order', () => {
    const keys = parseSigningSecret(JSON.stringify({ keys: [OTHER, SECRET] }));
    expect(keys).toEqual([keyOf(OTHER), keyOf(SECRET)]);
  });

  test('`key` comes first, then `keys`', () => {
    expect(parseSigningSecret(JSON.stringify({ keys: [OTHER], key: SECRET }))).toEqual([keyOf(SECRET), keyOf(OTHER)]);
  });

  test('a `keys` that is not a list is ignored; `key` still counts', () => {
    expect(parseSigningSecret(JSON.stringify({ key: SECRET, keys: OTHER }))).toEqual([keyOf(SECRET)]);
    expect(refusal(JSON.stringify({ keys: OTHER }))).toBe('signing secret holds no key');
  });

  test('JSON after leading whitespace is still read as JSON', () => {
    expect(parseSigningSecret(`\n  ${JSON.stringify({ key: SECRET })}\n`)).toEqual([keyOf(SECRET)]);
  });

  test('plain keys around blank space and stray separators', () => {
    expect(parseSigningSecret(` ,${SECRET},, \t${OTHER}, `)).toEqual([keyOf(SECRET), keyOf(OTHER)]);
  });

  test.each([
    ['only separators', ' , ,\n', 'signing secret holds no key'],
    ['JSON that does not parse', '{"key": "whsec_', 'signing secret looks like JSON but does not parse'],
    ['JSON with an empty list', '{"keys": []}', 'signing secret holds no key'],
    ['a list holding a number', `{"keys": ["${SECRET}", 7]}`, 'signing secret keys must be strings'],
    ['a null key', '{"key": null}', 'signing secret keys must be strings'],
  ])('%s: refused, saying why', (_name, value, message) => {
    expect(refusal(value)).toBe(message);
  });
});

describe('header bounds', () => {
  test('a webhook id of exactly 256 characters verifies; 257 is refused before the key', () => {
    const longest = 'm'.repeat(256);
    expect(verifyWebhook(signed(longest), [decodeSigningKey(SECRET)], NOW, 300)).toEqual({
      ok: true,
      webhookId: longest,
      timestampSeconds: NOW,
    });
    expect(checkHeaders(signed(`${longest}m`), NOW, 300)).toEqual({ ok: false, reason: 'invalid_webhook_id' });
  });

  test('every printable ASCII character may be in an id; anything outside is refused', () => {
    const printable = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i)).join('');
    expect(checkHeaders(signed(printable), NOW, 300).ok).toBe(true);
    for (const outside of ['\x20', '\x7f', 'é', '\x00']) {
      expect(checkHeaders(signed(`msg${outside}`), NOW, 300)).toEqual({ ok: false, reason: 'invalid_webhook_id' });
    }
  });

  test('a timestamp of 12 digits is read; 13 are refused as malformed', () => {
    const twelve = '000001614265330'.slice(-12);
    expect(checkHeaders({ ...signed('msg'), timestamp: twelve }, NOW, 300)).toMatchObject({
      ok: true,
      request: { timestamp: twelve, timestampSeconds: NOW },
    });
    expect(checkHeaders({ ...signed('msg'), timestamp: `0${twelve}` }, NOW, 300)).toEqual({
      ok: false,
      reason: 'invalid_timestamp',
    });
  });

  test('a well-formed request carries the raw headers and the body through unchanged', () => {
    const request = signed('msg_1');
    const checked = checkHeaders({ ...request, signature: `v2,x ${request.signature}` }, NOW, 300);
    expect(checked).toEqual({
      ok: true,
      request: {
        webhookId: 'msg_1',
        timestamp: TIMESTAMP,
        timestampSeconds: NOW,
        v1Signatures: [request.signature.slice(3)],
        body: request.body,
      },
    });
  });

  test('an entry is read up to the space that ends it, and the last one to the end of the header', () => {
    const [first, second] = [signed('msg').signature, signed('msg', OTHER).signature];
    expect(parseV1Signatures(`${first} ${second}`)).toEqual([first.slice(3), second.slice(3)]);
    expect(parseV1Signatures(`${first}  ${second} `)).toEqual([first.slice(3), second.slice(3)]);
    // A signature glued to its neighbour is one malformed entry, not two signatures.
    expect(parseV1Signatures(`${first}${second}`)).toEqual([]);
  });
});

describe('matching against keys', () => {
  const request = (v1Signatures: string[]): WellFormedRequest => ({
    webhookId: 'msg',
    timestamp: TIMESTAMP,
    timestampSeconds: NOW,
    v1Signatures,
    body: BODY,
  });
  const valid = signed('msg').signature.slice(3);

  test('no signature, or no key, matches nothing', () => {
    expect(matchesAnyKey(request([]), [decodeSigningKey(SECRET)])).toBe(false);
    expect(matchesAnyKey(request([valid]), [])).toBe(false);
  });

  test('a signature matches only the key it was made with, whichever position either has', () => {
    const [secret, other] = [decodeSigningKey(SECRET), decodeSigningKey(OTHER)];
    const decoy = signed('msg', OTHER).signature.slice(3);
    expect(matchesAnyKey(request([valid]), [other])).toBe(false);
    expect(matchesAnyKey(request([decoy, valid]), [other, secret])).toBe(true);
    expect(matchesAnyKey(request([valid, decoy]), [secret])).toBe(true);
    expect(matchesAnyKey(request([decoy]), [secret])).toBe(false);
  });

  test('a candidate of another length never matches, and does not throw', () => {
    expect(matchesAnyKey(request([valid.slice(0, -1), `${valid}A`]), [decodeSigningKey(SECRET)])).toBe(false);
  });
});
