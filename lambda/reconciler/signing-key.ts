/**
 * The reconciler's keys: the Replicate API token it reads, and the webhook signing key it keeps
 * in step with Replicate's (bootstrap, rotation with a grace period for the previous key).
 */
import { GetSecretValueCommand, PutSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { METRIC } from '../shared/metrics';
import { nextSigningSecret, readStoredSigningSecret } from '../shared/reconcile';
import type { Telemetry } from '../telemetry';
import type { ReconcilerConfig } from './config';
import type { ReplicateApiClient } from './replicate-api';

/** What a run did to the signing secret. */
export type SigningKeySync = 'unchanged' | 'bootstrap' | 'rotation' | 'grace_over' | 'not_managed' | 'failed';

/** The token secret holds the plain token, or JSON `{"token": "r8_..."}`. */
export async function readToken(secrets: SecretsManagerClient, tokenSecretId: string): Promise<string> {
  const secret = await secrets.send(new GetSecretValueCommand({ SecretId: tokenSecretId }));
  const text = (secret.SecretString ?? '').trim();
  const token = text.startsWith('{') ? (JSON.parse(text) as { token?: unknown }).token : text;
  if (typeof token !== 'string' || token.length === 0) throw new Error('the Replicate API token secret holds no token');
  return token;
}

/** Puts Replicate's signing key into the signing secret when it is missing or has changed. */
export async function syncSigningKey(options: {
  readonly secrets: SecretsManagerClient;
  readonly api: ReplicateApiClient;
  readonly config: Pick<ReconcilerConfig, 'signingSecretId' | 'rotationGraceSeconds'>;
  readonly telemetry: Telemetry;
  readonly now: Date;
  readonly deadline: number;
}): Promise<SigningKeySync> {
  const { secrets, api, config, telemetry } = options;
  const replicateKey = await api.getWebhookSigningSecret({ deadline: options.deadline });
  const current = await secrets.send(new GetSecretValueCommand({ SecretId: config.signingSecretId }));
  const stored = readStoredSigningSecret(current.SecretString);
  const next = nextSigningSecret(stored, replicateKey, options.now, config.rotationGraceSeconds);
  if (!next) return 'unchanged';
  const kind = !stored?.key ? 'bootstrap' : stored.key !== replicateKey ? 'rotation' : 'grace_over';
  await secrets.send(new PutSecretValueCommand({ SecretId: config.signingSecretId, SecretString: JSON.stringify(next) }));
  // Never the key itself.
  telemetry.logger.info('signing secret updated from Replicate', { kind, previousKeysKept: next.keys?.length ?? 0 });
  telemetry.countFailure(METRIC.signingKeyUpdated, kind);
  return kind;
}
