/**
 * Posts the event it is given (already shaped by the rule's input transformer, e.g. Slack's
 * `{"text": "..."}`) to a chat service's incoming-webhook URL, read from Secrets Manager.
 *
 * Why a function and not an EventBridge API destination: an incoming-webhook URL is itself the
 * credential (Slack, Discord, Google Chat and Teams put the secret in the path or the query), and
 * an API destination keeps its endpoint in plain text, in the template and in every
 * DescribeApiDestination answer; a connection can only hold header, basic or OAuth credentials.
 * Here the URL stays in the secret, and replacing it needs no deploy.
 *
 * A failure throws: Lambda's asynchronous retries, then the dead-letter queue, take over.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CHAT_WEBHOOK_SECRET_ENV } from './settings';

const secrets = new SecretsManagerClient({});
const URL_CACHE_MS = 5 * 60 * 1000;
let cachedUrl: { value: URL; until: number } | undefined;

/** The secret holds the URL, or JSON `{"url": "https://hooks.slack.com/services/..."}`. */
async function webhookUrl(): Promise<URL> {
  if (cachedUrl && cachedUrl.until > Date.now()) return cachedUrl.value;
  const secretId = process.env[CHAT_WEBHOOK_SECRET_ENV];
  if (!secretId) throw new Error(`${CHAT_WEBHOOK_SECRET_ENV} is not set`);
  const text = ((await secrets.send(new GetSecretValueCommand({ SecretId: secretId }))).SecretString ?? '').trim();
  const url = text.startsWith('{') ? (JSON.parse(text) as { url?: unknown }).url : text;
  if (typeof url !== 'string' || !URL.canParse(url) || new URL(url).protocol !== 'https:') {
    // Says nothing of the value: it is a credential.
    throw new Error('the chat webhook secret holds no https URL');
  }
  cachedUrl = { value: new URL(url), until: Date.now() + URL_CACHE_MS };
  return cachedUrl.value;
}

export const handler = async (message: unknown): Promise<void> => {
  const url = await webhookUrl();
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(message),
    redirect: 'error',
    signal: AbortSignal.timeout(10_000),
  });
  // The URL is never logged: only the host and the answer.
  if (!response.ok) throw new Error(`${url.host} answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
};
