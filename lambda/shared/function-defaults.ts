/**
 * The handlers' Lambda functions as the construct deploys them unless its props say otherwise
 * (`verifier.timeout`, `archiver.memorySize`, ...), and the archive queue's visibility timeout
 * beside the archiver's; local mode's Lambda contexts and queue report the same numbers. Kept apart
 * from the handlers' settings on purpose: no handler imports this module, so a default here
 * changes the template, never a bundle's bytes or its asset hash.
 */

export const VERIFIER_FUNCTION_DEFAULTS = {
  timeoutSeconds: 10,
  memorySizeMb: 256,
} as const;

/**
 * One SendMessageBatch per invocation: milliseconds of work, a few seconds when SQS is slow (its
 * SDK client gives up after about 4 s), so 30 s leaves room without holding a shard long when it
 * hangs. 128 MB, the least Lambda gives: the function holds ten small records.
 */
export const FORWARDER_FUNCTION_DEFAULTS = {
  timeoutSeconds: 30,
  memorySizeMb: 128,
} as const;

/**
 * 256 MB: an archival of the usual outputs mostly waits on the network (`npm run bench --
 * duration`: 0.77 s at 256 MB, 0.51 s at 512 MB, 0.48 s at 1,024 MB), so the least memory bills
 * the least; large outputs are CPU-bound and go at about 18 MiB/s here against 42 MiB/s at 512 MB.
 */
export const ARCHIVER_FUNCTION_DEFAULTS = {
  timeoutSeconds: 10 * 60,
  memorySizeMb: 256,
} as const;

export const RECONCILER_FUNCTION_DEFAULTS = {
  memorySizeMb: 256,
} as const;

/**
 * The archive queue's visibility timeout is the archiver's timeout plus this. Lambda requires at
 * least the function's timeout. Not the six-fold AWS suggests: a crashed invocation's predictions
 * come back after this long, and outputs expire after an hour.
 */
export const ARCHIVE_VISIBILITY_MARGIN_SECONDS = 60;

/**
 * The logging of the functions that run per webhook or per prediction (the verifier, the
 * forwarder, the archiver) unless `verboseLogs`: a line for every refused or failed webhook,
 * queueing or archival (Powertools' WARN and ERROR), the INFO lines of one invocation in a
 * hundred (Powertools' sample rate lowers the level to DEBUG for the invocations it picks), and
 * none of Lambda's own start and report records (its system log level). A webhook otherwise
 * writes about 1.5 KB of logs and an archival about 1.4 KB, priced like the rest of what they
 * cost. With `verboseLogs`, INFO and every record.
 */
export const LEAN_LOGGING = {
  logLevel: 'WARN',
  sampleRate: 0.01,
  systemLogLevel: 'WARN',
} as const;

export const VERBOSE_LOGGING = {
  logLevel: 'INFO',
  systemLogLevel: 'INFO',
} as const;

/** The environment variables that set a handler's log level and sampling (Powertools' own). */
export function loggingEnvironment(verbose: boolean): Record<string, string> {
  return verbose
    ? { POWERTOOLS_LOG_LEVEL: VERBOSE_LOGGING.logLevel }
    : {
        POWERTOOLS_LOG_LEVEL: LEAN_LOGGING.logLevel,
        POWERTOOLS_LOGGER_SAMPLE_RATE: String(LEAN_LOGGING.sampleRate),
      };
}
