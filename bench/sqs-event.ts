/** The event Lambda's SQS event source hands the archiver for one archive request, as the benches build it. */
import type { SQSEvent } from 'aws-lambda';

export function archiveQueueEvent(
  message: { readonly messageId: string; readonly receiptHandle: string; readonly body: string },
  queueArn: string,
): SQSEvent {
  return {
    Records: [
      {
        ...message,
        attributes: {
          ApproximateReceiveCount: '1',
          SentTimestamp: String(Date.now()),
          SenderId: 'bench',
          ApproximateFirstReceiveTimestamp: String(Date.now()),
        },
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: queueArn,
        awsRegion: 'us-east-1',
      },
    ],
  };
}
