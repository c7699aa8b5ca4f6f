/**
 * SQS's message move task (StartMessageMoveTask, ListMessageMoveTasks), which fauxqs does not
 * have, in front of it: those two actions are answered here, over SQS's JSON protocol, by moving
 * the messages through fauxqs; every other request is passed to fauxqs as it came.
 */
import {
  DeleteMessageCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SqsWithMoveTasks {
  readonly port: number;
  /** The tasks started, with what they moved. */
  readonly tasks: ReadonlyArray<{ readonly sourceArn: string; readonly destinationArn: string; readonly moved: number }>;
  stop(): Promise<void>;
}

export async function startSqsWithMoveTasks(fauxqsOrigin: string, region: string): Promise<SqsWithMoveTasks> {
  const sqs = new SQSClient({
    region,
    endpoint: fauxqsOrigin,
    useQueueUrlAsEndpoint: false,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const tasks: Array<{ handle: string; sourceArn: string; destinationArn: string; moved: number }> = [];
  const urlOf = async (arn: string) => (await sqs.send(new GetQueueUrlCommand({ QueueName: arn.split(':').at(-1) }))).QueueUrl!;

  async function move(sourceArn: string, destinationArn: string): Promise<number> {
    const [source, destination] = [await urlOf(sourceArn), await urlOf(destinationArn)];
    let moved = 0;
    for (;;) {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: source, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
      );
      if (Messages.length === 0) return moved;
      for (const message of Messages) {
        await sqs.send(new SendMessageCommand({ QueueUrl: destination, MessageBody: message.Body }));
        await sqs.send(new DeleteMessageCommand({ QueueUrl: source, ReceiptHandle: message.ReceiptHandle }));
        moved++;
      }
    }
  }

  const target = new URL(fauxqsOrigin);
  const server = createServer((incoming, response) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const body = Buffer.concat(chunks);
      const action = String(incoming.headers['x-amz-target'] ?? '').replace('AmazonSQS.', '');
      const answer = (result: object) => {
        response.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
        response.end(JSON.stringify(result));
      };
      if (action === 'StartMessageMoveTask') {
        const input = JSON.parse(body.toString('utf8')) as { SourceArn: string; DestinationArn: string };
        void move(input.SourceArn, input.DestinationArn).then((moved) => {
          const handle = `task-${tasks.length + 1}`;
          tasks.push({ handle, sourceArn: input.SourceArn, destinationArn: input.DestinationArn, moved });
          answer({ TaskHandle: handle });
        });
        return;
      }
      if (action === 'ListMessageMoveTasks') {
        const input = JSON.parse(body.toString('utf8')) as { SourceArn: string };
        answer({
          Results: tasks
            .filter((task) => task.sourceArn === input.SourceArn)
            .reverse()
            .map((task) => ({
              TaskHandle: task.handle,
              Status: 'COMPLETED',
              SourceArn: task.sourceArn,
              DestinationArn: task.destinationArn,
              ApproximateNumberOfMessagesMoved: task.moved,
              ApproximateNumberOfMessagesToMove: task.moved,
              StartedTimestamp: Date.now(),
            })),
        });
        return;
      }
      const forwarded = httpRequest(
        { host: '127.0.0.1', port: target.port, method: incoming.method, path: incoming.url, headers: incoming.headers },
        (reply) => {
          response.writeHead(reply.statusCode ?? 500, reply.headers);
          reply.pipe(response);
        },
      );
      forwarded.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    tasks,
    stop: () =>
      new Promise<void>((resolve) => {
        sqs.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
