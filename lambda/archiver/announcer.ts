/**
 * Announces a finished prediction on each configured channel: one SNS message, with attributes
 * for filter policies, and (when an event bus is wired) one EventBridge event.
 */
import { PutEventsCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { completionEventEntry } from '../shared/completion-event';
import type { CompletionNotification } from '../shared/completion-message';

/** Where an announcement goes. Recorded on the item once done, so a retry skips it. */
export type Channel = 'topic' | 'eventBus';

/**
 * A PutEvents entry EventBridge refused while answering 200. Named after its error code, so the
 * one retry policy sees a throttle or an internal failure as transient.
 */
export class PutEventsEntryError extends Error {
  constructor(
    readonly errorCode: string,
    message: string,
  ) {
    super(`EventBridge refused the event: ${errorCode}: ${message}`);
    this.name = errorCode;
  }
}

export class CompletionAnnouncer {
  readonly channels: readonly Channel[];

  constructor(
    private readonly sns: SNSClient,
    private readonly topicArn: string,
    private readonly eventBus?: { readonly client: EventBridgeClient; readonly name: string },
  ) {
    this.channels = eventBus ? ['topic', 'eventBus'] : ['topic'];
  }

  async announce(channel: Channel, completion: CompletionNotification): Promise<void> {
    if (channel === 'topic') await this.publish(completion);
    else await this.putEvent(completion);
  }

  private async publish({ body, attributes }: CompletionNotification): Promise<void> {
    await this.sns.send(
      new PublishCommand({
        TopicArn: this.topicArn,
        Message: body,
        MessageAttributes: Object.fromEntries(
          Object.entries(attributes)
            .filter((entry): entry is [string, string] => typeof entry[1] === 'string')
            .map(([name, value]) => [name, { DataType: 'String', StringValue: value }]),
        ),
      }),
    );
  }

  private async putEvent({ message, body }: CompletionNotification): Promise<void> {
    if (!this.eventBus) throw new Error('no event bus is configured');
    const response = await this.eventBus.client.send(
      new PutEventsCommand({ Entries: [completionEventEntry(message.status, body, this.eventBus.name, message.kind)] }),
    );
    // PutEvents answers 200 even when it took none of the entries: the count says so.
    if ((response.FailedEntryCount ?? 0) > 0) {
      const entry = response.Entries?.[0];
      throw new PutEventsEntryError(entry?.ErrorCode ?? 'UnknownError', entry?.ErrorMessage ?? 'no reason given');
    }
  }
}
