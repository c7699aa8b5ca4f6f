/**
 * fauxqs (S3, SNS, SQS) in-process on a free port. It is ESM-only, so it is loaded with a
 * dynamic import; its DNS interception makes the SDK's virtual-hosted bucket names
 * (`bucket.s3.localhost`) resolve to loopback.
 */
export interface Fauxqs {
  readonly port: number;
  readonly s3Endpoint: string;
  readonly endpoint: string;
  /** SQS at the host its queue URLs name, so the SDK need not switch endpoints per queue. */
  readonly sqsEndpoint: string;
  createBucket(name: string): void;
  stop(): Promise<void>;
}

export async function startFauxqs(): Promise<Fauxqs> {
  const fauxqs = await import('fauxqs');
  const restoreDns = fauxqs.interceptLocalhostDns();
  const server = await fauxqs.startFauxqs({ port: 0, logger: false });
  return {
    port: server.port,
    endpoint: `http://127.0.0.1:${server.port}`,
    s3Endpoint: `http://s3.localhost:${server.port}`,
    sqsEndpoint: `http://sqs.us-east-1.localhost:${server.port}`,
    createBucket: (name) => void server.createBucket(name),
    stop: async () => {
      await server.stop();
      restoreDns();
    },
  };
}
