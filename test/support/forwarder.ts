/**
 * The forwarder built from source, as its entry builds it, for one queue and one SQS client (the
 * caller's, destroyed by the caller), and run on a table's stream as the construct's event
 * source runs it (local/archive-forwarder.ts).
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import { ArchiveRequestQueue } from '../../lambda/forwarder/archive-request-queue';
import { createForwarderHandler, type ForwarderHandler } from '../../lambda/forwarder/handler';
import { createTelemetry } from '../../lambda/telemetry';
import { startArchiveForwarder, type ArchiveForwarderOptions } from '../../local/archive-forwarder';
import type { StreamPoller } from '../../local/aws/stream-poller';

export function buildForwarder(sqs: SQSClient, queueUrl: string): ForwarderHandler {
  return createForwarderHandler({ telemetry: createTelemetry(), queue: new ArchiveRequestQueue(sqs, queueUrl) });
}

/** The forwarder from the stream `streamArn` to `queueUrl`, through the stream poller with the construct's settings. */
export function startForwarder(
  options: Omit<ArchiveForwarderOptions, 'forwarder'> & { readonly queueUrl: string; readonly sqs: SQSClient },
): StreamPoller {
  const { queueUrl, sqs, ...source } = options;
  const forwarder = buildForwarder(sqs, queueUrl);
  return startArchiveForwarder({ ...source, forwarder: (event) => forwarder(event) });
}
