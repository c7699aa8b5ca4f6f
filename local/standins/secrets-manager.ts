/**
 * A Secrets Manager stand-in: `GetSecretValue` and `PutSecretValue` over the JSON 1.1 protocol,
 * which is all the verifier and the people inspecting local mode need. No such emulator exists
 * as a package, so this small one serves both local mode and the tests.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SecretsManagerStandIn {
  readonly endpoint: string;
  /** Sets (or replaces) a secret's value, as a rotation would. */
  putSecret(name: string, value: string): void;
  /** How many GetSecretValue calls were answered (for cache tests). */
  readonly getCalls: number;
  /** While false, every call fails with a 500 InternalServiceError (an outage). */
  available: boolean;
  stop(): Promise<void>;
}

interface StoredSecret {
  readonly arn: string;
  value: string;
  version: number;
}

export async function startSecretsManager(options: { region?: string; port?: number } = {}): Promise<SecretsManagerStandIn> {
  const region = options.region ?? 'us-east-1';
  const secrets = new Map<string, StoredSecret>();
  const arnOf = (name: string) => `arn:aws:secretsmanager:${region}:000000000000:secret:${name}-local`;
  const find = (id: unknown): StoredSecret | undefined =>
    typeof id === 'string' ? (secrets.get(id) ?? [...secrets.values()].find((secret) => secret.arn === id)) : undefined;

  const state = { getCalls: 0, available: true };

  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const reply = (status: number, body: Record<string, unknown>) => {
        response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
        response.end(JSON.stringify(body));
      };
      const fail = (status: number, type: string, message: string) => reply(status, { __type: type, message });
      if (!state.available) return fail(500, 'InternalServiceError', 'stand-in switched off');
      const action = String(request.headers['x-amz-target'] ?? '').replace(/^secretsmanager\./, '');
      let input: Record<string, unknown>;
      try {
        input = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
      } catch {
        return fail(400, 'InvalidRequestException', 'body is not JSON');
      }
      const secret = find(input.SecretId);
      switch (action) {
        case 'GetSecretValue':
          if (!secret) return fail(400, 'ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
          state.getCalls++;
          return reply(200, {
            ARN: secret.arn,
            Name: String(input.SecretId),
            SecretString: secret.value,
            VersionId: `v${secret.version}`,
            VersionStages: ['AWSCURRENT'],
            CreatedDate: Date.now() / 1000,
          });
        case 'PutSecretValue':
          if (!secret) return fail(400, 'ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
          if (typeof input.SecretString !== 'string') return fail(400, 'InvalidParameterException', 'SecretString is required');
          secret.value = input.SecretString;
          secret.version++;
          return reply(200, { ARN: secret.arn, Name: input.SecretId, VersionId: `v${secret.version}` });
        default:
          return fail(400, 'UnknownOperationException', `${action} is not supported by this stand-in`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    putSecret(name, value) {
      const existing = secrets.get(name);
      if (existing) {
        existing.value = value;
        existing.version++;
      } else {
        secrets.set(name, { arn: arnOf(name), value, version: 1 });
      }
    },
    get getCalls() {
      return state.getCalls;
    },
    get available() {
      return state.available;
    },
    set available(value: boolean) {
      state.available = value;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
