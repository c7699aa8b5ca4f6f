/**
 * The chain function's settings: environment names (the stack sets them), defaults and checks,
 * defined once for the stack and the handler. No AWS SDK here, so the CDK app loads none.
 */

/** Environment variables the stack sets (app.ts imports these names). */
export const CHAIN_ENV = {
  tokenSecretId: 'REPLICATE_API_TOKEN_SECRET_ID',
  apiBaseUrl: 'REPLICATE_API_BASE_URL',
  nextModel: 'NEXT_MODEL',
  nextInputField: 'NEXT_INPUT_FIELD',
  nextInput: 'NEXT_INPUT',
  webhookUrl: 'WEBHOOK_URL',
  claimsTable: 'CLAIMS_TABLE_NAME',
  inputUrlExpirySeconds: 'INPUT_URL_EXPIRY_SECONDS',
} as const;

/** A model to run: by name (official models) or pinned to a version. */
export interface ModelReference {
  readonly owner: string;
  readonly name: string;
  readonly version?: string;
}

const MODEL_REFERENCE = /^([A-Za-z0-9][\w.-]*)\/([A-Za-z0-9][\w.-]*)(?::([A-Za-z0-9]+))?$/;

/** `owner/name` or `owner/name:version`, as Replicate writes them; the stack checks it at synth too. */
export function parseModelReference(text: string): ModelReference {
  const match = MODEL_REFERENCE.exec(text);
  if (!match) throw new Error(`a model must be owner/name or owner/name:version, got ${JSON.stringify(text)}`);
  return { owner: match[1], name: match[2], ...(match[3] ? { version: match[3] } : {}) };
}

export interface ChainSettings {
  readonly tokenSecretId: string;
  readonly apiBaseUrl: URL;
  /** From `owner/name` (an official model, run by name) or `owner/name:version`. */
  readonly nextModel: ModelReference;
  /** The next model's input that receives the file URL, e.g. `image`. */
  readonly nextInputField: string;
  /** The rest of the next model's input. */
  readonly nextInput: Readonly<Record<string, unknown>>;
  readonly webhookUrl: string;
  readonly claimsTable: string;
  readonly inputUrlExpirySeconds: number;
}

export function readChainSettings(env: NodeJS.ProcessEnv = process.env): ChainSettings {
  const required = (name: string) => {
    const value = env[name];
    if (!value) throw new Error(`${name} is not set`);
    return value;
  };
  const apiBaseUrl = new URL(env[CHAIN_ENV.apiBaseUrl] || 'https://api.replicate.com');
  // The token travels with every request: in clear text only to this machine (a local stand-in).
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(apiBaseUrl.hostname);
  if (apiBaseUrl.protocol !== 'https:' && !(apiBaseUrl.protocol === 'http:' && loopback)) {
    throw new Error(`${CHAIN_ENV.apiBaseUrl} must be an https URL, got ${apiBaseUrl.origin}`);
  }
  const nextInput = JSON.parse(env[CHAIN_ENV.nextInput] || '{}') as unknown;
  if (typeof nextInput !== 'object' || nextInput === null || Array.isArray(nextInput)) {
    throw new Error(`${CHAIN_ENV.nextInput} must be a JSON object`);
  }
  const expiry = Number(env[CHAIN_ENV.inputUrlExpirySeconds] || 3600);
  // SigV4 presigned URLs live at most seven days.
  if (!Number.isInteger(expiry) || expiry < 60 || expiry > 604_800) {
    throw new Error(`${CHAIN_ENV.inputUrlExpirySeconds} must be whole seconds from 60 to 604800`);
  }
  return {
    tokenSecretId: required(CHAIN_ENV.tokenSecretId),
    apiBaseUrl,
    nextModel: parseModelReference(required(CHAIN_ENV.nextModel)),
    nextInputField: required(CHAIN_ENV.nextInputField),
    nextInput: nextInput as Record<string, unknown>,
    webhookUrl: required(CHAIN_ENV.webhookUrl),
    claimsTable: required(CHAIN_ENV.claimsTable),
    inputUrlExpirySeconds: expiry,
  };
}
