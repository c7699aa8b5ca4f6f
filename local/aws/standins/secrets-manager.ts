/**
 * A Secrets Manager stand-in: `GetSecretValue` and `PutSecretValue` over the JSON 1.1 protocol,
 * which is all the verifier and the people inspecting local mode need. No such emulator exists
 * as a package, so this small one serves both local mode and the tests.
 */
import { jsonError, serveJsonProtocol, type JsonAnswer } from './json-protocol';

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

  const server = await serveJsonProtocol({
    targetPrefix: 'secretsmanager',
    invalidBodyType: 'InvalidRequestException',
    port: options.port,
    handle: (action, input) => {
      if (!state.available) return jsonError(500, 'InternalServiceError', 'stand-in switched off');
      const reply = (body: Record<string, unknown>): JsonAnswer => ({ status: 200, body });
      const secret = find(input.SecretId);
      switch (action) {
        case 'GetSecretValue':
          if (!secret) return jsonError(400, 'ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
          state.getCalls++;
          return reply({
            ARN: secret.arn,
            Name: String(input.SecretId),
            SecretString: secret.value,
            VersionId: `v${secret.version}`,
            VersionStages: ['AWSCURRENT'],
            CreatedDate: Date.now() / 1000,
          });
        case 'PutSecretValue':
          if (!secret) return jsonError(400, 'ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
          if (typeof input.SecretString !== 'string')
            return jsonError(400, 'InvalidParameterException', 'SecretString is required');
          secret.value = input.SecretString;
          secret.version++;
          return reply({ ARN: secret.arn, Name: input.SecretId, VersionId: `v${secret.version}` });
        default:
          return jsonError(400, 'UnknownOperationException', `${action} is not supported by this stand-in`);
      }
    },
  });

  return {
    endpoint: server.endpoint,
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
    stop: () => server.stop(),
  };
}
