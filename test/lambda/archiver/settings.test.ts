import { ARCHIVER_DEFAULTS, fileConcurrencyFor } from '../../../lambda/archiver/settings';

describe('fileConcurrencyFor: files in flight that the memory holds', () => {
  test.each([
    [128, 2],
    [192, 2],
    [256, 4],
    [300, 5],
    [384, 8],
    [512, 8],
    [10_240, 8],
  ])('%i MB: %i files', (memoryMb, files) => {
    expect(fileConcurrencyFor(memoryMb)).toBe(files);
  });

  test('never more than the default, never fewer than two', () => {
    for (let memoryMb = 128; memoryMb <= 10_240; memoryMb += 1) {
      const files = fileConcurrencyFor(memoryMb);
      expect(files).toBeGreaterThanOrEqual(2);
      expect(files).toBeLessThanOrEqual(ARCHIVER_DEFAULTS.fileConcurrency);
    }
  });
});
