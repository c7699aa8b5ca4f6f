/**
 * Builders that several tests need alike: an archive's failures and manifest as the archiver
 * writes them (one prediction, `p1`, archived at a fixed time).
 */
import {
  objectLocation,
  type ArchivedFile,
  type ArchiveFailure,
  type ArchiveManifest,
} from '../../lambda/shared/completion-message';

/** An output refused by the allow-list, found at `.bad[index]`. */
export const archiveFailure = (index: number, source = `https://evil.example/${index}.png`): ArchiveFailure => ({
  source,
  paths: [`.bad[${index}]`],
  reason: 'host_not_allowed',
  transient: false,
});

/**
 * The manifest of prediction `p1` in `bucket`, with these files and failures, as the archiver
 * writes it by default (no prediction.json); `predictionDocument` adds the location of one.
 */
export const archiveManifest = (
  bucket: string,
  files: readonly ArchivedFile[] = [],
  failures: readonly ArchiveFailure[] = [],
  { predictionDocument = false }: { readonly predictionDocument?: boolean } = {},
): ArchiveManifest => ({
  predictionId: 'p1',
  status: 'succeeded',
  archivedAt: '2026-11-20T10:00:04.120Z',
  ...(predictionDocument ? { prediction: objectLocation(bucket, 'predictions/p1/prediction.json') } : {}),
  files,
  failures,
});
