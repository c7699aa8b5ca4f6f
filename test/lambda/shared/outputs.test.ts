import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  contentTypeForFileName,
  discoverOutputs,
  MAX_DEPTH,
  MAX_FILES,
  MAX_LISTED_SKIPPED,
  MAX_PATHS_PER_OUTPUT,
  normalizeMediaType,
  parseDataUri,
  sanitizeFileName,
  type DiscoveredFile,
  type DiscoveredOutput,
  wellFormedPrefix,
} from '../../../lambda/shared/outputs';
import { outputKey } from '../../../lambda/shared/archive-layout';

const fixture = (name: string) =>
  JSON.parse(readFileSync(join(__dirname, '..', '..', 'fixtures', 'replicate', `${name}.json`), 'utf8')) as { output: unknown };
const sources = (output: unknown) => discoverOutputs(output).map((file) => file.source);
/** The files to archive; fails the test if anything was skipped. */
const filesOf = (output: unknown): DiscoveredFile[] =>
  discoverOutputs(output).map((found: DiscoveredOutput) => {
    if (found.kind === 'skipped') throw new Error(`unexpectedly skipped: ${JSON.stringify(found)}`);
    return found;
  });

describe('the fixtures', () => {
  test('a list of image URLs', () => {
    expect(discoverOutputs(fixture('succeeded-images').output)).toEqual([
      {
        index: 0,
        kind: 'url',
        source: 'https://replicate.delivery/xezq/abc123/out-0.webp',
        paths: ['[0]'],
        fileName: 'out-0.webp',
      },
      {
        index: 1,
        kind: 'url',
        source: 'https://replicate.delivery/xezq/def456/out-1.webp',
        paths: ['[1]'],
        fileName: 'out-1.webp',
      },
    ]);
  });

  test('streamed language-model tokens are text, not files', () => {
    expect(discoverOutputs(fixture('succeeded-llm-tokens').output)).toEqual([]);
  });

  test('a data: URI', () => {
    const [file] = discoverOutputs(fixture('succeeded-data-uri').output);
    expect(file).toMatchObject({ kind: 'data', paths: ['[0]'], fileName: 'output-0.txt' });
    expect(parseDataUri(file.source)).toEqual({ contentType: 'text/plain', bytes: Buffer.from('hello world\n') });
  });

  test('URLs nested in an object, on several subdomains; text fields ignored', () => {
    const files = filesOf(fixture('succeeded-nested-output').output);
    expect(files.map(({ paths, fileName }) => [paths[0], fileName])).toEqual([
      ['.video', 'output.mp4'],
      ['.frames[0]', 'f0.png'],
      ['.frames[1]', 'f1.png'],
      ['.meta.audio', 'track.wav'],
    ]);
  });

  test.each(['starting', 'processing', 'failed', 'canceled', 'aborted'])('%s has no outputs', (name) => {
    expect(discoverOutputs(fixture(name).output)).toEqual([]);
  });
});

describe('generated shapes', () => {
  test('a single string URL, and null', () => {
    expect(sources('https://replicate.delivery/a/b.png')).toEqual(['https://replicate.delivery/a/b.png']);
    expect(sources(null)).toEqual([]);
    expect(discoverOutputs('https://replicate.delivery/a/b.png')[0].paths).toEqual(['']);
  });

  test('text that merely contains a URL is text', () => {
    expect(sources(['see https://replicate.delivery/a.png', ' https://x.example/a.png', 'https://x.example/a b.png'])).toEqual(
      [],
    );
  });

  test('hostile URLs are discovered (the fetcher refuses them and they are listed as failures)', () => {
    const hostile = [
      'http://replicate.delivery/a.png',
      'https://169.254.169.254/latest/meta-data',
      'file:///etc/passwd',
      'ftp://x.example/a',
    ];
    expect(sources(hostile)).toEqual(hostile);
  });

  test('a repeated URL is one file with several paths', () => {
    const url = 'https://replicate.delivery/a.png';
    expect(discoverOutputs({ a: url, b: [url] })).toEqual([
      { index: 0, kind: 'url', source: url, paths: ['.a', '.b[0]'], fileName: 'a.png' },
    ]);
  });

  test('keys that are not identifiers get bracket paths', () => {
    expect(discoverOutputs({ 'my file': 'https://replicate.delivery/x.png' })[0].paths).toEqual(['["my file"]']);
  });

  test('every URL at any depth is found exactly once, in order; nothing else', () => {
    const urlArb = fc.webUrl({ withQueryParameters: true, withFragments: true }).filter((url) => !/\s/.test(url));
    const textArb = fc.string().filter((text) => !/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(text) && !/^data:/i.test(text));
    const leafArb = fc.oneof(urlArb, textArb, fc.integer(), fc.boolean(), fc.constant(null));
    const treeArb = fc.letrec((tie) => ({
      tree: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        leafArb,
        fc.array(tie('tree'), { maxLength: 4 }),
        fc.dictionary(fc.string({ maxLength: 6 }), tie('tree'), { maxKeys: 4 }),
      ),
    })).tree;
    fc.assert(
      fc.property(treeArb, (tree) => {
        const expected: string[] = [];
        const walk = (value: unknown): void => {
          if (typeof value === 'string' && /^[A-Za-z][A-Za-z0-9+.-]*:\/\/\S+$/.test(value)) {
            if (!expected.includes(value)) expected.push(value);
          } else if (Array.isArray(value)) value.forEach(walk);
          else if (typeof value === 'object' && value !== null) Object.values(value).forEach(walk);
        };
        walk(tree);
        const files = filesOf(tree);
        expect(files.map((file) => file.source)).toEqual(expected);
        expect(files.map((file) => file.index)).toEqual(expected.map((_, index) => index));
        for (const file of files) expect(file.fileName).toMatch(/^[A-Za-z0-9-][A-Za-z0-9._-]{0,99}$/);
      }),
      { numRuns: 300 },
    );
  });
});

