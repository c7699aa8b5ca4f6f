/** Announces a finished prediction: one SNS message, with attributes for filter policies. */
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { CompletionAttributes } from '../shared/completion-message';

export interface Completion {
  readonly body: string;
  readonly attributes: CompletionAttributes;
}

export class CompletionAnnouncer {
  constructor(
    private readonly sns: SNSClient,
    private readonly topicArn: string,
  ) {}

  async announce({ body, attributes }: Completion): Promise<void> {
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
}
