/**
 * The reconciler's Replicate API client: list recent predictions, get one, get the webhook signing
 * secret. Plain `fetch`, no SDK: three GET endpoints do not need one, and the SDK's own retries
 * (5 tries, no deadline) would multiply with ours.
 *
 * Every call is bounded: a deadline (epoch ms) past which no try starts, a per-request timeout, a
 * response-size cap, and a shape check on what comes back. The token goes only to `baseUrl`'s
 * origin and appears in no error message.
 */
import { CompletionKind, isPredictionId } from '../shared/prediction';
import { backoffDelay } from '../shared/retry';

export const REPLICATE_API_BASE_URL = 'https://api.replicate.com';

/** A prediction as Replicate's API returns it; the fields the reconciler relies on are checked. */
export interface ReplicatePrediction {
  readonly id: string;
  readonly status: string;
  /** ISO 8601, microseconds, `Z`. */
  readonly created_at: string;
  /** Present when the prediction was created with a webhook (not documented for list items). */
  readonly webhook?: string | null;
  readonly [field: string]: unknown;
}

/** One prediction as `GET /v1/predictions/{id}` answered it: parsed, and the body verbatim. */
export interface FetchedPrediction {
  readonly prediction: ReplicatePrediction;
  /** The response body as received, for whoever records the payload verbatim. */
  readonly body: string;
}

export interface ReplicateApiClientOptions {
  /** Origin (and optional path prefix) of the API; paths `/v1/...` are appended. @default REPLICATE_API_BASE_URL */
  readonly baseUrl?: string;
  readonly token: string;
  /** For tests that need a failure no server can produce. @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** One request's time limit, body included. @default 10_000 */
  readonly requestTimeoutMs?: number;
  /** Largest response body read. A page of 100 predictions with their inputs is well under this. @default 10 MiB */
  readonly maxBodyBytes?: number;
  /** Backoff for 5xx, network errors, and a 429 without `Retry-After`. @default 500 */
  readonly baseDelayMs?: number;
  /** @default 20_000 */
  readonly maxDelayMs?: number;
  /** Told of each retry before its wait, for logs and metrics. Carries no token. */
  readonly onRetry?: (retry: RetryNotice) => void;
}

export interface RetryNotice {
  readonly method: 'GET';
  /** Path only: no query, no host. */
  readonly path: string;
  /** The HTTP status, or undefined for a network error or timeout. */
  readonly status?: number;
  /** The error's name or code, for a network error or timeout. */
  readonly error?: string;
  readonly attempt: number;
  readonly delayMs: number;
}

export interface CallOptions {
  /** Epoch milliseconds after which no new try starts. @default 30 s from the call */
  readonly deadline?: number;
}

export interface ListOptions {
  /** Predictions created before this are out of the lookback: listing stops at the first page that reaches them. */
  readonly since: Date;
  /** Only predictions created before this (`created_before`), to resume a listing that stopped early. */
  readonly until?: Date;
  /** Epoch milliseconds; no page is requested after it. */
  readonly deadline: number;
  readonly maxPages: number;
  /** Told of each malformed item as it is skipped (also listed in the outcome). */
  readonly onMalformed?: (item: MalformedListItem) => void;
  /** `GET /v1/predictions` or `GET /v1/trainings`: the same paging, the same items' shape. @default CompletionKind.PREDICTION */
  readonly kind?: CompletionKind;
}

/** Each kind's collection in Replicate's API. */
const COLLECTIONS: Readonly<Record<CompletionKind, string>> = {
  [CompletionKind.PREDICTION]: '/v1/predictions',
  [CompletionKind.TRAINING]: '/v1/trainings',
};

/**
 * A list item that is not a prediction the reconciler can decide on (no id, a status that is not
 * a string, no creation time). It is skipped, never the end of the listing: one bad item must
 * not stop the recovery of the others. With a usable `id`, the whole prediction can still be
 * fetched and decided on.
 */
export interface MalformedListItem {
  /** The page (1 for the first) and the item's position in its `results`. */
  readonly page: number;
  readonly index: number;
  readonly reason: MalformedReason;
  /** The item's id, when it has the shape of one. */
  readonly id?: string;
}

export type ListingStop =
  /** Replicate had no further page. */
  | 'end'
  /** A page reached predictions older than `since`: everything newer has been listed. */
  | 'since'
  /** `maxPages` pages were read and more remain. */
  | 'max_pages'
  /** The deadline passed with pages left. */
  | 'deadline';

