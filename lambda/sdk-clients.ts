/**
 * How long each handler's AWS SDK clients wait, and how often they try: a dependency that stops
 * answering must cost a bounded, known time, never a handler's whole timeout. Every client is
 * built from these settings and nothing else, so the standard AWS_ENDPOINT_URL_<SERVICE>
 * variables still point them anywhere.
 *
 * What the SDK's Node handler (@smithy/node-http-handler 4.x, read in its source) measures:
 * - `connectionTimeout`: until the TCP connection is established. It bounds an address that no
 *   longer answers at all (SYNs dropped); a connection accepted by a front end that forwards
 *   nothing, or a keep-alive connection already open, never meets it.
 * - `socketTimeout`: inactivity. The socket's idle timer, armed once it is connected (at once
 *   below 6 s, 3 s late above), reset by every byte either way, kept until the response has
 *   been read whole. It bounds a silent dependency, a silent TLS handshake and a dead
 *   keep-alive connection alike, without limiting how long a steady transfer (an 8 MiB part)
 *   takes. The socket is destroyed, so a frozen connection is never used again, and the
 *   TimeoutError it raises is transient to the SDK and to `retryTransient` alike.
 * - `requestTimeout`: not used. It is a total, from the request to the response's headers, and
 *   without `throwOnRequestTimeout` it only logs a warning. A total short enough to matter would
 *   fail a large upload on a slow link; inactivity already bounds silence.
 *   (`socketAcquisitionWarningTimeout` only delays a warning about a full socket pool.)
 *
 * A call to a silent dependency therefore fails after about
 * `maxAttempts × (socketTimeout + the SDK's backoff, under 100 ms)`, or `connectionTimeout` in
 * place of `socketTimeout` where nothing even connects (never more here); the per-client
 * comments add that up against the deadline it must fit.
 *
 * One retry layer per call: where `retryTransient` retries (the archiver's single requests),
 * the SDK tries once; elsewhere the SDK's tries are the only ones. The SDK also keeps a retry
 * quota per client (500 tokens, 14 per retry of a transient error, one back per success):
 * after an outage of a few dozen failed calls it retries nothing until successes refill it, so
 * for a while a reset connection or lost reply fails the call at its first try. The verifier
 * then answers 503 for a webhook whose write may have been applied; its retry is answered
 * `duplicate`.
 */

export interface SdkClientSettings {
  /** Tries per call, the first included. */
  readonly maxAttempts: number;
  readonly requestHandler: {
    /** Milliseconds to establish a new connection. */
    readonly connectionTimeout: number;
    /** Milliseconds a connection may stay silent, both ways, before the try fails. */
    readonly socketTimeout: number;
  };
}

const SECOND = 1000;

/**
 * The verifier answers within 3 s (p99) when a dependency stops answering: Replicate waits a
 * bounded time per delivery, and an invocation that hangs holds a concurrency slot just when
 * retries pile up. Each of its dependencies is asked at most twice, for at most 1 s of silence
 * each: about 2.05 s to a 503 when one of them is silent (the calls before it take
 * milliseconds). Both a cache refresh of the signing key and the write silent, with keys cached
 * but expired, is two such failures in a row: about 4 s, still well within the 10 s timeout.
 */
export const VERIFIER_CLIENTS = {
  /**
   * One conditional write (two for a terminal webhook kept inline), each answered in
   * milliseconds: a second of silence means the connection or the service is gone. The second
   * try is what turns a lost reply into `duplicate` (it meets its own write) and a dead
   * keep-alive connection into a fresh one.
   */
  dynamodb: { maxAttempts: 2, requestHandler: { connectionTimeout: 1 * SECOND, socketTimeout: 1 * SECOND } },
  /**
   * Only on a cold start, a cache refresh, or after a signature mismatch: one small read.
   * Twice 1 s keeps a cold start's 503 within the same bound as the write's.
   */
  secretsManager: { maxAttempts: 2, requestHandler: { connectionTimeout: 1 * SECOND, socketTimeout: 1 * SECOND } },
  /**
   * The spill of a terminal payload larger than an item, up to 6 MB, sent in one piece: S3 is
   * silent only before it answers. AWS advises retrying small S3 requests after about 2 s; a
   * spill is retried by Replicate after our 503, so one silent second per try is enough.
   */
  s3: { maxAttempts: 2, requestHandler: { connectionTimeout: 1 * SECOND, socketTimeout: 1 * SECOND } },
} as const satisfies Record<string, SdkClientSettings>;

