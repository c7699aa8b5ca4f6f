import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { contentTypeForFileName, discoverOutputs, parseDataUri, sanitizeFileName } from '../lambda/shared/outputs';
import { outputKey } from '../lambda/shared/archive-layout';

const fixture = (name: string) =>
  JSON.parse(readFileSync(join(__dirname, 'fixtures', 'replicate', `${name}.json`), 'utf8')) as { output: unknown };
const sources = (output: unknown) => discoverOutputs(output).map((file) => file.source);

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
    const files = discoverOutputs(fixture('succeeded-nested-output').output);
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
        const files = discoverOutputs(tree);
        expect(files.map((file) => file.source)).toEqual(expected);
        expect(files.map((file) => file.index)).toEqual(expected.map((_, index) => index));
        for (const file of files) expect(file.fileName).toMatch(/^[A-Za-z0-9-][A-Za-z0-9._-]{0,99}$/);
      }),
      { numRuns: 300 },
    );
  });

  test('a hostile depth does not overflow the stack', () => {
    let deep: unknown = 'https://replicate.delivery/deep.png';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(discoverOutputs(deep)).toEqual([]);
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

  test.each(['data:image/png;base64,!!!', 'data:image/png;base64', 'data:text/plain,%E0%A4%A'])(
    'malformed %s is not a file',
    (uri) => {
      expect(parseDataUri(uri)).toBeUndefined();
      expect(discoverOutputs([uri])).toEqual([]);
    },
  );

  test('data URI file names follow the content type', () => {
    expect(discoverOutputs(['data:image/webp;base64,AAAA', 'data:foo/bar;base64,AAAA']).map((f) => f.fileName)).toEqual([
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
  expect(discoverOutputs(['https://replicate.delivery/'])[0].fileName).toBe('output-0');
  expect(discoverOutputs(['https://replicate.delivery/a/%E2%9C%93%20ok.png'])[0].fileName).toBe('ok.png');
  expect(outputKey('p/', 'abc', 3, 'x.png')).toBe('p/predictions/abc/outputs/3-x.png');
  expect(contentTypeForFileName('a.WEBP')).toBe('image/webp');
  expect(contentTypeForFileName('a.unknown')).toBe('application/octet-stream');
});