export interface ListingOutcome {
  readonly stoppedBy: ListingStop;
  /** True when predictions within the lookback may not have been listed (`max_pages`, `deadline`): resume next run. */
  readonly stoppedEarly: boolean;
  readonly pages: number;
  /** Predictions yielded (those created at or after `since`). */
  readonly predictions: number;
  /** Items skipped as malformed, in the order met (their ids, where usable, can be fetched whole). */
  readonly malformed: readonly MalformedListItem[];
  /**
   * `created_at` of the oldest prediction yielded. A run that stopped early can pass it as
   * `until` next time to carry on where this one stopped.
   */
  readonly oldestCreatedAt?: string;
}

/** Predictions newest first; `outcome` is set once the iteration has run to its end. */
export interface PredictionListing extends AsyncIterable<ReplicatePrediction> {
  readonly outcome: ListingOutcome | undefined;
}

/** Any failure to get a usable answer from Replicate's API. */
export class ReplicateApiError extends Error {
  override readonly name: string = 'ReplicateApiError';
  /** The HTTP status, when there was a response. */
  readonly status?: number;
  /** Whether a later try (next run) may succeed: throttling, 5xx, network, deadline. */
  readonly retryable: boolean;
  /** What Replicate's `Retry-After` asked for, when it asked for more time than was left. */
  readonly retryAfterMs?: number;

  constructor(message: string, details: { status?: number; retryable: boolean; retryAfterMs?: number; cause?: unknown }) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.status = details.status;
    this.retryable = details.retryable;
    this.retryAfterMs = details.retryAfterMs;
  }
}

/** 401 or 403: the token is missing, wrong or revoked. Retrying cannot help; an operator must act. */
export class ReplicateAuthError extends ReplicateApiError {
  override readonly name = 'ReplicateAuthError';
}

const DEFAULTS = {
  requestTimeoutMs: 10_000,
  maxBodyBytes: 10 * 1024 * 1024,
  baseDelayMs: 500,
  maxDelayMs: 20_000,
  callBudgetMs: 30_000,
} as const;

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Milliseconds a `Retry-After` value asks for (delta-seconds or an HTTP date), or undefined. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

export class ReplicateApiClient {
  private readonly base: URL;
  private readonly pathPrefix: string;
  private readonly token: string;
  private readonly fetch: typeof fetch;
  private readonly settings: Required<Omit<ReplicateApiClientOptions, 'baseUrl' | 'token' | 'fetch' | 'onRetry'>>;
  private readonly onRetry?: (retry: RetryNotice) => void;

  constructor(options: ReplicateApiClientOptions) {
    if (!options.token) throw new Error('ReplicateApiClient: a token is required');
    const base = new URL(options.baseUrl ?? REPLICATE_API_BASE_URL);
    // The token travels in every request: never in clear text, except to this machine (local mode).
    if (base.protocol !== 'https:' && !(base.protocol === 'http:' && LOOPBACK_HOSTS.has(base.hostname))) {
      throw new Error(`ReplicateApiClient: baseUrl must be https (or http on loopback), got ${base.protocol}//${base.host}`);
    }
    if (base.search || base.hash || base.username || base.password) {
      throw new Error('ReplicateApiClient: baseUrl must be an origin with an optional path, no query, fragment or credentials');
    }
    this.base = base;
    // A URL's path is never empty ('/' at least): keep the prefix apart, without its trailing slash.
    this.pathPrefix = base.pathname.replace(/\/+$/, '');
    this.token = options.token;
    this.fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.settings = {
      requestTimeoutMs: options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
      maxBodyBytes: options.maxBodyBytes ?? DEFAULTS.maxBodyBytes,
      baseDelayMs: options.baseDelayMs ?? DEFAULTS.baseDelayMs,
      maxDelayMs: options.maxDelayMs ?? DEFAULTS.maxDelayMs,
    };
    this.onRetry = options.onRetry;
  }

