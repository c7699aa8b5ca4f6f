/**
 * The part size of a streamed multipart upload. S3 takes at most 10,000 parts per upload, and a
 * stream's length is not known to the uploader, so a fixed part size caps the file: 8 MiB parts
 * stop at 78 GiB. The part size is chosen before the first byte, from the size the file can
 * reach (its declared length, else the cap it is fetched under), so that 10,000 parts always
 * suffice. Memory per file is about the part size × (queue size + 1): it grows only for files
 * above partSize × 10,000, and then by the least that is needed. Pure.
 */

const MiB = 1024 * 1024;
/** S3's most parts in one multipart upload. */
export const MAX_UPLOAD_PARTS = 10_000;
/** S3's smallest part (all but the last). */
export const MIN_PART_BYTES = 5 * MiB;
/** S3's largest part. */
export const MAX_PART_BYTES = 5 * 1024 * MiB;

/**
 * The configured part size, or, for a file that could need more than 10,000 of them, the
 * smallest whole number of MiB that fits it in 10,000 parts (never above S3's 5 GiB part: a
 * file that large, 48.8 TiB, is past S3's 5 TiB object limit anyway).
 */
export function partSizeFor(largestBytes: number, configuredPartBytes: number): number {
  const base = Math.max(MIN_PART_BYTES, configuredPartBytes);
  if (!Number.isFinite(largestBytes) || largestBytes <= base * MAX_UPLOAD_PARTS) return base;
  return Math.min(MAX_PART_BYTES, Math.ceil(largestBytes / MAX_UPLOAD_PARTS / MiB) * MiB);
}
