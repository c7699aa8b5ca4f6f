/**
 * Copies every discovered output into the archive, a few at a time. A refused or missing file
 * becomes a recorded failure; a transient one is retried here (stream retries come back within
 * seconds, with no backoff) and, if it persists, reported so the record is retried later. An S3
 * failure is ours and fails the whole record.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { outputKey } from '../shared/archive-layout';
import { s3Uri, type ArchiveFailure, type ArchivedFile } from '../shared/completion-message';
import { contentTypeForFileName, parseDataUri, type DiscoveredOutput } from '../shared/outputs';
import { backoffDelay, isTransientInfrastructureError } from './retry';
import type { ArchiverConfig } from './config';
import { openOutput, type OutputFetchError } from './safe-fetch';
import { streamToS3 } from './upload';

export type OutputArchiveSettings = Pick<
  ArchiverConfig,
  | 'bucketName'
  | 'archivePrefix'
  | 'fetchPolicy'
  | 'fileConcurrency'
  | 'partSizeBytes'
  | 'uploadQueueSize'
  | 'fetchAttempts'
  | 'fetchRetryDelayMs'
  | 'retryBaseDelayMs'
>;

export type FileResult =
  { readonly ok: true; readonly file: ArchivedFile } | { readonly ok: false; readonly failure: ArchiveFailure };

export async function archiveOutputs(
  s3: S3Client,
  predictionId: string,
  outputs: readonly DiscoveredOutput[],
  settings: OutputArchiveSettings,
  deadline: number,
): Promise<FileResult[]> {
  const results: FileResult[] = new Array(outputs.length);
  let next = 0;
  const worker = async () => {
    while (next < outputs.length) {
      const output = outputs[next++];
      results[output.index] = await archiveOne(s3, predictionId, output, settings, deadline);
    }
  };
  await Promise.all(Array.from({ length: Math.min(settings.fileConcurrency, outputs.length) }, worker));
  return results;
}

async function archiveOne(
  s3: S3Client,
  predictionId: string,
  output: DiscoveredOutput,
  settings: OutputArchiveSettings,
  deadline: number,
): Promise<FileResult> {
  const key = outputKey(settings.archivePrefix, predictionId, output.index, output.fileName);
  const upload = (body: Readable, contentType: string, sourceUrl?: string) =>
    streamToS3(s3, body, {
      bucket: settings.bucketName,
      key,
      contentType,
      metadata: { 'prediction-id': predictionId, ...(sourceUrl && isHeaderSafe(sourceUrl) ? { 'source-url': sourceUrl } : {}) },
      partSizeBytes: settings.partSizeBytes,
      queueSize: settings.uploadQueueSize,
    });
  const archived = (uploaded: { bytes: number; sha256: string }, contentType: string, source: string): FileResult => ({
    ok: true,
    file: {
      source,
      paths: output.paths,
      bucket: settings.bucketName,
      key,
      s3Uri: s3Uri(settings.bucketName, key),
      contentType,
      ...uploaded,
    },
  });

  // An S3 failure (ours) is retried until the deadline: the source is fetched again each time.
  let writeFailures = 0;
  const retryWrite = async (error: unknown): Promise<void> => {
    const delay = Math.max(settings.retryBaseDelayMs, backoffDelay(++writeFailures, settings.retryBaseDelayMs, 20_000));
    if (!isTransientInfrastructureError(error) || Date.now() + delay >= deadline) throw error;
    await sleep(delay);
  };

  if (output.kind === 'data') {
    const decoded = parseDataUri(output.source);
    if (!decoded) return failed(output, output.source.slice(0, 64), 'invalid_data_uri', false);
    const source = `data:${decoded.contentType} (${decoded.bytes.length} bytes)`;
    for (;;) {
      try {
        return archived(await upload(Readable.from([decoded.bytes]), decoded.contentType), decoded.contentType, source);
      } catch (error) {
        await retryWrite(error);
      }
    }
  }

  for (let fetchAttempt = 1; ;) {
    try {
      const response = await openOutput(output.source, settings.fetchPolicy);
      const contentType = usableContentType(response.contentType) ?? contentTypeForFileName(output.fileName);
      return archived(await upload(response.body, contentType, output.source), contentType, output.source);
    } catch (error) {
      if ((error as Error)?.name !== 'OutputFetchError') {
        await retryWrite(error);
        continue;
      }
      const fetchError = error as OutputFetchError;
      const delay = settings.fetchRetryDelayMs * 3 ** (fetchAttempt - 1);
      const retry = fetchError.transient && fetchAttempt < settings.fetchAttempts && Date.now() + delay < deadline;
      if (!retry) return failed(output, output.source, fetchError.reason, fetchError.transient, fetchError.status);
      fetchAttempt++;
      await sleep(delay);
    }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function failed(output: DiscoveredOutput, source: string, reason: string, transient: boolean, status?: number): FileResult {
  return { ok: false, failure: { source, paths: output.paths, reason, transient, ...(status !== undefined ? { status } : {}) } };
}

// A media type as servers send it; anything odd falls back to a guess from the file name.
const MEDIA_TYPE = /^[\w!#$&^.+-]+\/[\w!#$&^.+-]+(\s*;[\x20-\x7e]*)?$/;
const usableContentType = (value: string | undefined): string | undefined =>
  value !== undefined && value.length <= 200 && MEDIA_TYPE.test(value) ? value : undefined;

// S3 metadata travels as HTTP headers: printable ASCII, and all of it under 2 KB.
const isHeaderSafe = (value: string) => value.length <= 1024 && /^[\x20-\x7e]*$/.test(value);
