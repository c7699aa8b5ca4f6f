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

export const ARCHIVER_FUNCTION_DEFAULTS = {
  timeoutSeconds: 10 * 60,
  memorySizeMb: 512,
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
