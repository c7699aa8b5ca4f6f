import { MAX_PART_BYTES, MAX_UPLOAD_PARTS, MIN_PART_BYTES, partSizeFor } from '../../../lambda/shared/part-size';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

describe('partSizeFor', () => {
  it('keeps the configured part size while 10,000 parts hold the file', () => {
    expect(partSizeFor(5 * GiB, 8 * MiB)).toBe(8 * MiB);
    expect(partSizeFor(8 * MiB * MAX_UPLOAD_PARTS, 8 * MiB)).toBe(8 * MiB);
  });

  it('grows the part, by whole MiB, just enough for 10,000 parts past that', () => {
    const bytes = 8 * MiB * MAX_UPLOAD_PARTS + 1;
    const part = partSizeFor(bytes, 8 * MiB);
    expect(part).toBe(9 * MiB);
    expect(Math.ceil(bytes / part)).toBeLessThanOrEqual(MAX_UPLOAD_PARTS);
    // A training's default cap, 50 GiB, with 5 MiB parts: 10,240 parts would not do.
    const fifty = partSizeFor(50 * GiB, 5 * MiB);
    expect(fifty).toBe(6 * MiB);
    expect(Math.ceil((50 * GiB) / fifty)).toBeLessThanOrEqual(MAX_UPLOAD_PARTS);
  });

  it('fits every size up to S3s 5 TiB object in 10,000 parts', () => {
    for (const bytes of [1, 100 * GiB, 1024 * GiB, 5 * 1024 * GiB]) {
      expect(Math.ceil(bytes / partSizeFor(bytes, 8 * MiB))).toBeLessThanOrEqual(MAX_UPLOAD_PARTS);
    }
  });

  it('never goes below S3s smallest part nor above its largest', () => {
    expect(partSizeFor(1, 1)).toBe(MIN_PART_BYTES);
    expect(partSizeFor(Number.MAX_SAFE_INTEGER, 8 * MiB)).toBe(MAX_PART_BYTES);
    expect(partSizeFor(Number.POSITIVE_INFINITY, 8 * MiB)).toBe(8 * MiB);
  });
});
