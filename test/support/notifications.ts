/**
 * Reading what was published: an SQS queue subscribed to a topic (optionally with a filter
 * policy), drained through the SDK exactly as a subscriber would.
 */
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { randomUUID } from 'node:crypto';
import type { CompletionMessage } from '../../lambda/shared/completion-message';

export interface ReceivedNotification {
  readonly message: CompletionMessage;
  readonly attributes: Record<string, string>;
  /** The message body as published, and its attributes with their types: what SNS's 256 KiB limit counts. */
  readonly published: { readonly body: string; readonly attributes: Record<string, { Type: string; Value: string }> };
}

/** A published message's size as SNS counts it against its 256 KiB limit: body plus each attribute's name, type and value. */
export function publishedBytes(notification: ReceivedNotification): number {
  let bytes = Buffer.byteLength(notification.published.body);
  for (const [name, { Type, Value }] of Object.entries(notification.published.attributes)) {
    bytes += Buffer.byteLength(name) + Buffer.byteLength(Type) + Buffer.byteLength(Value);
  }
  return bytes;
}

export async function createTopic(sns: SNSClient, name = `topic-${randomUUID()}`): Promise<string> {
  const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: name }));
  return TopicArn!;
}

export interface Subscriber {
  readonly queueUrl: string;
  /** Everything in the queue, plus whatever arrives within `waitMs`. */
  receiveAll(waitMs?: number): Promise<ReceivedNotification[]>;
}

export async function subscribeQueue(
  sns: SNSClient,
  sqs: SQSClient,
  topicArn: string,
  filterPolicy?: Record<string, unknown>,
): Promise<Subscriber> {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `subscriber-${randomUUID()}` }));
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
  await sns.send(
    new SubscribeCommand({
      TopicArn: topicArn,
      Protocol: 'sqs',
      Endpoint: Attributes!.QueueArn,
      Attributes: filterPolicy ? { FilterPolicy: JSON.stringify(filterPolicy) } : undefined,
    }),
  );
  return {
    queueUrl: QueueUrl!,
    async receiveAll(waitMs = 300) {
      const received: ReceivedNotification[] = [];
      const until = Date.now() + waitMs;
      // Drain while messages keep coming; stop at the first empty answer after `waitMs`.
      for (;;) {
        const { Messages = [] } = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
        );
        for (const message of Messages) {
          const envelope = JSON.parse(message.Body!) as {
            Message: string;
            MessageAttributes?: Record<string, { Type: string; Value: string }>;
          };
          received.push({
            message: JSON.parse(envelope.Message) as CompletionMessage,
            attributes: Object.fromEntries(
              Object.entries(envelope.MessageAttributes ?? {}).map(([name, { Value }]) => [name, Value]),
            ),
            published: { body: envelope.Message, attributes: envelope.MessageAttributes ?? {} },
          });
          await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: message.ReceiptHandle }));
        }
        if (Messages.length === 0) {
          if (Date.now() >= until) break;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      return received;
    },
  };
}
