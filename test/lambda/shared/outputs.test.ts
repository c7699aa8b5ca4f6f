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
      expect(skipped!.paths).toEqual([`${'[0]'.repeat(MAX_DEPTH)}…`]);
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
    expect(skipped[1]!.paths).toEqual([`[${MAX_FILES + 1}]`, `[${urls.length + 1}]`]);
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
    expect(file!.paths).toHaveLength(MAX_PATHS_PER_OUTPUT);
    expect(file).toMatchObject({ kind: 'url', omittedPaths: 1_000_000 - MAX_PATHS_PER_OUTPUT });
  });

  test('paths stay short whatever the keys', () => {
    const key = `${'k'.repeat(5_000)} \ud800`;
    const [file] = filesOf({ [key]: { [key]: 'https://replicate.delivery/k.png' } });
    expect(file!.paths[0]!.length).toBeLessThanOrEqual(1_000);
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
  expect(filesOf(['https://replicate.delivery/'])[0]!.fileName).toBe('output-0');
  expect(filesOf(['https://replicate.delivery/a/%E2%9C%93%20ok.png'])[0]!.fileName).toBe('ok.png');
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
      expect(file!.fileName).toMatch(/^[A-Za-z0-9-][A-Za-z0-9._-]{0,99}$/);
      const key = outputKey('some/prefix/', 'a'.repeat(128), 9_999, file!.fileName);
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