  /**
   * Recent predictions, newest first, created at or after `since`. Follows each page's `next` link
   * as given (Replicate's cursors are opaque), on `baseUrl`'s origin only.
   */
  listPredictions(options: ListOptions): PredictionListing {
    const since = options.since.getTime();
    if (Number.isNaN(since)) throw new Error('listPredictions: since is not a valid date');
    if (!Number.isInteger(options.maxPages) || options.maxPages < 1)
      throw new Error('listPredictions: maxPages must be a positive integer');
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the listing is a plain object whose own `this` is the listing
    const client = this;
    let outcome: ListingOutcome | undefined;
    return {
      get outcome() {
        return outcome;
      },
      async *[Symbol.asyncIterator]() {
        const first = client.url(COLLECTIONS[options.kind ?? CompletionKind.PREDICTION]);
        // Narrows the listing where Replicate honours it; the `created_at` check below does not rely on it.
        first.searchParams.set('created_after', options.since.toISOString());
        if (options.until) first.searchParams.set('created_before', options.until.toISOString());

        const until = options.until?.getTime() ?? Number.POSITIVE_INFINITY;
        let pageUrl: URL | undefined = first;
        const visited = new Set<string>();
        let pages = 0;
        let predictions = 0;
        let oldestCreatedAt: string | undefined;
        const malformed: MalformedListItem[] = [];
        const finish = (stoppedBy: ListingStop) => {
          outcome = {
            stoppedBy,
            stoppedEarly: stoppedBy === 'max_pages' || stoppedBy === 'deadline',
            pages,
            predictions,
            malformed,
            ...(oldestCreatedAt !== undefined ? { oldestCreatedAt } : {}),
          };
        };

        while (pageUrl) {
          if (pages >= options.maxPages) return finish('max_pages');
          if (Date.now() >= options.deadline) return finish('deadline');
          visited.add(pageUrl.href);
          const { json } = await client.get(pageUrl, options.deadline);
          const page = parsePage(json);
          pages++;
          let reachedSince = false;
          for (const [index, item] of page.results.entries()) {
            if (!item.ok) {
              const { id } = item;
              malformed.push({ page: pages, index, reason: item.reason, ...(id !== undefined ? { id } : {}) });
              options.onMalformed?.(malformed[malformed.length - 1]);
              continue;
            }
            const prediction = item.prediction;
            const createdAt = Date.parse(prediction.created_at);
            if (createdAt < since) {
              // Not `break`: the order is Replicate's promise, not ours to rely on within a page.
              reachedSince = true;
              continue;
            }
            // Where `created_before` is not honoured, newer predictions come first: not this listing's.
            if (createdAt >= until) continue;
            predictions++;
            if (oldestCreatedAt === undefined || Date.parse(prediction.created_at) < Date.parse(oldestCreatedAt)) {
              oldestCreatedAt = prediction.created_at;
            }
            yield prediction;
          }
          if (reachedSince) return finish('since');
          if (page.next === null) return finish('end');
          pageUrl = client.sameOrigin(page.next);
          if (visited.has(pageUrl.href)) {
            throw new ReplicateApiError('Replicate API: a page links back to one already read (pagination loop)', {
              retryable: false,
            });
          }
        }
      },
    };
  }

  /** Recent trainings, newest first: `listPredictions` on `GET /v1/trainings`. */
  listTrainings(options: Omit<ListOptions, 'kind'>): PredictionListing {
    return this.listPredictions({ ...options, kind: CompletionKind.TRAINING });
  }

  /**
   * One prediction whole (`GET /v1/predictions/{id}`), or a training (`GET /v1/trainings/{id}`)
   * with `kind`; undefined when Replicate does not know it (404).
   */
  async getPrediction(
    predictionId: string,
    options: CallOptions = {},
    kind: CompletionKind = CompletionKind.PREDICTION,
  ): Promise<FetchedPrediction | undefined> {
    if (!isPredictionId(predictionId)) throw new Error(`getPrediction: ${JSON.stringify(predictionId)} is not a ${kind} id`);
    const result = await this.get(this.url(`${COLLECTIONS[kind]}/${predictionId}`), this.deadline(options), {
      notFound: 'undefined',
    });
    if (!result) return undefined;
    const prediction = checkedPrediction(result.json, kind);
    if (prediction.id !== predictionId) {
      throw new ReplicateApiError(`Replicate API: asked for ${kind} ${predictionId}, got ${prediction.id}`, {
        retryable: false,
      });
    }
    return { prediction, body: result.text };
  }

  /** One training whole, or undefined when Replicate does not know it (404). */
  async getTraining(trainingId: string, options: CallOptions = {}): Promise<FetchedPrediction | undefined> {
    return this.getPrediction(trainingId, options, CompletionKind.TRAINING);
  }

