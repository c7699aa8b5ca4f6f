/** The forwarder's entry: its wiring from the environment, its client, the handler (handler.ts). */
import { SQSClient } from '@aws-sdk/client-sqs';
import { FORWARDER_CLIENTS } from '../sdk-clients';
import { createTelemetry } from '../telemetry';
import { ArchiveRequestQueue } from './archive-request-queue';
import { readForwarderConfig } from './config';
import { createForwarderHandler } from './handler';

const config = readForwarderConfig();

export const handler = createForwarderHandler({
  telemetry: createTelemetry(),
  queue: new ArchiveRequestQueue(new SQSClient(FORWARDER_CLIENTS.sqs), config.queueUrl),
});
