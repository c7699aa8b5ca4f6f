/**
 * A subscriber, locally: long-polls the queue subscribed to the completion topic and prints one
 * line per finished prediction (its id, status, and where its files went).
 */
import { DeleteMessageCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { CompletionMessage } from '../lambda/shared/completion-message';

export interface NotificationPrinter {
  stop(): Promise<void>;
}

// A model name or an output URL comes from the payload: no escape sequence of it reaches the terminal.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
export const printable = (text: string): string => text.replace(CONTROL, '\ufffd');

export function describeNotification(message: CompletionMessage): string {
  const lines = [
    `✔ ${message.predictionId} ${message.status}${message.model ? ` (${message.model})` : ''}: ` +
      `${message.outputs.length} file(s) archived, ${message.failures.length} failure(s)`,
    ...(message.archive.prediction ? [`    ${documentName(message)}  ${message.archive.prediction.s3Uri}`] : []),
    `    manifest.json    ${message.archive.manifest.s3Uri}`,
    ...message.outputs.map((file) => `    ${file.s3Uri}  (${file.bytes} bytes, ${file.contentType})`),
    ...message.failures.map(
      (failure) => `    ✘ ${failure.source}: ${failure.reason}${failure.status ? ` ${failure.status}` : ''}`,
    ),
  ];
  return lines.map(printable).join('\n');
}

/** prediction.json or training.json, padded as `manifest.json` is. */
const documentName = (message: CompletionMessage): string =>
  (message.kind === 'training' ? 'training.json' : 'prediction.json').padEnd('manifest.json  '.length);

export function startNotificationPrinter(
  sqs: SQSClient,
  queueUrl: string,
  print: (text: string) => void,
  onError: (error: unknown) => void,
  onMessage?: (message: CompletionMessage) => void,
): NotificationPrinter {
  const controller = new AbortController();
  const loop = (async () => {
    while (!controller.signal.aborted) {
      try {
        const { Messages = [] } = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
          { abortSignal: controller.signal },
        );
        for (const message of Messages) {
          const envelope = JSON.parse(message.Body ?? '{}') as { Message?: string };
          const completion = JSON.parse(envelope.Message ?? '{}') as CompletionMessage;
          print(describeNotification(completion));
          onMessage?.(completion);
          await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }));
        }
      } catch (error) {
        if (controller.signal.aborted) break;
        onError(error);
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  })();
  return {
    async stop() {
      controller.abort();
      await loop;
    },
  };
}