  /** The account's webhook signing secret (`whsec_…`), as `GET /v1/webhooks/default/secret` returns it. */
  async getWebhookSigningSecret(options: CallOptions = {}): Promise<string> {
    const { json } = await this.get(this.url('/v1/webhooks/default/secret'), this.deadline(options));
    const key = isObject(json) ? json.key : undefined;
    if (typeof key !== 'string' || !/^whsec_[A-Za-z0-9+/=_-]+$/.test(key)) {
      throw new ReplicateApiError('Replicate API: the webhook secret response has no `key` of the form whsec_…', {
        retryable: false,
      });
    }
    return key;
  }

  private deadline(options: CallOptions): number {
    return options.deadline ?? Date.now() + DEFAULTS.callBudgetMs;
  }

  private url(path: string): URL {
    const url = new URL(this.base.origin);
    url.pathname = `${this.pathPrefix}${path}`;
    return url;
  }

  /**
   * A `next` link, refused unless it is on `baseUrl`'s origin. The link comes from a response body
   * and every request carries the account's API token: following a link to another host would hand
   * that token to whoever wrote the link (a compromised or misconfigured proxy, a tampered body), and
   * let a response steer requests from inside our network. Replicate's links are on its own origin.
   */
  private sameOrigin(next: string): URL {
    let url: URL;
    try {
      url = new URL(next);
    } catch {
      throw new ReplicateApiError('Replicate API: the page `next` link is not an absolute URL', { retryable: false });
    }
    if (url.origin !== this.base.origin) {
      throw new ReplicateApiError(
        `Replicate API: refused to follow a \`next\` link to ${url.origin}; only ${this.base.origin} receives the API token`,
        { retryable: false },
      );
    }
    return url;
  }

  /**
   * One GET, retried within the deadline: 429 after its `Retry-After`, 5xx and network errors after
   * the project's backoff. Resolves with the parsed JSON body and its text.
   */
  private async get(url: URL, deadline: number): Promise<{ json: unknown; text: string }>;
  private async get(
    url: URL,
    deadline: number,
    options: { notFound: 'undefined' },
  ): Promise<{ json: unknown; text: string } | undefined>;
  private async get(
    url: URL,
    deadline: number,
    options?: { notFound: 'undefined' },
  ): Promise<{ json: unknown; text: string } | undefined> {
    const path = url.pathname;
    for (let attempt = 1; ; attempt++) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new ReplicateApiError(`Replicate API: GET ${path}: the deadline passed before a try could start`, {
          retryable: true,
        });
      }
      let failure: ReplicateApiError;
      let delayMs: number | undefined;
      let notice: Pick<RetryNotice, 'status' | 'error'>;
      try {
        const response = await this.fetch(url, {
          method: 'GET',
          headers: {
            authorization: `Bearer ${this.token}`,
            accept: 'application/json',
            'user-agent': 'replicate-webhooks-cdk-reconciler',
          },
          // A redirect would be a second, unchecked destination for the token.
          redirect: 'manual',
          signal: AbortSignal.timeout(Math.min(this.settings.requestTimeoutMs, remaining)),
        });
        const { status } = response;
        if (status >= 200 && status < 300) {
          const text = await readCapped(response, this.settings.maxBodyBytes, path);
          return { json: parseJson(text, path), text };
        }
        const detail = await errorDetail(response);
        if (status === 404 && options?.notFound === 'undefined') return undefined;
        if (status === 401 || status === 403) {
          throw new ReplicateAuthError(`Replicate API: GET ${path} answered ${status}${detail}: check the API token`, {
            status,
            retryable: false,
          });
        }
        if (status !== 429 && status < 500) {
          throw new ReplicateApiError(`Replicate API: GET ${path} answered ${status}${detail}`, { status, retryable: false });
        }
        notice = { status };
        const retryAfterMs = status === 429 ? parseRetryAfter(response.headers.get('retry-after')) : undefined;
        failure = new ReplicateApiError(`Replicate API: GET ${path} answered ${status}${detail}`, {
          status,
          retryable: true,
          retryAfterMs,
        });
        if (retryAfterMs !== undefined && retryAfterMs > 0) delayMs = retryAfterMs;
      } catch (error) {
        if (error instanceof ReplicateApiError) throw this.redacted(error);
        // fetch's TypeError (reset, refused, DNS), the timeout's TimeoutError, a body cut short.
        const code = (error as { cause?: { code?: unknown } })?.cause?.code;
        const name = typeof code === 'string' ? code : ((error as Error)?.name ?? 'Error');
        notice = { error: name };
        failure = new ReplicateApiError(`Replicate API: GET ${path} failed (${name})`, { retryable: true, cause: error });
      }
      const delay =
        delayMs ??
        Math.max(this.settings.baseDelayMs, backoffDelay(attempt, this.settings.baseDelayMs, this.settings.maxDelayMs));
      if (Date.now() + delay >= deadline) throw this.redacted(failure);
      this.onRetry?.({ method: 'GET', path, ...notice, attempt, delayMs: delay });
      await sleep(delay);
    }
  }

  /** Belt and braces: no message leaves with the token in it, whatever a server echoed. */
  private redacted(error: ReplicateApiError): ReplicateApiError {
    if (error.message.includes(this.token)) error.message = error.message.split(this.token).join('[redacted]');
    return error;
  }
}