describe('discovery limits: every output found is archived or reported, never dropped', () => {
  const nest = (value: unknown, levels: number): unknown => {
    let nested = value;
    for (let i = 0; i < levels; i++) nested = [nested];
    return nested;
  };

  test('files down to MAX_DEPTH are archived', () => {
    expect(filesOf(nest('https://replicate.delivery/a.png', MAX_DEPTH))).toHaveLength(1);
  });

  test('a file nested deeper is reported as too_deep, at any depth, without overflowing the stack', () => {
    // JSON.parse builds this happily (V8 parses iteratively); a recursive walk would overflow.
    const body = `${'['.repeat(200_000)}"https://replicate.delivery/deep.png"${']'.repeat(200_000)}`;
    for (const output of [nest('https://replicate.delivery/deep.png', MAX_DEPTH + 1), JSON.parse(body)]) {
      const [skipped, ...rest] = discoverOutputs(output);
      expect(rest).toEqual([]);
      expect(skipped).toMatchObject({
        index: 0,
        kind: 'skipped',
        reason: 'too_deep',
        source: 'https://replicate.delivery/deep.png',
      });
      expect(skipped.paths).toEqual([`${'[0]'.repeat(MAX_DEPTH)}…`]);
      expect(skipped).not.toHaveProperty('count');
    }
  });

  test('a source found both too deep and within the limit is archived, with both paths', () => {
    const url = 'https://replicate.delivery/both.png';
    const [file, ...rest] = discoverOutputs({ deep: nest(url, MAX_DEPTH + 5), shallow: url });
    expect(rest).toEqual([]);
    expect(file).toMatchObject({
      index: 0,
      kind: 'url',
      source: url,
      paths: ['.shallow', `.deep${'[0]'.repeat(MAX_DEPTH - 1)}…`],
    });
  });

  test('past MAX_FILES: listed one by one up to a limit, then one summary entry with the count', () => {
    const extra = MAX_LISTED_SKIPPED + 150;
    const urls = Array.from({ length: MAX_FILES + extra }, (_, i) => `https://replicate.delivery/${i}.png`);
    // Repeats of files already seen, archived or not, count once.
    const found = discoverOutputs([...urls, urls[0], urls[MAX_FILES + 1], urls[urls.length - 1]]);
    const archived = found.filter((entry) => entry.kind !== 'skipped');
    const skipped = found.filter((entry) => entry.kind === 'skipped');
    expect(archived).toHaveLength(MAX_FILES);
    expect(found.map((entry) => entry.index)).toEqual(found.map((_, index) => index));
    expect(skipped).toHaveLength(MAX_LISTED_SKIPPED + 1);
    expect(skipped[0]).toEqual({
      index: MAX_FILES,
      kind: 'skipped',
      reason: 'too_many_outputs',
      source: urls[MAX_FILES],
      paths: [`[${MAX_FILES}]`],
    });
    expect(skipped[1].paths).toEqual([`[${MAX_FILES + 1}]`, `[${urls.length + 1}]`]);
    expect(skipped[MAX_LISTED_SKIPPED]).toEqual({
      index: MAX_FILES + MAX_LISTED_SKIPPED,
      kind: 'skipped',
      reason: 'too_many_outputs',
      source: `(150 more outputs past the first ${MAX_FILES} files)`,
      paths: [],
      count: 150,
    });
  });

  test('too-deep files past the listing limit are counted too', () => {
    const deep = Array.from({ length: MAX_LISTED_SKIPPED + 7 }, (_, i) => `https://replicate.delivery/d${i}.png`);
    const found = discoverOutputs(['https://replicate.delivery/top.png', nest(deep, MAX_DEPTH)]);
    expect(found).toHaveLength(1 + MAX_LISTED_SKIPPED + 1);
    expect(found[1]).toMatchObject({ reason: 'too_deep', source: deep[0] });
    expect(found[found.length - 1]).toMatchObject({ reason: 'too_deep', count: 7, paths: [] });
  });

  test('a data URI that is skipped is shown by its type and size, not its data', () => {
    const [skipped] = discoverOutputs(nest(`data:image/png;base64,${'A'.repeat(4_000)}`, MAX_DEPTH + 1));
    expect(skipped).toMatchObject({ kind: 'skipped', reason: 'too_deep', source: 'data:image/png (3000 bytes)' });
  });

  test('a source repeated a million times keeps the first paths and counts the rest', () => {
    const url = 'https://replicate.delivery/same.png';
    const [file, ...rest] = discoverOutputs(new Array(1_000_000).fill(url));
    expect(rest).toEqual([]);
    expect(file.paths).toHaveLength(MAX_PATHS_PER_OUTPUT);
    expect(file).toMatchObject({ kind: 'url', omittedPaths: 1_000_000 - MAX_PATHS_PER_OUTPUT });
  });

  test('paths stay short whatever the keys', () => {
    const key = `${'k'.repeat(5_000)} \ud800`;
    const [file] = filesOf({ [key]: { [key]: 'https://replicate.delivery/k.png' } });
    expect(file.paths[0].length).toBeLessThanOrEqual(1_000);
  });

  test('a wide hostile output is walked in bounded time', () => {
    const output = JSON.parse(`[${'[],'.repeat(1_000_000)}"https://replicate.delivery/last.png"]`) as unknown;
    const started = Date.now();
    expect(sources(output)).toEqual(['https://replicate.delivery/last.png']);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  test('a cyclic object (not JSON, but typed unknown) ends with discovery_limit instead of running forever', () => {
    const cyclic: unknown[] = ['https://replicate.delivery/c.png'];
    cyclic.push(cyclic, cyclic);
    const found = discoverOutputs(cyclic);
    expect(found[0]).toMatchObject({ kind: 'url', source: 'https://replicate.delivery/c.png' });
    expect(found[found.length - 1]).toMatchObject({ kind: 'skipped', reason: 'discovery_limit', paths: [] });
    expect(found[found.length - 1]).not.toHaveProperty('count');
  });
});

describe('data URIs', () => {
  test.each([
    ['data:image/png;base64,iVBORw0KGgo=', 'image/png', Buffer.from('iVBORw0KGgo=', 'base64')],
    ['data:,Hello%2C%20World!', 'text/plain;charset=US-ASCII', Buffer.from('Hello, World!')],
    ['data:text/plain;charset=utf-8,caf%C3%A9', 'text/plain;charset=utf-8', Buffer.from('café')],
    ['data:application/octet-stream;base64,', 'application/octet-stream', Buffer.alloc(0)],
  ])('%s', (uri, contentType, bytes) => {
    expect(parseDataUri(uri)).toEqual({ contentType, bytes });
  });

  test.each(['data:image/png;base64,!!!', 'data:text/plain,%E0%A4%A'])(
    'malformed %s does not decode, and is still found: the archiver lists it as a failure, never drops it',
    (uri) => {
      expect(parseDataUri(uri)).toBeUndefined();
      expect(discoverOutputs([uri])).toEqual([{ index: 0, kind: 'data', source: uri, paths: ['[0]'], fileName: 'output-0.bin' }]);
    },
  );

  test('without a comma it is not a data URI at all, but text (a token such as `data:` alone)', () => {
    expect(parseDataUri('data:image/png;base64')).toBeUndefined();
    expect(discoverOutputs(['data:image/png;base64', 'data:'])).toEqual([]);
  });

  test.each([
    ['CR/LF', 'data:image/png\r\n;base64,AAAA'],
    ['a header injected after CR/LF', 'data:image/png\r\nX-Evil: 1;base64,AAAA'],
    ['a vertical tab', 'data:image/png\v;base64,AAAA'],
    ['a line separator', 'data:image/\u2028png;base64,AAAA'],
  ])('a media type broken by %s is a data URI, found like one whose type has other control characters', (_name, uri) => {
    expect(discoverOutputs([uri])).toEqual([{ index: 0, kind: 'data', source: uri, paths: ['[0]'], fileName: 'output-0.bin' }]);
    expect(parseDataUri(uri)).toEqual({ contentType: 'application/octet-stream', bytes: Buffer.from('AAAA', 'base64') });
  });

  test.each([
    ['a space after the colon', 'data: 1, 2, 3'],
    ['a line break but no media type', 'Data:\nname, age'],
    ['a space in the media type', 'data:text/plain; charset=utf-8,hi'],
  ])('prose that starts with `data:` (%s) stays text', (_name, text) => {
    expect(discoverOutputs([text])).toEqual([]);
  });

  test('data URI file names follow the content type', () => {
    expect(filesOf(['data:image/webp;base64,AAAA', 'data:foo/bar;base64,AAAA']).map((f) => f.fileName)).toEqual([
      'output-0.webp',
      'output-1.bin',
    ]);
  });
});

test('file names and keys are safe and deterministic', () => {
  expect(sanitizeFileName('../../etc/passwd')).toBe('etc_passwd');
  expect(sanitizeFileName('naïve café.png')).toBe('naive_cafe.png');
  expect(sanitizeFileName(`${'a'.repeat(200)}.webp`)).toHaveLength(100);
  expect(sanitizeFileName(`${'a'.repeat(200)}.webp`).endsWith('.webp')).toBe(true);
  expect(sanitizeFileName(`${'a'.repeat(2_000_000)}.webp`)).toBe(`${'a'.repeat(95)}.webp`);
  expect(filesOf(['https://replicate.delivery/'])[0].fileName).toBe('output-0');
  expect(filesOf(['https://replicate.delivery/a/%E2%9C%93%20ok.png'])[0].fileName).toBe('ok.png');
  expect(outputKey('p/', 'abc', 3, 'x.png')).toBe('p/predictions/abc/outputs/3-x.png');
  expect(contentTypeForFileName('a.WEBP')).toBe('image/webp');
  expect(contentTypeForFileName('a.unknown')).toBe('application/octet-stream');
});

test('hostile file names give safe keys: S3-safe characters, at most 1024 bytes', () => {
  const segmentArb = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 300 }),
    fc.string({ unit: 'grapheme', minLength: 1_000, maxLength: 5_000 }),
    fc.constantFrom(
      '..',
      '.',
      '%2e%2e%2f%2e%2e',
      '%ZZ',
      '%F0%9F%98%80'.repeat(500),
      `${'a'.repeat(20_000)}.png`,
      '\ufdfa'.repeat(200),
    ),
  );
  fc.assert(
    fc.property(segmentArb, (segment) => {
      // A lone surrogate cannot be percent-encoded as UTF-8; it stands in as a malformed escape.
      const encoded = Array.from(segment, (char) => (/^[\ud800-\udfff]$/.test(char) ? '%ED%A0' : encodeURIComponent(char))).join(
        '',
      );
      const url = `https://replicate.delivery/x/${encoded}`;
      const [file] = filesOf([url]);
      expect(file.fileName).toMatch(/^[A-Za-z0-9-][A-Za-z0-9._-]{0,99}$/);
      const key = outputKey('some/prefix/', 'a'.repeat(128), 9_999, file.fileName);
      expect(Buffer.byteLength(key)).toBeLessThanOrEqual(1024);
    }),
    { numRuns: 300 },
  );
});

