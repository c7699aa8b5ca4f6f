/**
 * Where a prediction's documents, outputs and spilled payloads go in the bucket (found by mutation
 * testing, docs/mutation.md: only heavier suites reached these keys).
 */
import {
  manifestKey,
  normalizePrefix,
  outputKey,
  predictionDocumentKey,
  predictionFolder,
  spilledPayloadKey,
} from '../../../lambda/shared/archive-layout';

describe('archive layout', () => {
  test.each([
    [undefined, ''],
    ['', ''],
    ['/', ''],
    ['team', 'team/'],
    ['//team/a//', 'team/a/'],
  ])('prefix %j becomes %j', (prefix, normalized) => {
    expect(normalizePrefix(prefix)).toBe(normalized);
  });

  test('every key of a prediction lives in its folder', () => {
    expect(predictionFolder('p/', 'abc')).toBe('p/predictions/abc/');
    expect(predictionDocumentKey('p/', 'abc')).toBe('p/predictions/abc/prediction.json');
    expect(manifestKey('p/', 'abc')).toBe('p/predictions/abc/manifest.json');
    expect(outputKey('p/', 'abc', 2, 'x.png')).toBe('p/predictions/abc/outputs/2-x.png');
    expect(spilledPayloadKey('p/', 'abc', 'q-_1')).toBe('p/webhook-payloads/abc/q-_1.json');
  });
});