/** The response body, refused past `limit` bytes (a declared length is checked before reading). */
async function readCapped(response: Response, limit: number, path: string): Promise<string> {
  const tooLarge = () =>
    new ReplicateApiError(`Replicate API: GET ${path}: the response body exceeds ${limit} bytes`, {
      status: response.status,
      retryable: false,
    });
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (declared > limit) {
    await response.body?.cancel().catch(() => undefined);
    throw tooLarge();
  }
  if (!response.body) return '';
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(value);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new ReplicateApiError(`Replicate API: GET ${path}: the response body is not UTF-8`, {
      status: response.status,
      retryable: false,
    });
  }
}

function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ReplicateApiError(`Replicate API: GET ${path}: the response body is not JSON`, { retryable: false });
  }
}

/** `: <detail>` from an error body, short and on one line; the body is then discarded. */
async function errorDetail(response: Response): Promise<string> {
  try {
    const text = await readCapped(response, 16 * 1024, '');
    const detail = (JSON.parse(text) as { detail?: unknown }).detail;
    return typeof detail === 'string' ? `: ${detail.replace(/\s+/g, ' ').slice(0, 200)}` : '';
  } catch {
    return '';
  }
}

type ListItem =
  | { readonly ok: true; readonly prediction: ReplicatePrediction }
  | { readonly ok: false; readonly reason: MalformedReason; readonly id?: string };

interface Page {
  readonly next: string | null;
  readonly results: readonly ListItem[];
}

/** A page whose shape is wrong fails as a whole; an item whose shape is wrong is one malformed item. */
function parsePage(json: unknown): Page {
  const malformed = (what: string) =>
    new ReplicateApiError(`Replicate API: malformed prediction list: ${what}`, { retryable: false });
  if (!isObject(json)) throw malformed('the body is not a JSON object');
  if (!Array.isArray(json.results)) throw malformed('`results` is not an array');
  const next = json.next ?? null;
  if (next !== null && typeof next !== 'string') throw malformed('`next` is neither a string nor null');
  return {
    next,
    results: json.results.map((item): ListItem => {
      const reason = malformedReason(item);
      if (!reason) return { ok: true, prediction: item as ReplicatePrediction };
      const id = isObject(item) && typeof item.id === 'string' && isPredictionId(item.id) ? item.id : undefined;
      return { ok: false, reason, ...(id !== undefined ? { id } : {}) };
    }),
  };
}

/** Why an object is not a prediction the reconciler can decide on: a short code, for logs and metrics. */
export type MalformedReason = 'not_an_object' | 'invalid_id' | 'invalid_status' | 'invalid_created_at' | 'invalid_webhook';

const MALFORMED_DETAIL: Readonly<Record<MalformedReason, string>> = {
  not_an_object: 'not a JSON object',
  invalid_id: '`id` is not a prediction id',
  invalid_status: '`status` is not a string',
  invalid_created_at: '`created_at` is not a date-time',
  invalid_webhook: '`webhook` is neither a string nor null',
};

function malformedReason(value: unknown): MalformedReason | undefined {
  if (!isObject(value)) return 'not_an_object';
  if (typeof value.id !== 'string' || !isPredictionId(value.id)) return 'invalid_id';
  if (typeof value.status !== 'string') return 'invalid_status';
  if (typeof value.created_at !== 'string' || Number.isNaN(Date.parse(value.created_at))) return 'invalid_created_at';
  if (value.webhook !== undefined && value.webhook !== null && typeof value.webhook !== 'string') return 'invalid_webhook';
  return undefined;
}

function checkedPrediction(value: unknown, where: string): ReplicatePrediction {
  const reason = malformedReason(value);
  if (reason) throw new ReplicateApiError(`Replicate API: malformed ${where}: ${MALFORMED_DETAIL[reason]}`, { retryable: false });
  return value as ReplicatePrediction;
}
