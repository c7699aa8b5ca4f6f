/**
 * Copies every discovered output into the archive, a few at a time. A refused, missing,
 * undecodable (`data:`) or skipped file becomes a recorded failure; a transient one is retried
 * here (the queue's retries come back later) and, if it persists, reported so the prediction is
 * retried. A file still in flight at the deadline is stopped and reported (`deadline`,
 * transient), so the caller gets every file accounted for in time. S3 failing transiently through
 * the outage window (or to the deadline) is ours and fails the whole prediction, which goes back
 * to the queue as after any other step's outage; S3 refusing one file for good (its name or type
 * came from the payload) is that file's failure.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { setMaxListeners } from 'node:events';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { outputKey } from '../shared/archive-layout';
import { s3Uri, type ArchiveFailure, type ArchivedFile } from '../shared/completion-message';
import {
  contentTypeForFileName,
  normalizeMediaType,
  parseDataUri,
  type DiscoveredFile,
  type DiscoveredOutput,
  type SkippedOutputs,
} from '../shared/outputs';
import { ConcurrencyLimit } from '../shared/concurrency-limit';
import { partSizeFor } from '../shared/part-size';
import { CompletionKind } from '../shared/prediction';
import type { ArchiverConfig } from './config';
import { backoffDelay, isTransientInfrastructureError } from '../shared/retry';
import { openOutput, OutputFetchError, type FetchFailureReason } from './safe-fetch';
import type { StoredOutput } from './progress';
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
> &
  /**
   * `maxTrainingFileBytes` absent: trainings' files are held to `fetchPolicy.maxBytes` too.
   * `outageWindowMs` absent: S3 failing transiently is retried until the deadline.
   */
  Partial<Pick<ArchiverConfig, 'maxTrainingFileBytes' | 'outageWindowMs'>>;

export type FileResult =
  { readonly ok: true; readonly file: ArchivedFile } | { readonly ok: false; readonly failure: ArchiveFailure };

/** Failure reasons of this step, beside the fetch's own (`FetchFailureReason`) and discovery's (`SkipReason`). */
export type ArchiveStepFailureReason =
  /** Still downloading or uploading when the invocation's deadline came: transient. */
  | 'deadline'
  /** S3 refused this one object for good (e.g. a header it would not take): permanent. */
  | 'write_rejected'
  /** A data: URI that does not decode (bad base64 or percent-encoding): permanent. */
  | 'invalid_data_uri';

/**
 * One result per output, at `results[output.index]`; resolves by the deadline (give or take
 * the few milliseconds a stopped transfer takes to tear down), with no timer or transfer left
 * running. Rejects only when S3 kept failing transiently through the outage window (from the start
 * of a file's first try that S3 failed) or until the deadline.
 */
export async function archiveOutputs(
  s3: S3Client,
  predictionId: string,
  outputs: readonly DiscoveredOutput[],
  settings: OutputArchiveSettings,
  deadline: number,
  /** Shared by the predictions of one invocation, so files in flight stay within its memory. */
  files: ConcurrencyLimit = new ConcurrencyLimit(settings.fileConcurrency),
  /** Outputs an earlier try of this prediction stored, by key: listed as they are, not fetched again. */
  storedBefore: ReadonlyMap<string, StoredOutput> = new Map(),
  /** A training's files go under `trainings/`, and are held to the trainings' size cap. */
  kind: CompletionKind = CompletionKind.PREDICTION,
): Promise<FileResult[]> {
  settings = settingsForKind(settings, kind);
  const results: FileResult[] = new Array<FileResult>(outputs.length);
  const pending: DiscoveredFile[] = [];
  for (const output of outputs) {
    if (output.kind === 'skipped') {
      results[output.index] = skippedFailure(output);
      continue;
    }
    const key = outputKey(settings.archivePrefix, predictionId, output.index, output.fileName, kind);
    const stored = storedBefore.get(key);
    if (stored && stored.bucket === settings.bucketName) {
      results[output.index] = archivedResult(output, describeSource(output).source, stored, key);
    } else {
      pending.push(output);
    }
  }
  if (pending.length === 0) return results;

  // One signal for every transfer of this prediction: it fires at the deadline, or when S3
  // failing stops the rest. Each transfer in flight listens to it a few times over.
  const stop = new AbortController();
  setMaxListeners(Math.max(10, 4 * settings.fileConcurrency), stop.signal);
  const timer = setTimeout(() => stop.abort(), Math.max(0, deadline - Date.now()));
  let recordError: unknown;
  let next = 0;
  const worker = async () => {
    while (next < pending.length) {
      const output = pending[next++];
      try {
        results[output.index] = await files.run(() =>
          archiveOne(s3, predictionId, output, settings, deadline, stop.signal, kind),
        );
      } catch (error) {
        // S3 failed in a way that fails the whole prediction: the other files need not go on.
        recordError ??= error;
        stop.abort();
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(files.max, pending.length) }, worker));
  } finally {
    clearTimeout(timer);
  }
  // eslint-disable-next-line @typescript-eslint/only-throw-error -- what a worker caught, passed on as it was
  if (recordError !== undefined) throw recordError;
  return results;
}

