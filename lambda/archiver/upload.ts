/**
 * Streams bytes into S3 with a multipart upload (small files become one PutObject), hashing and
 * counting them on the way. Memory stays at about partSize × (queueSize + 1) whatever the size.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface UploadTarget {
  readonly bucket: string;
  readonly key: string;
  readonly contentType: string;
  readonly metadata?: Record<string, string>;
  readonly partSizeBytes: number;
  readonly queueSize: number;
  /** Stops the upload (source destroyed, upload aborted); streamToS3 then rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

export interface UploadedObject {
  readonly bytes: number;
  readonly sha256: string;
}

/** Raised when S3 (not the source) failed: our side, always worth retrying. */
export class ArchiveWriteError extends Error {
  constructor(key: string, cause: unknown) {
    super(`writing ${key} to S3 failed: ${(cause as Error)?.name ?? 'error'}`, { cause });
    this.name = 'ArchiveWriteError';
  }
}

export async function streamToS3(s3: S3Client, source: Readable, target: UploadTarget): Promise<UploadedObject> {
  const { signal } = target;
  if (signal?.aborted) {
    source.destroy();
    throw signal.reason;
  }
  const hash = createHash('sha256');
  let bytes = 0;
  const measure = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      bytes += chunk.length;
      callback(null, chunk);
    },
  });
  let upload: Upload;
  try {
    upload = new Upload({
      client: s3,
      params: {
        Bucket: target.bucket,
        Key: target.key,
        Body: measure,
        ContentType: target.contentType,
        Metadata: target.metadata,
      },
      partSize: target.partSizeBytes,
      queueSize: target.queueSize,
      leavePartsOnError: false,
    });
  } catch (error) {
    // An unread source would hold its connection (and the fetch's timers) open.
    source.destroy();
    throw new ArchiveWriteError(target.key, error);
  }
  let sourceError: unknown;
  let uploadError: unknown;
  source.once('error', (error) => (sourceError ??= error));
  // A source that has been read to the end cannot stop an upload that stalls on S3: this can.
  const onAbort = () => {
    source.destroy();
    void upload.abort();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    // A failure on either side must stop the other, or a stalled source would hold the upload open.
    const uploaded = upload.done().then(
      () => undefined,
      (error: unknown) => {
        uploadError = error;
        measure.destroy();
      },
    );
    let pipeError: unknown;
    try {
      await pipeline(source, measure);
    } catch (error) {
      pipeError = error;
      await upload.abort().catch(() => undefined);
    }
    await uploaded;
    const failed = sourceError !== undefined || uploadError !== undefined || pipeError !== undefined;
    if (failed && signal?.aborted) throw signal.reason;
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- the source's own error, passed on as it was
    if (sourceError !== undefined) throw sourceError;
    if (uploadError !== undefined) throw new ArchiveWriteError(target.key, uploadError);
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- the pipe's own error, passed on as it was
    if (pipeError !== undefined) throw pipeError;
    return { bytes, sha256: hash.digest('hex') };
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
