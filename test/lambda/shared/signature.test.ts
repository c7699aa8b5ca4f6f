import fc from 'fast-check';
import { validateWebhook } from 'replicate';
import { Webhook } from 'standardwebhooks';
import { webcrypto } from 'node:crypto';
import {
  checkHeaders,
  decodeSigningKey,
  parseSigningSecret,
  parseV1Signatures,
  signWebhook,
  verifyWebhook,
  type SignedRequest,
  matchesAnyKey,
  type WellFormedRequest,
} from '../../../lambda/shared/signature';

// The known-good vector from the official clients' tests (DESIGN.md).
const VECTOR = {
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: '1614265330',
  body: '{"test": 2432232314}',
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};
const VECTOR_NOW = 1614265330;
const TOLERANCE = 300;

const request = (overrides: Partial<SignedRequest> = {}): SignedRequest => ({
  webhookId: VECTOR.id,
  timestamp: VECTOR.timestamp,
  signature: VECTOR.signature,
  body: Buffer.from(VECTOR.body),
  ...overrides,
});
const keys = [decodeSigningKey(VECTOR.secret)];
const verify = (overrides: Partial<SignedRequest> = {}, now = VECTOR_NOW) =>
  verifyWebhook(request(overrides), keys, now, TOLERANCE);

describe('the known-good vector', () => {
  test('signs to the published signature', () => {
    expect(signWebhook(VECTOR.secret, VECTOR.id, VECTOR.timestamp, VECTOR.body)).toBe(VECTOR.signature);
  });

  test('verifies', () => {
    expect(verify()).toEqual({ ok: true, webhookId: VECTOR.id, timestampSeconds: VECTOR_NOW });
  });

  test('agrees with both reference libraries', async () => {
    const reference = new Webhook(VECTOR.secret);
    jest.useFakeTimers({ now: VECTOR_NOW * 1000, doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    try {
      expect(() =>
        reference.verify(VECTOR.body, {
          'webhook-id': VECTOR.id,
          'webhook-timestamp': VECTOR.timestamp,
          'webhook-signature': VECTOR.signature,
        }),
      ).not.toThrow();
    } finally {
      jest.useRealTimers();
    }
    await expect(
      validateWebhook(
        { id: VECTOR.id, timestamp: VECTOR.timestamp, signature: VECTOR.signature, body: VECTOR.body, secret: VECTOR.secret },
        webcrypto as never,
      ),
    ).resolves.toBe(true);
  });
});

describe('adversarial headers', () => {
  test.each([
    ['missing id', { webhookId: undefined }, 'missing_headers'],
    ['empty id', { webhookId: '' }, 'missing_headers'],
    ['missing timestamp', { timestamp: undefined }, 'missing_headers'],
    ['missing signature', { signature: undefined }, 'missing_headers'],
    ['empty signature', { signature: '' }, 'missing_headers'],
    ['id with a space', { webhookId: 'msg 1' }, 'invalid_webhook_id'],
    ['id with a newline', { webhookId: 'msg\n1' }, 'invalid_webhook_id'],
    ['overlong id', { webhookId: 'm'.repeat(257) }, 'invalid_webhook_id'],
    ['non-numeric timestamp', { timestamp: 'yesterday' }, 'invalid_timestamp'],
    ['numeric prefix then junk', { timestamp: '1614265330abc' }, 'invalid_timestamp'],
    ['negative timestamp', { timestamp: '-1614265330' }, 'invalid_timestamp'],
    ['fractional timestamp', { timestamp: '1614265330.5' }, 'invalid_timestamp'],
    ['timestamp in exponent form', { timestamp: '1.6e9' }, 'invalid_timestamp'],
    ['duplicated timestamp header (joined by API Gateway)', { timestamp: '1614265330,1614265330' }, 'invalid_timestamp'],
    ['far-future timestamp', { timestamp: '99999999999' }, 'timestamp_out_of_tolerance'],
    ['only a v2 signature', { signature: 'v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' }, 'no_v1_signature'],
    ['v1a prefix', { signature: 'v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' }, 'no_v1_signature'],
    ['no comma', { signature: 'v1g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' }, 'no_v1_signature'],
    ['bare base64', { signature: 'g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' }, 'no_v1_signature'],
    ['uppercase version', { signature: 'V1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' }, 'no_v1_signature'],
    ['v1 with empty value', { signature: 'v1,' }, 'bad_signature'],
    ['v1 with odd-length garbage', { signature: 'v1,abc' }, 'bad_signature'],
    ['v1 with invalid base64 of the right length', { signature: `v1,${'!'.repeat(44)}` }, 'bad_signature'],
    ['v1 with trailing junk entry', { signature: `${VECTOR.signature},junk` }, 'bad_signature'],
    ['v1 with 45 characters', { signature: `${VECTOR.signature}A` }, 'bad_signature'],
    ['signature for another id', { webhookId: 'msg_other' }, 'bad_signature'],
    [
      'duplicated signature header (joined by API Gateway)',
      { signature: `${VECTOR.signature},${VECTOR.signature}` },
      'bad_signature',
    ],
    ['duplicated id header (joined by API Gateway)', { webhookId: `${VECTOR.id},${VECTOR.id}` }, 'bad_signature'],
  ] as const)('%s → %s', (_name, overrides, reason) => {
    expect(verify(overrides as Partial<SignedRequest>)).toEqual({ ok: false, reason });
  });

  test('tolerance holds both ways, inclusive at the edge', () => {
    expect(verify({}, VECTOR_NOW + TOLERANCE).ok).toBe(true);
    expect(verify({}, VECTOR_NOW - TOLERANCE).ok).toBe(true);
    expect(verify({}, VECTOR_NOW + TOLERANCE + 1)).toEqual({ ok: false, reason: 'timestamp_out_of_tolerance' });
    expect(verify({}, VECTOR_NOW - TOLERANCE - 1)).toEqual({ ok: false, reason: 'timestamp_out_of_tolerance' });
  });

  test('a valid v1 among other versions and junk entries is found', () => {
    const signature = `v2,AAAA v1,short  v1a,${VECTOR.signature.slice(3)} ${VECTOR.signature} v0,zzz`;
    expect(verify({ signature }).ok).toBe(true);
  });

  // Well-formed (`v1,` + the base64 of 32 bytes) but wrong: the only entries the cap counts.
  const wellFormedDecoys = (count: number) =>
    Array.from({ length: count }, (_, i) => `v1,${Buffer.alloc(32, i + 1).toString('base64')}`).join(' ');

  test('no more than 16 well-formed signatures are considered', () => {
    const decoys = wellFormedDecoys(16);
    expect(parseV1Signatures(`${decoys} ${VECTOR.signature}`)).toHaveLength(16);
    expect(verify({ signature: `${decoys} ${VECTOR.signature}` })).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verify({ signature: `${wellFormedDecoys(15)} ${VECTOR.signature}` }).ok).toBe(true);
  });

  test('malformed entries do not count toward the cap: junk before a valid signature does not hide it, as in both references', async () => {
    const junk = [
      'v1,',
      'v1,short',
      `v1,${'!'.repeat(44)}`,
      `v1,${'A'.repeat(44)}`, // right length, no padding
      `v1,${'A'.repeat(42)}B=`, // not the base64 of 32 bytes (bits past the end)
      `v1,${VECTOR.signature.slice(3)}A`,
      `v1,${VECTOR.signature.slice(3, -1)}`,
      'v2,AAAA',
      'v1a,AAAA',
      '',
    ];
    const signature = `${Array.from({ length: 40 }, (_, i) => junk[i % junk.length]).join(' ')} ${VECTOR.signature}`;
    expect(parseV1Signatures(signature)).toEqual([VECTOR.signature.slice(3)]);
    expect(verify({ signature }).ok).toBe(true);

    jest.useFakeTimers({ now: VECTOR_NOW * 1000, doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    try {
      const headers = { 'webhook-id': VECTOR.id, 'webhook-timestamp': VECTOR.timestamp, 'webhook-signature': signature };
      expect(() => new Webhook(VECTOR.secret).verify(VECTOR.body, headers, { jsonParse: false })).not.toThrow();
    } finally {
      jest.useRealTimers();
    }
    await expect(
      validateWebhook(
        { id: VECTOR.id, timestamp: VECTOR.timestamp, signature, body: VECTOR.body, secret: VECTOR.secret },
        webcrypto as never,
      ),
    ).resolves.toBe(true);
  });

  test('a header of many thousands of entries is cheap to refuse', () => {
    const junkThenDecoys = `${'v1,x '.repeat(100_000)}${wellFormedDecoys(20_000)}`;
    const started = performance.now();
    expect(parseV1Signatures(junkThenDecoys)).toHaveLength(16);
    expect(verify({ signature: junkThenDecoys })).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verify({ signature: 'v1,x '.repeat(200_000) })).toEqual({ ok: false, reason: 'bad_signature' });
    // About 2 MB of header (API Gateway allows 10 KB): a few milliseconds; the bound is loose for slow machines.
    expect(performance.now() - started).toBeLessThan(500);
  });

  test('v1 entries that cannot be a signature are refused without a key, as bad signatures', () => {
    for (const signature of ['v1,', 'v1,abc', `v1,${'!'.repeat(44)}`, `${VECTOR.signature},${VECTOR.signature}`]) {
      expect(checkHeaders(request({ signature }), VECTOR_NOW, TOLERANCE)).toEqual({ ok: false, reason: 'bad_signature' });
    }
    expect(checkHeaders(request({ signature: 'v2,abc v1a,abc' }), VECTOR_NOW, TOLERANCE)).toEqual({
      ok: false,
      reason: 'no_v1_signature',
    });
  });

  test('junk is refused before any key is needed', () => {
    expect(checkHeaders(request({ timestamp: 'x' }), VECTOR_NOW, TOLERANCE)).toEqual({ ok: false, reason: 'invalid_timestamp' });
  });
});

describe('bodies', () => {
  const secret = VECTOR.secret;
  const signed = (body: Buffer | string) =>
    request({ body: Buffer.from(body), signature: signWebhook(secret, VECTOR.id, VECTOR.timestamp, body) });

  test.each([
    ['empty', ''],
    ['unicode', '{"prompt":"日本語 ✓ émoji 🎉 \\u0000"}'],
    ['a lone surrogate escape', '{"x":"\\ud800"}'],
    ['huge (6 MiB)', `{"logs":"${'x'.repeat(6 * 1024 * 1024)}"}`],
  ])('%s body verifies on its exact bytes', (_name, body) => {
    expect(verifyWebhook(signed(body), keys, VECTOR_NOW, TOLERANCE).ok).toBe(true);
  });

  test('bytes that are not UTF-8 are verified as bytes, not as decoded text', () => {
    const body = Buffer.from([0x7b, 0xff, 0xfe, 0x7d]);
    expect(verifyWebhook(signed(body), keys, VECTOR_NOW, TOLERANCE).ok).toBe(true);
    // Re-encoding through a string (what the reference clients do) would change these bytes.
    const reencoded = Buffer.from(body.toString('utf8'), 'utf8');
    expect(reencoded.equals(body)).toBe(false);
    expect(verifyWebhook({ ...signed(body), body: reencoded }, keys, VECTOR_NOW, TOLERANCE).ok).toBe(false);
  });

  test('one flipped bit anywhere in the body is refused', () => {
    const body = Buffer.from(VECTOR.body);
    for (let i = 0; i < body.length; i++) {
      const tampered = Buffer.from(body);
      tampered[i] ^= 1;
      expect(verify({ body: tampered })).toEqual({ ok: false, reason: 'bad_signature' });
    }
  });
});

describe('secret values', () => {
  const other = 'whsec_' + Buffer.alloc(24, 7).toString('base64');

  test.each([
    ['one key', VECTOR.secret, 1],
    ['keys separated by spaces', `${VECTOR.secret} ${other}`, 2],
    ['keys separated by commas and newlines', `${VECTOR.secret},\n${other}\n`, 2],
    ["Replicate's API response", JSON.stringify({ key: VECTOR.secret }), 1],
    ['JSON with keys still accepted during a rotation', JSON.stringify({ key: VECTOR.secret, keys: [other] }), 2],
  ])('%s', (_name, value, count) => {
    const parsed = parseSigningSecret(value);
    expect(parsed).toHaveLength(count);
    expect(parsed[0].equals(decodeSigningKey(VECTOR.secret))).toBe(true);
  });

  test.each([
    ['empty', ''],
    ['a generated placeholder without the prefix', 'Q2hhbmdlTWVQbGVhc2VDaGFuZ2VNZQ'],
    ['prefix only', 'whsec_'],
    ['not base64', 'whsec_not base64!'],
    ['bad JSON', '{"key":'],
    ['JSON without a key', '{}'],
    ['JSON with a non-string key', '{"key": 42}'],
  ])('%s is refused without echoing the value', (_name, value) => {
    expect(() => parseSigningSecret(value)).toThrow(expect.objectContaining({ name: 'SigningSecretError' }));
    try {
      parseSigningSecret(value);
    } catch (error) {
      if (value.length > 8) expect((error as Error).message).not.toContain(value.slice(6));
    }
  });

  test('a request signed with any of the keys verifies (rotation)', () => {
    const rotated = parseSigningSecret(`${other} ${VECTOR.secret}`);
    expect(verifyWebhook(request(), rotated, VECTOR_NOW, TOLERANCE).ok).toBe(true);
  });
});

/**
 * Differential: over generated inputs, our verdict equals the verdict of the `standardwebhooks`
 * reference and of Replicate's `validateWebhook`. Inputs stay inside what all three define
 * (UTF-8 text bodies, canonical timestamps within tolerance, `v1` entries), because there the
 * libraries are known to differ by design: Replicate's checks no timestamp and no version, and
 * both re-encode the body as a string.
 */
describe('differential against the reference implementations', () => {
  const now = Math.floor(Date.now() / 1000);
  const secretArb = fc
    .uint8Array({ minLength: 16, maxLength: 64 })
    .map((bytes) => `whsec_${Buffer.from(bytes).toString('base64')}`);
  const idArb = fc.stringMatching(/^msg_[A-Za-z0-9]{1,40}$/);
  const timestampArb = fc.integer({ min: now - 250, max: now + 250 }).map(String);
  const bodyArb = fc.oneof(
    fc.json(),
    fc.string({ unit: 'grapheme', maxLength: 300 }).filter((text) => text.length > 0),
    fc.constant('{"status":"succeeded","output":["https://replicate.delivery/a.png"]}'),
  );
  type Mutation =
    | 'valid'
    | 'tampered_body'
    | 'wrong_key'
    | 'tampered_signature'
    | 'other_id'
    | 'extra_valid'
    | 'extra_invalid'
    | 'junk_before_valid';
  const mutationArb = fc.constantFrom<Mutation>(
    'valid',
    'tampered_body',
    'wrong_key',
    'tampered_signature',
    'other_id',
    'extra_valid',
    'extra_invalid',
    'junk_before_valid',
  );
  // Entries no key can match: malformed `v1` values and other versions, up to 40 of them.
  const junkArb = fc.array(
    fc.oneof(
      fc.stringMatching(/^v1,[A-Za-z0-9+/=!_-]{0,50}$/),
      fc.stringMatching(/^v[02-9],[A-Za-z0-9+/=]{0,50}$/),
      fc.constant(''),
    ),
    { maxLength: 40, size: 'max' },
  );

  const standardVerdict = (secret: string, id: string, timestamp: string, signature: string, body: string): boolean => {
    try {
      new Webhook(secret).verify(
        body,
        { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signature },
        { jsonParse: false },
      );
      return true;
    } catch (error) {
      if ((error as Error).name !== 'WebhookVerificationError') throw error;
      return false;
    }
  };
  const replicateVerdict = (secret: string, id: string, timestamp: string, signature: string, body: string) =>
    validateWebhook({ id, timestamp, signature, body, secret }, webcrypto as never);

  test('same verdict on valid, tampered, wrong-key and multi-signature inputs', async () => {
    let accepted = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(
        secretArb,
        secretArb,
        idArb,
        timestampArb,
        bodyArb,
        mutationArb,
        junkArb,
        async (secret, otherSecret, id, timestamp, body, mutation, junk) => {
          fc.pre(secret !== otherSecret);
          const signWith = (key: string, signedBody = body, signedId = id) => signWebhook(key, signedId, timestamp, signedBody);
          let signature = signWith(secret);
          let sentBody = body;
          switch (mutation) {
            case 'tampered_body':
              sentBody = `${body} `;
              break;
            case 'wrong_key':
              signature = signWith(otherSecret);
              break;
            case 'tampered_signature': {
              const chars = signature.split('');
              chars[5] = chars[5] === 'A' ? 'B' : 'A';
              signature = chars.join('');
              break;
            }
            case 'other_id':
              signature = signWith(secret, body, `${id}x`);
              break;
            case 'extra_valid':
              signature = `${signWith(otherSecret)} ${signature}`;
              break;
            case 'extra_invalid':
              signature = `${signWith(otherSecret)} ${signWith(otherSecret, `${body}!`)}`;
              break;
            case 'junk_before_valid':
              signature = [...junk, signWith(otherSecret), ...junk, signature].join(' ');
              break;
          }
          const ours = verifyWebhook(
            { webhookId: id, timestamp, signature, body: Buffer.from(sentBody, 'utf8') },
            [decodeSigningKey(secret)],
            now,
            TOLERANCE,
          ).ok;
          expect(ours).toBe(standardVerdict(secret, id, timestamp, signature, sentBody));
          expect(ours).toBe(await replicateVerdict(secret, id, timestamp, signature, sentBody));
          expect(ours).toBe(mutation === 'valid' || mutation === 'extra_valid' || mutation === 'junk_before_valid');
          if (ours) accepted++;
          else refused++;
        },
      ),
      { numRuns: 600 },
    );
    // The generator really exercised both verdicts.
    expect(accepted).toBeGreaterThan(50);
    expect(refused).toBeGreaterThan(50);
  });

  test('standardwebhooks agrees on the timestamp window', () => {
    fc.assert(
      fc.property(secretArb, idArb, fc.integer({ min: -1000, max: 1000 }), (secret, id, skew) => {
        const timestamp = String(now + skew);
        const signature = signWebhook(secret, id, timestamp, '{}');
        const ours = verifyWebhook(
          { webhookId: id, timestamp, signature, body: Buffer.from('{}') },
          [decodeSigningKey(secret)],
          now,
          TOLERANCE,
        ).ok;
        // Both use a 5-minute window; allow the second that may tick between the two calls.
        if (Math.abs(Math.abs(skew) - TOLERANCE) > 2) expect(ours).toBe(standardVerdict(secret, id, timestamp, signature, '{}'));
      }),
      { numRuns: 300 },
    );
  });
});

/**
 * Signature edges the main suite left undecided (found by mutation testing, docs/mutation.md):
 * the base64 check of a key on its own, the secret's JSON forms, and the bounds of the headers.
 */
describe('edges', () => {
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
});