describe('media types become header-safe content types', () => {
  test.each([
    ['data:image/png;base64,AAAA', 'image/png'],
    ['data:text/plain;charset=utf-8,hi', 'text/plain;charset=utf-8'],
    ['data:,hi', 'text/plain;charset=US-ASCII'],
    // Not a header value as is: S3 would refuse the upload on every try.
    ['data:image/png\u0001;base64,AAAA', 'application/octet-stream'],
    ['data:image/pngé;base64,AAAA', 'application/octet-stream'],
    ['data:image/png\u2028;base64,AAAA', 'application/octet-stream'],
    ['data:image/png;name=\ud83d\ude00.png;base64,AAAA', 'application/octet-stream'],
    [`data:image/${'x'.repeat(5_000)};base64,AAAA`, 'application/octet-stream'],
    ['data:no-slash;base64,AAAA', 'application/octet-stream'],
    ['data:image/png\r\nX-Evil: 1;base64,AAAA', 'application/octet-stream'],
  ])('%#: %s', (uri, contentType) => {
    expect(parseDataUri(uri)?.contentType).toBe(contentType);
  });

  test('a data URI with an unusable type is still archived, as octet-stream with a .bin name', () => {
    const [file] = filesOf(['data:image/png\u0007;base64,AAAA']);
    expect(file).toMatchObject({ kind: 'data', fileName: 'output-0.bin' });
  });

  test('normalizeMediaType accepts only bounded `type/subtype[; params]` in printable ASCII', () => {
    expect(normalizeMediaType(' image/webp ')).toBe('image/webp');
    expect(normalizeMediaType('text/html; charset="utf-8"')).toBe('text/html; charset="utf-8"');
    for (const bad of [undefined, '', 'image', 'image/', '/png', 'image/png\n', 'image/png;\u00e9', `a/${'b'.repeat(300)}`]) {
      expect(normalizeMediaType(bad)).toBeUndefined();
    }
  });
});

