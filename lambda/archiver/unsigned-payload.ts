/**
 * The archiver's S3 requests carry `x-amz-content-sha256: UNSIGNED-PAYLOAD`: SigV4 otherwise
 * hashes every body it is given whole (a single PutObject, each part of a multipart upload), a
 * SHA-256 pass over every byte archived, on top of the one the manifest's digest already makes.
 * At the archiver's share of a core that pass is a large part of an archival's CPU (`npm run
 * bench -- duration`). What it guarded is guarded anyway: TLS in transit, and the CRC32 checksum
 * the SDK sends with each upload, which S3 verifies before it stores anything.
 */
import type { S3Client } from '@aws-sdk/client-s3';

const CONTENT_SHA256 = 'x-amz-content-sha256';

/** Adds the header to every request with a body, before signing (which takes it as the payload's hash). */
export function sendUnsignedPayloads(s3: S3Client): void {
  s3.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string>; body?: unknown };
      if (request.headers && request.body !== undefined && request.body !== null)
        request.headers[CONTENT_SHA256] = 'UNSIGNED-PAYLOAD';
      return next(args);
    },
    { step: 'build', name: 'unsignedPayloadMiddleware', priority: 'low' },
  );
}