async function archiveOne(
  s3: S3Client,
  predictionId: string,
  output: DiscoveredFile,
  settings: OutputArchiveSettings,
  deadline: number,
  signal: AbortSignal,
  kind: CompletionKind,
): Promise<FileResult> {
  const key = outputKey(settings.archivePrefix, predictionId, output.index, output.fileName, kind);
  const { decoded, source } = describeSource(output);
  // Before the deadline's check: nothing to fetch or retry, so it is this verdict whenever it runs.
  if (output.kind === 'data' && !decoded) return failed(output, 'data: (malformed)', 'invalid_data_uri', false);

  // Sized before the first byte from the most the file can be, so that 10,000 parts hold it.
  const upload = (body: Readable, contentType: string, largestBytes: number) =>
    streamToS3(s3, body, {
      bucket: settings.bucketName,
      key,
      contentType,
      metadata: {
        'prediction-id': predictionId,
        ...(output.kind === 'url' && isHeaderSafe(output.source) ? { 'source-url': output.source } : {}),
      },
      partSizeBytes: partSizeFor(largestBytes, settings.partSizeBytes),
      queueSize: settings.uploadQueueSize,
      signal,
    });
  const archived = (uploaded: { bytes: number; sha256: string }, contentType: string): FileResult =>
    archivedResult(output, source, { bucket: settings.bucketName, contentType, ...uploaded }, key);

  let fetchAttempt = 1;
  let writeFailures = 0;
  let outageSince: number | undefined;
  for (;;) {
    if (signal.aborted || Date.now() >= deadline) return failed(output, source, 'deadline', true);
    let delay: number;
    try {
      if (decoded) {
        const uploaded = await upload(Readable.from([decoded.bytes]), decoded.contentType, decoded.bytes.length);
        return archived(uploaded, decoded.contentType);
      }
      const response = await openOutput(output.source, settings.fetchPolicy, signal);
      const contentType = normalizeMediaType(response.contentType) ?? contentTypeForFileName(output.fileName);
      return archived(
        await upload(response.body, contentType, response.contentLength ?? settings.fetchPolicy.maxBytes),
        contentType,
      );
    } catch (error) {
      // Whatever the stop interrupted (a fetch, an upload, S3) ends as this file's failure.
      if (signal.aborted) return failed(output, source, 'deadline', true);
      if (error instanceof OutputFetchError) {
        delay = settings.fetchRetryDelayMs * 3 ** (fetchAttempt - 1);
        const retry = error.transient && fetchAttempt < settings.fetchAttempts && Date.now() + delay < deadline;
        if (!retry) return failed(output, source, error.reason, error.transient, error.status);
        fetchAttempt++;
      } else {
        // S3's side: a refusal of this object is the file's failure; an outage is retried (the
        // source is fetched again each time) through the window every other step of the archival
        // gets, counted from S3's first failure, then fails the prediction: not held to the
        // deadline, minutes on a 10-minute timeout, while S3 is down.
        if (!isTransientInfrastructureError(error)) return failed(output, source, 'write_rejected', false);
        // From when S3 first failed, not from when this transfer began: a large file's upload may
        // itself take minutes, and one transient error at its end is not minutes of outage.
        outageSince ??= Date.now();
        delay = Math.max(settings.retryBaseDelayMs, backoffDelay(++writeFailures, settings.retryBaseDelayMs, 20_000));
        const giveUpAt = Math.min(deadline, outageSince + (settings.outageWindowMs ?? Number.POSITIVE_INFINITY));
        if (Date.now() + delay >= giveUpAt) throw error;
      }
    }
    // Cut short when the others are stopped; the loop's first line then reports this file.
    await sleep(delay, undefined, { signal }).catch(() => undefined);
  }
}

/** A training's files are fetched under the trainings' cap (weights are often several GiB). */
function settingsForKind(settings: OutputArchiveSettings, kind: CompletionKind): OutputArchiveSettings {
  if (kind !== CompletionKind.TRAINING || settings.maxTrainingFileBytes === undefined) return settings;
  return { ...settings, fetchPolicy: { ...settings.fetchPolicy, maxBytes: settings.maxTrainingFileBytes } };
}

/** Where in the prediction's output an entry was found, as the manifest and the message list it. */
const whereFound = (output: DiscoveredFile | SkippedOutputs): { paths: readonly string[]; omittedPaths?: number } => ({
  paths: output.paths,
  ...(output.omittedPaths ? { omittedPaths: output.omittedPaths } : {}),
});

function failed(
  output: DiscoveredFile,
  source: string,
  reason: FetchFailureReason | ArchiveStepFailureReason,
  transient: boolean,
  status?: number,
): FileResult {
  return {
    ok: false,
    failure: {
      source,
      ...whereFound(output),
      reason,
      transient,
      ...(status !== undefined ? { status } : {}),
    },
  };
}

function describeSource(output: DiscoveredFile): { decoded?: ReturnType<typeof parseDataUri>; source: string } {
  const decoded = output.kind === 'data' ? parseDataUri(output.source) : undefined;
  // Never the whole data URI: it may be megabytes, and the manifest and message list sources.
  return { decoded, source: decoded ? `data:${decoded.contentType} (${decoded.bytes.length} bytes)` : output.source };
}

/** An output stored at `key`: by this try, or (keys being deterministic and a finished prediction's outputs fixed) by an earlier one. */
function archivedResult(output: DiscoveredFile, source: string, stored: StoredOutput, key: string): FileResult {
  return {
    ok: true,
    file: {
      source,
      ...whereFound(output),
      bucket: stored.bucket,
      key,
      s3Uri: s3Uri(stored.bucket, key),
      contentType: stored.contentType,
      bytes: stored.bytes,
      sha256: stored.sha256,
    },
  };
}

/** Found but not archived (a discovery limit): retrying would find the same, so not transient. */
function skippedFailure(output: SkippedOutputs): FileResult {
  return {
    ok: false,
    failure: {
      source: output.source,
      ...whereFound(output),
      reason: output.reason,
      transient: false,
      ...(output.count !== undefined ? { count: output.count } : {}),
    },
  };
}

// S3 metadata travels as HTTP headers: printable ASCII, and all of it under 2 KB.
const isHeaderSafe = (value: string) => value.length <= 1024 && /^[\x20-\x7e]*$/.test(value);