/**
 * The forwarder sends one SendMessageBatch per invocation (its event source hands it at most 10
 * records) and has 30 s. Its retries are the stream event source's: a failed call or a rejected
 * entry is reported as the first record not queued, and Lambda retries from there (10 times, with
 * backoff, then the failure queue). The SDK's second try only covers what a fresh connection
 * fixes at once (a reset or a lost reply), so the two layers stay short: 2 × 2 s of silence.
 */
export const FORWARDER_CLIENTS = {
  sqs: { maxAttempts: 2, requestHandler: { connectionTimeout: 2 * SECOND, socketTimeout: 2 * SECOND } },
} as const satisfies Record<string, SdkClientSettings>;

/**
 * The archiver reserves 20 s of its timeout (SAFETY_MARGIN_MS) for what follows its deadline:
 * the one try `retryTransient` may have started just before it (at most S3's 10.1 s below),
 * releasing the prediction (DynamoDB, 2 s) and setting its message's next try (SQS, 4.1 s):
 * 16.2 s. A silent dependency is retried through the outage window (OUTAGE_WINDOW_SECONDS),
 * each try bounded, then the prediction goes back to the queue.
 */
export const ARCHIVER_CLIENTS = {
  /**
   * Single requests, retried by `retryTransient` alone (one retry layer). An item read or
   * write answers in milliseconds; 2 s of silence means it never will.
   */
  dynamodb: { maxAttempts: 1, requestHandler: { connectionTimeout: 2 * SECOND, socketTimeout: 2 * SECOND } },
  /** Publish, retried by `retryTransient` alone; tens of milliseconds as a rule. */
  sns: { maxAttempts: 1, requestHandler: { connectionTimeout: 2 * SECOND, socketTimeout: 3 * SECOND } },
  /** PutEvents, retried by `retryTransient` alone; tens of milliseconds as a rule. */
  eventBridge: { maxAttempts: 1, requestHandler: { connectionTimeout: 2 * SECOND, socketTimeout: 3 * SECOND } },
  /**
   * S3 keeps the SDK's retries: they retry one part of a multipart upload, where ours would
   * fetch the whole file again. Inactivity, not a total: an 8 MiB part takes as long as the
   * link needs, and S3 is silent only between the last byte and its answer. 5 s of silence is
   * several times S3's slow answers, and two tries (10.1 s) fit the safety margin above.
   * Uploads still running at the deadline are stopped by the archiver itself.
   */
  s3: { maxAttempts: 2, requestHandler: { connectionTimeout: 2 * SECOND, socketTimeout: 5 * SECOND } },
  /**
   * ChangeMessageVisibility after a failure, with no retry of ours: if it fails, the message
   * comes back after the queue's visibility timeout instead. Two tries of 2 s (4.1 s).
   */
  sqs: { maxAttempts: 2, requestHandler: { connectionTimeout: 2 * SECOND, socketTimeout: 2 * SECOND } },
} as const satisfies Record<string, SdkClientSettings>;

/**
 * The reconciler's run stops 15 s before its timeout; the SDK's tries are its only retries
 * (a failed item is tried again next run). Each call to a silent dependency fails within
 * 4.1 s (S3's spill: 10.1 s), so no single call can eat the margin; a run whose table is
 * silent ends at its first read of it.
 */
export const RECONCILER_CLIENTS = {
  /**
   * Reads of up to a hundred items or a page of an index, and the store's conditional write:
   * DynamoDB streams its answer, so 2 s of silence means it is gone. One retry covers a reset
   * connection; a throttled or failed item is tried again next run.
   */
  dynamodb: { maxAttempts: 2, requestHandler: { connectionTimeout: 2 * SECOND, socketTimeout: 2 * SECOND } },
  /** The token and the signing secret: small reads and one write per run. */
  secretsManager: { maxAttempts: 2, requestHandler: { connectionTimeout: 2 * SECOND, socketTimeout: 2 * SECOND } },
  /** The store's spill of a large recovered payload: as the archiver's S3. */
  s3: { maxAttempts: 2, requestHandler: { connectionTimeout: 2 * SECOND, socketTimeout: 5 * SECOND } },
  /** Stuck archivals sent back to the queue, ten at a time; what fails is found again next run. */
  sqs: { maxAttempts: 2, requestHandler: { connectionTimeout: 2 * SECOND, socketTimeout: 2 * SECOND } },
} as const satisfies Record<string, SdkClientSettings>;
