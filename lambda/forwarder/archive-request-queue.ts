/** The forwarder's one I/O step: archive requests onto the archive queue, one SendMessageBatch at a time. */
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { archiveRequestBody } from '../shared/archive-queue';

/** An entry SQS did not take: its position in the call, and SQS's code for it. */
export interface Rejection {
  readonly position: number;
  readonly code: string;
  readonly message?: string;
}

/** An entry SQS answered neither way: counted as rejected, so that it is sent again. */
export const UNANSWERED = 'Unanswered';

export class ArchiveRequestQueue {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
  ) {}

  /**
   * Sends one archive request per prediction (at most 10) in one call. Returns the entries SQS
   * did not take; throws when the call itself fails (then none was taken, or none is known to be).
   */
  async send(predictionIds: readonly string[]): Promise<readonly Rejection[]> {
    const response = await this.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: this.queueUrl,
        Entries: predictionIds.map((predictionId, position) => ({
          Id: String(position),
          MessageBody: archiveRequestBody(predictionId),
        })),
      }),
    );
    const accepted = new Set((response.Successful ?? []).map((entry) => entry.Id));
    const failed = new Map((response.Failed ?? []).map((entry) => [entry.Id, entry]));
    return predictionIds.flatMap((_, position) => {
      const id = String(position);
      if (accepted.has(id)) return [];
      const failure = failed.get(id);
      return [{ position, code: failure?.Code ?? UNANSWERED, ...(failure?.Message ? { message: failure.Message } : {}) }];
    });
  }
}