/**
 * Output discovery at the edges the main suite never reached (found by mutation testing,
 * docs/mutation.md): the depth limit through objects rather than arrays, `data:` URIs in their
 * less common spellings, and the names and paths an archived file gets.
 */
describe('edges', () => {
  const files = (output: unknown) => discoverOutputs(output).filter((entry): entry is DiscoveredFile => entry.kind !== 'skipped');

  /** `value` under `levels` objects, each holding it under `key`. */
  const inObjects = (value: unknown, levels: number, key = 'a'): unknown => {
    let nested = value;
    for (let i = 0; i < levels; i++) nested = { [key]: nested };
    return nested;
  };

  describe('the depth limit holds through objects as through arrays', () => {
    const url = 'https://replicate.delivery/deep.png';

    test('a file MAX_DEPTH objects deep is archived, with its path', () => {
      expect(discoverOutputs(inObjects(url, MAX_DEPTH))).toEqual([
        { index: 0, kind: 'url', source: url, paths: ['.a'.repeat(MAX_DEPTH)], fileName: 'deep.png' },
      ]);
    });

    test('one level deeper, it is reported as too_deep, with the path where it got too deep', () => {
      expect(discoverOutputs(inObjects(url, MAX_DEPTH + 1))).toEqual([
        { index: 0, kind: 'skipped', reason: 'too_deep', source: url, paths: [`${'.a'.repeat(MAX_DEPTH)}…`] },
      ]);
    });

    test('far deeper, inside objects and arrays mixed, still found and reported in order', () => {
      const deep = inObjects({ list: ['text', url, { more: 'https://replicate.delivery/second.png' }] }, MAX_DEPTH + 3);
      expect(discoverOutputs(deep).map((entry) => [entry.kind, entry.source])).toEqual([
        ['skipped', url],
        ['skipped', 'https://replicate.delivery/second.png'],
      ]);
    });

    test('a data URI too deep is reported by type and size, one that does not decode as malformed; text is ignored', () => {
      const found = discoverOutputs(inObjects(['data:text/plain,hi', 'data:text/plain,%E0%A4%A', 'plain'], MAX_DEPTH + 1));
      const path = `${'.a'.repeat(MAX_DEPTH)}…`;
      expect(found).toEqual([
        { index: 0, kind: 'skipped', reason: 'too_deep', source: 'data:text/plain (2 bytes)', paths: [path] },
        { index: 1, kind: 'skipped', reason: 'too_deep', source: 'data: (malformed)', paths: [path] },
      ]);
    });

    test('the same deep source seen twice is one entry with both paths', () => {
      const found = discoverOutputs({ x: inObjects(url, MAX_DEPTH), y: inObjects(url, MAX_DEPTH) });
      expect(found).toHaveLength(1);
      expect(found[0]).toMatchObject({
        reason: 'too_deep',
        paths: [`.x${'.a'.repeat(MAX_DEPTH - 1)}…`, `.y${'.a'.repeat(MAX_DEPTH - 1)}…`],
      });
    });

    test('a source seen deep and also shallow is archived; only it moves, the other deep one stays reported', () => {
      const other = 'https://replicate.delivery/other.png';
      const found = discoverOutputs({ deep: inObjects([url, other], MAX_DEPTH), shallow: url });
      expect(found.map((entry) => [entry.kind, entry.source])).toEqual([
        ['url', url],
        ['skipped', other],
      ]);
    });
  });

  describe('data URIs in every spelling RFC 2397 allows', () => {
    test.each([
      ['a type without parameters or ;base64', 'data:image/svg+xml,%3Csvg%2F%3E', 'image/svg+xml', '<svg/>'],
      ['a charset before ;base64', 'data:text/plain;charset=utf-8;base64,aGk=', 'text/plain;charset=utf-8', 'hi'],
      ['no type, only ;base64', 'data:;base64,aGk=', 'text/plain;charset=US-ASCII', 'hi'],
      ['BASE64 in capitals, DATA: in capitals', 'DATA:text/plain;BASE64,aGk=', 'text/plain', 'hi'],
      ['base64 without padding (length 2 mod 4)', 'data:application/octet-stream;base64,aGk', 'application/octet-stream', 'hi'],
      ['base64 without padding (length 3 mod 4)', 'data:application/octet-stream;base64,aGVs', 'application/octet-stream', 'hel'],
      ['base64 wrapped over lines and escaped newlines', 'data:text/plain;base64,aG%0A%0dV\nsbG8=', 'text/plain', 'hello'],
      [
        ';base64 that is not the last parameter is a parameter',
        'data:text/plain;base64;x=1,aGk=',
        'text/plain;base64;x=1',
        'aGk=',
      ],
    ])('%s', (_name, uri, contentType, text) => {
      expect(parseDataUri(uri)).toEqual({ contentType, bytes: Buffer.from(text) });
    });

    test.each([
      ['base64 whose length leaves a remainder of 1', 'data:image/png;base64,AAAAA'],
      ['base64 with padding in the middle', 'data:image/png;base64,AA==AA'],
      ['three padding characters', 'data:image/png;base64,A==='],
    ])('%s does not decode, and is still found as a data URI', (_name, uri) => {
      expect(parseDataUri(uri)).toBeUndefined();
      expect(files([uri])).toEqual([expect.objectContaining({ kind: 'data', source: uri })]);
    });

    test.each([
      ['no comma at all', 'data:image/png;base64'],
      ['not a data URI', 'datum:image/png,AA'],
    ])('%s is not a file', (_name, uri) => {
      expect(parseDataUri(uri)).toBeUndefined();
      expect(discoverOutputs([uri])).toEqual([]);
    });

    test('a data URI with a space before its comma is not an output file', () => {
      expect(discoverOutputs(['data:text/plain; charset=utf-8,hi'])).toEqual([]);
      expect(files(['data:text/plain;charset=utf-8,hi'])).toHaveLength(1);
    });

    test('file names of data URIs follow the type, whatever its case and parameters', () => {
      expect(
        files(['data:IMAGE/PNG;name=x;base64,AAAA', 'data:audio/x-wav;base64,AAAA', 'data:,hi']).map((file) => file.fileName),
      ).toEqual(['output-0.png', 'output-1.wav', 'output-2.txt']);
    });
  });

  describe('what counts as a URL', () => {
    test.each([
      ['ftp://files.example/a.bin', true],
      ['s3+https://bucket/key', true],
      ['https://replicate.delivery/a b.png', false],
      ['https://', false],
      ['1https://replicate.delivery/a.png', false],
      ['https://[::1/a.png', false],
      [' https://replicate.delivery/a.png', false],
      ['https://replicate.delivery/a.png\n', false],
    ])('%j → %s', (value, isFile) => {
      expect(files([value]).length === 1).toBe(isFile);
    });
  });

  describe('file names and paths', () => {
    test.each([
      ['https://replicate.delivery/x/out%20file.png', 'out_file.png'],
      ['https://replicate.delivery/x/caf%C3%A9.png', 'cafe.png'],
      ['https://replicate.delivery/x/bad%E0%A4%A.png', 'output-0'],
      ['https://replicate.delivery/x/', 'output-0'],
      ['https://replicate.delivery/x/..', 'output-0'],
      ['https://replicate.delivery/x/...hidden.png', 'hidden.png'],
      ['https://replicate.delivery/x/a.png?download=1#top', 'a.png'],
    ])('%s is archived as %s', (url, fileName) => {
      expect(files([url])[0].fileName).toBe(fileName);
    });

    test('a long name is cut to 100 characters, keeping an extension of up to 10', () => {
      expect(sanitizeFileName(`${'n'.repeat(200)}.png`)).toBe(`${'n'.repeat(96)}.png`);
      expect(sanitizeFileName(`${'n'.repeat(200)}.${'e'.repeat(9)}`)).toBe(`${'n'.repeat(90)}.${'e'.repeat(9)}`);
      expect(sanitizeFileName(`${'n'.repeat(200)}.${'e'.repeat(10)}`)).toBe('n'.repeat(100));
      expect(sanitizeFileName('n'.repeat(100))).toBe('n'.repeat(100));
      expect(sanitizeFileName('n'.repeat(101))).toBe('n'.repeat(100));
    });

    test('a megabyte-long name keeps its start and its extension', () => {
      const name = `start${'m'.repeat(1_000_000)}.webp`;
      const cleaned = sanitizeFileName(name);
      expect(cleaned).toHaveLength(100);
      expect(cleaned.startsWith('start')).toBe(true);
      expect(cleaned.endsWith('.webp')).toBe(true);
      // Exactly 1,000 characters are taken whole.
      expect(sanitizeFileName(`${'a'.repeat(995)}.webp`)).toBe(`${'a'.repeat(95)}.webp`);
    });

    test('characters outside the safe set become one underscore per run; leading dots and underscores go', () => {
      expect(sanitizeFileName('a  b//c.png')).toBe('a_b_c.png');
      expect(sanitizeFileName('._.x')).toBe('x');
      expect(sanitizeFileName('Ａ１.png')).toBe('A1.png');
    });

    test('keys become paths: identifiers with a dot, anything else quoted in brackets, long keys cut', () => {
      const url = 'https://replicate.delivery/p.png';
      expect(files({ $ok_1: [url] })[0].paths).toEqual(['.$ok_1[0]']);
      expect(files({ '1st': url })[0].paths).toEqual(['["1st"]']);
      expect(files({ 'a-b': url })[0].paths).toEqual(['["a-b"]']);
      expect(files({ ['k'.repeat(100)]: url })[0].paths).toEqual([`.${'k'.repeat(100)}`]);
      expect(files({ ['k'.repeat(101)]: url })[0].paths).toEqual([`["${'k'.repeat(100)}"…]`]);
    });

    test('a path is cut at 1,000 characters, and what is below it shares the cut path', () => {
      const key = 'k'.repeat(100);
      const url = 'https://replicate.delivery/p.png';
      const [file] = files(inObjects([url], 12, key));
      expect(file.paths[0]).toHaveLength(1_000);
      expect(file.paths[0].endsWith('…')).toBe(true);
      expect(file.paths[0].startsWith(`.${key}.${key}`)).toBe(true);
      // 9 levels of `.k…k` are 909 characters and `[0]` adds 3: not cut.
      expect(files(inObjects([url], 9, key))[0].paths).toEqual([`${`.${key}`.repeat(9)}[0]`]);
    });

    test('a file seen once carries no omittedPaths', () => {
      expect(discoverOutputs(['https://replicate.delivery/once.png'])[0]).not.toHaveProperty('omittedPaths');
    });

    test('wellFormedPrefix never splits a surrogate pair, and leaves short text alone', () => {
      expect(wellFormedPrefix('ab😀c', 3)).toBe('ab');
      expect(wellFormedPrefix('ab😀c', 4)).toBe('ab😀');
      expect(wellFormedPrefix('abc', 3)).toBe('abc');
      expect(wellFormedPrefix('abcd', 3)).toBe('abc');
      expect(wellFormedPrefix('ab\udc00c', 3)).toBe('ab\udc00');
    });
  });

  describe('content types', () => {
    test('every extension a server may leave untyped gets its media type', () => {
      const expected: Record<string, string> = {
        png: 'image/png',
        jpg: 'image/jpeg',
        jpeg: 'image/jpeg',
        webp: 'image/webp',
        gif: 'image/gif',
        svg: 'image/svg+xml',
        wav: 'audio/wav',
        mp3: 'audio/mpeg',
        ogg: 'audio/ogg',
        flac: 'audio/flac',
        mp4: 'video/mp4',
        webm: 'video/webm',
        mov: 'video/quicktime',
        json: 'application/json',
        pdf: 'application/pdf',
        txt: 'text/plain',
        csv: 'text/csv',
      };
      for (const [extension, contentType] of Object.entries(expected)) {
        expect(contentTypeForFileName(`out.${extension}`)).toBe(contentType);
      }
    });

    test('every media type a data URI may carry gets its file extension', () => {
      const expected: Array<[string, string]> = [
        ['image/png', 'png'],
        ['image/jpeg', 'jpg'],
        ['image/webp', 'webp'],
        ['image/gif', 'gif'],
        ['image/svg+xml', 'svg'],
        ['audio/wav', 'wav'],
        ['audio/x-wav', 'wav'],
        ['audio/mpeg', 'mp3'],
        ['video/mp4', 'mp4'],
        ['application/json', 'json'],
        ['application/pdf', 'pdf'],
        ['text/plain', 'txt'],
        ['text/csv', 'csv'],
      ];
      const names = files(expected.map(([type], i) => `data:${type};base64,${Buffer.from(String(i)).toString('base64')}`));
      expect(names.map((file) => file.fileName)).toEqual(expected.map(([, extension], i) => `output-${i}.${extension}`));
    });

    test('a cut at a high surrogate, at either end of the range, drops it', () => {
      expect(wellFormedPrefix('a\ud800\udc00', 2)).toBe('a');
      expect(wellFormedPrefix('a\udbff\udfff', 2)).toBe('a');
      expect(wellFormedPrefix('a\ud7ff', 2)).toBe('a\ud7ff');
      expect(wellFormedPrefix('a\udc00', 2)).toBe('a\udc00');
    });

    test.each([
      ['photo.PNG', 'image/png'],
      ['clip.mov', 'video/quicktime'],
      ['archive.tar.gz', 'application/octet-stream'],
      ['README', 'application/octet-stream'],
      ['', 'application/octet-stream'],
    ])('%j → %s', (fileName, contentType) => {
      expect(contentTypeForFileName(fileName)).toBe(contentType);
    });

    test('a media type of 200 characters is usable; 201 are not; tabs around it are trimmed', () => {
      const of = (length: number) => `a/${'b'.repeat(length - 2)}`;
      expect(normalizeMediaType(of(200))).toBe(of(200));
      expect(normalizeMediaType(of(201))).toBeUndefined();
      expect(normalizeMediaType('\timage/png\t')).toBe('image/png');
      expect(normalizeMediaType('text/plain \t; charset=utf-8')).toBe('text/plain \t; charset=utf-8');
    });
  });

  describe('a deep sighting past the listing limit, of a source also found shallow', () => {
    const url = (name: string | number) => `https://replicate.delivery/${name}.png`;
    const deep = Array.from({ length: MAX_LISTED_SKIPPED + 2 }, (_, i) => url(`d${i}`));

    test('is archived and not counted among the too-deep outputs', () => {
      // Deep first: d0…d99 are listed, d100 and d101 only counted; d100 is then found shallow.
      const found = discoverOutputs({ deep: inObjects(deep, MAX_DEPTH), shallow: deep[MAX_LISTED_SKIPPED] });
      expect(found[0]).toMatchObject({ kind: 'url', source: deep[MAX_LISTED_SKIPPED], paths: ['.shallow'] });
      expect(found.filter((entry) => entry.kind === 'skipped' && entry.count === undefined)).toHaveLength(MAX_LISTED_SKIPPED);
      expect(found[found.length - 1]).toEqual({
        index: 1 + MAX_LISTED_SKIPPED,
        kind: 'skipped',
        reason: 'too_deep',
        source: `(1 more outputs nested deeper than ${MAX_DEPTH} levels)`,
        paths: [],
        count: 1,
      });
    });

    test('past the file limit too, is counted once, as too many outputs, not as too deep', () => {
      const shallow = Array.from({ length: MAX_FILES + MAX_LISTED_SKIPPED }, (_, i) => url(i));
      // The first deep source comes back shallow past every listing: counted among too_many_outputs only.
      const found = discoverOutputs({ deep: inObjects([deep[0]], MAX_DEPTH), shallow: [...shallow, deep[0]] });
      const skipped = found.filter((entry) => entry.kind === 'skipped');
      expect(skipped.filter((entry) => entry.reason === 'too_deep')).toEqual([]);
      expect(skipped[skipped.length - 1]).toMatchObject({ reason: 'too_many_outputs', count: 1 });
    });

    test('listed past the file limit, takes the deep paths along', () => {
      const shallow = Array.from({ length: MAX_FILES }, (_, i) => url(i));
      const found = discoverOutputs({ deep: inObjects([deep[0]], MAX_DEPTH), shallow: [...shallow, deep[0]] });
      expect(found.filter((entry) => entry.kind === 'skipped')).toEqual([
        {
          index: MAX_FILES,
          kind: 'skipped',
          reason: 'too_many_outputs',
          source: deep[0],
          paths: [`.shallow[${MAX_FILES}]`, `.deep${'.a'.repeat(MAX_DEPTH - 1)}…`],
        },
      ]);
    });
  });

  describe('values that are neither text nor containers', () => {
    const url = 'https://replicate.delivery/after-null.png';

    test('null, numbers and booleans are passed over, shallow or too deep', () => {
      expect(files([null, 1, true, { x: null }, url]).map((file) => file.source)).toEqual([url]);
      const deep = discoverOutputs(inObjects([null, 2, false, url], MAX_DEPTH));
      expect(deep.map((entry) => [entry.kind, entry.source])).toEqual([['skipped', url]]);
    });

    test('a key of any name, `undefined` included, is a key like another', () => {
      expect(files({ undefined: url })[0].paths).toEqual(['.undefined']);
      expect(files({ a: 1, undefined: url, b: 2 })[0].paths).toEqual(['.undefined']);
    });
  });

  describe('a source seen many times', () => {
    test('keeps its first hundred paths and counts the rest', () => {
      const url = 'https://replicate.delivery/often.png';
      const [file, ...rest] = discoverOutputs(new Array(102).fill(url));
      expect(rest).toEqual([]);
      expect(file.paths).toEqual(Array.from({ length: 100 }, (_, i) => `[${i}]`));
      expect(file).toMatchObject({ omittedPaths: 2 });
      const [exactly] = discoverOutputs(new Array(100).fill(url));
      expect(exactly.paths).toHaveLength(100);
      expect(exactly).not.toHaveProperty('omittedPaths');
    });
  });

  describe('where `data:` counts', () => {
    test('only at the start: a URL with `data:` in its path is a URL', () => {
      const url = 'https://replicate.delivery/x/data:image,png';
      expect(files([url])).toEqual([expect.objectContaining({ kind: 'url', source: url })]);
    });

    test('a media type broken by a line break is found whatever the case of `data:` and its type', () => {
      const uri = 'DATA:IMAGE/PNG\r\n;base64,AAAA';
      expect(files([uri])).toEqual([expect.objectContaining({ kind: 'data', source: uri })]);
    });

    test('parseDataUri reads only a string that starts with `data:`', () => {
      expect(parseDataUri('xdata:text/plain,hi')).toBeUndefined();
      expect(parseDataUri('see data:text/plain,hi')).toBeUndefined();
    });

    test('`base64` alone, without its semicolon, is a (bad) media type, and the data is not decoded', () => {
      expect(parseDataUri('data:base64,aGk=')).toEqual({ contentType: 'application/octet-stream', bytes: Buffer.from('aGk=') });
    });
  });

  describe('paths and names at their exact limits', () => {
    const key = 'k'.repeat(100);
    const url = 'https://replicate.delivery/p.png';

    test('a quoted key of exactly 100 characters is shown whole', () => {
      const quoted = 'k-'.repeat(50);
      expect(files({ [quoted]: url })[0].paths).toEqual([`["${quoted}"]`]);
    });

    test('a path of exactly 1,000 characters is not cut', () => {
      // 9 levels of `.k…k` are 909 characters; `.` and a 90-character key make 1,000.
      const last = 'z'.repeat(90);
      const path = `${`.${key}`.repeat(9)}.${last}`;
      expect(path).toHaveLength(1_000);
      expect(files(inObjects({ [last]: url }, 9, key))[0].paths).toEqual([path]);
    });

    test('a path cut before a surrogate pair ends with one ellipsis, and what is below it shares it', () => {
      // The 10th key, quoted, puts the high half of an emoji at index 998: the cut drops the pair.
      const emojiKey = `${'a'.repeat(87)}😀b`;
      const above = `${`.${key}`.repeat(9)}["${'a'.repeat(87)}`;
      expect(above).toHaveLength(998);
      const [file] = files(inObjects({ [emojiKey]: [url] }, 9, key));
      expect(file.paths).toEqual([`${above}…`]);
    });

    test('text that fits is left alone, even when it ends with half a surrogate pair', () => {
      expect(wellFormedPrefix('a\ud800', 2)).toBe('a\ud800');
      expect(wellFormedPrefix('\ud83d', 1)).toBe('\ud83d');
    });

    test('a name over 1,000 characters is judged by its first and last 500: its middle never reaches the key', () => {
      const marks = '\u0301'.repeat(500); // combining accents: cleaned away
      expect(sanitizeFileName(`${marks}MIDDLE${marks}end.png`)).toBe('end.png');
      expect(sanitizeFileName(`${'a'.repeat(500)}MIDDLE${'b'.repeat(500)}`)).toBe('a'.repeat(100));
    });

    test('blanks around a media type are trimmed, however many', () => {
      expect(normalizeMediaType('  \timage/png')).toBe('image/png');
      expect(normalizeMediaType('image/png \t ')).toBe('image/png');
    });
  });
});
