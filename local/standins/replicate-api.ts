/**
 * A Replicate HTTP API stand-in: the few endpoints the reconciler and the examples call, with
 * bearer auth, cursor pages and fault injection (429 with Retry-After, 5xx, canned answers). No
 * emulator of Replicate's API exists as a package, so this small one serves local mode and the
 * tests. It answers as Replicate's API reference and OpenAPI spec describe:
 *
 * - `GET  /v1/predictions` → `{next, previous, results}`, newest first, 100 a page, absolute
 *   `next`/`previous` links with an opaque `cursor`, `created_after` (inclusive) and
 *   `created_before` (exclusive) filters. List items are the prediction objects without `logs`
 *   (the reference's list example has none, its get example has them).
 * - `GET  /v1/predictions/{id}` → the whole prediction, or 404 `{"detail":"Not found."}`.
 * - `GET  /v1/trainings` and `GET /v1/trainings/{id}`: the same for trainings (the same paging and
 *   filters). A training is a prediction whose `urls` are under `/v1/trainings/` (or that names a
 *   `destination`): `putTraining`, or `putPrediction` with such fields. Each collection has its
 *   own: a training is not at `/v1/predictions/{id}`, nor a prediction at `/v1/trainings/{id}`.
 * - `POST /v1/predictions` (`version` + `input`) and `POST /v1/models/{owner}/{name}/predictions`
 *   (`input`) → 201 and a new prediction in `starting`; it moves only when `putPrediction` says so.
 * - `GET  /v1/webhooks/default/secret` → `{"key": "whsec_..."}`.
 *
 * One route is the stand-in's own, not Replicate's, so another process (the webhook sender) can
 * tell it about predictions: `PUT /_standin/predictions/{id}` with the prediction as JSON (the
 * same bearer token) does what `putPrediction` does and answers 200 with the stored prediction.
 * Faults never apply to it: they play Replicate's failures, not the sender's.
 *
 * Everything is answered from memory; the server holds no timers, so `stop()` leaves nothing behind.
 */
import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CompletionKind, completionKindOf } from '../../lambda/shared/prediction';

/** A prediction as stored and answered: Replicate's field names, any extra field kept as given. */
export type StandInPrediction = Record<string, unknown> & { readonly id: string; readonly created_at: string };

export interface ReplicateApiStandInOptions {
  /** `0` (the default) picks a free port. */
  readonly port?: number;
  /** The API token every request must carry as `Authorization: Bearer <token>`. */
  readonly token: string;
  /** Predictions per list page. @default 100 (Replicate's page size) */
  readonly pageSize?: number;
  /** The account's webhook signing secret. @default a new random `whsec_…` */
  readonly secret?: string;
  /**
   * The host written into absolute URLs (`next`, `previous`, `urls.get`). Another name for the same
   * server (`localhost` for `127.0.0.1`) makes links that lead to a different origin.
   * @default '127.0.0.1'
   */
  readonly advertisedHost?: string;
  /**
   * Fields left out of list items. Replicate's list example has no `logs`; leave out more (say
   * `webhook`) to see how a caller copes with a sparser listing.
   * @default ['logs']
   */
  readonly listOmits?: readonly string[];
  /**
   * Whether `created_after` / `created_before` filter the list. `false` plays an API that ignores
   * them, so a caller must stop on `created_at` itself.
   * @default true
   */
  readonly honourCreatedFilters?: boolean;
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  /** Epoch milliseconds when the request arrived. */
  readonly time: number;
  /** The status it was answered with. */
  readonly status: number;
}

export interface ThrottleFault {
  /** Throttle this many requests (counted from now). */
  readonly requests?: number;
  /** Throttle every request for this long (from now). Give `requests`, `forMs`, or both (whichever ends first). */
  readonly forMs?: number;
  /** The `Retry-After` value in seconds. @default the rest of the window, else 1 */
  readonly retryAfterSeconds?: number;
  /** `http-date` sends the same instant as an HTTP date, as RFC 9110 allows. @default 'seconds' */
  readonly retryAfterAs?: 'seconds' | 'http-date';
  /** Only requests to this exact path (say `/v1/predictions`). @default every path */
  readonly path?: string;
}

export interface FailureFault {
  readonly status?: 500 | 502 | 503 | 504;
  /** How many requests fail. @default every one, until `clear()` (a prediction that can never be fetched) */
  readonly requests?: number;
  readonly path?: string;
}

export interface CannedFault {
  readonly status: number;
  /** Sent verbatim: a malformed page, a foreign `next` link, an oversized body. */
  readonly body: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** @default 1 */
  readonly requests?: number;
  readonly path?: string;
}

export interface ReplicateApiFaults {
  /** Answer 429 with `Retry-After`, as Replicate does past its rate limits. */
  throttle(fault: ThrottleFault): void;
  /** Answer 5xx, as an outage would. */
  fail(fault: FailureFault): void;
  /** Answer with exactly this, whatever was asked. */
  respond(fault: CannedFault): void;
  /** Drop every pending fault. */
  clear(): void;
}

export interface ReplicateApiStandIn {
  /** The base URL to give a client: `http://127.0.0.1:<port>` (paths start with `/v1/`). */
  readonly endpoint: string;
  /** Adds a prediction or replaces it whole (same `id`): missing required fields get defaults. */
  putPrediction(prediction: Record<string, unknown>): StandInPrediction;
  /** Adds a training or replaces it whole: a prediction served under `/v1/trainings` (its `urls` there). */
  putTraining(training: Record<string, unknown>): StandInPrediction;
  /**
   * Removes a prediction's data as Replicate does about an hour after it was created: `output`,
   * `input` and `logs` emptied, `data_removed: true`. Answers with what is left.
   */
  removeData(id: string): StandInPrediction;
  /**
   * Puts an item in the list pages verbatim, at the position of `createdAt` in the newest-first
   * order: a malformed item (no `id`, a status that is not a string) as a broken upstream might
   * list. It is listed only; fetching it by id finds whatever `putPrediction` stored under that id.
   */
  putListItem(item: unknown, createdAt: string): void;
  /** Replaces the account's webhook signing secret, as a rotation at Replicate would. */
  setSecret(key: string): void;
  /** Replaces the API token it accepts: the old one is then refused with 401, as a revoked token is. */
  setToken(token: string): void;
  readonly faults: ReplicateApiFaults;
  /** Every request answered, oldest first. Never the token. */
  readonly requests: readonly RecordedRequest[];
  stop(): Promise<void>;
}

// Replicate's ids are 26 lowercase base-32 characters (`gm3qorzdhgbfurvjtvhg6dckhu`).
const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const newPredictionId = () => Array.from({ length: 26 }, () => ID_ALPHABET[randomInt(ID_ALPHABET.length)]).join('');
const newSecret = () => `whsec_${randomBytes(24).toString('base64')}`;

const WEBHOOK_EVENTS = new Set(['start', 'output', 'logs', 'completed']);
const MAX_REQUEST_BODY_BYTES = 1024 * 1024;
/** The stand-in's own route (not Replicate's): another process registers a prediction. */
export const STANDIN_PREDICTIONS_PATH = '/_standin/predictions/';
const ADMIN_PREDICTION = /^\/_standin\/predictions\/([^/]+)$/;

/**
 * A point in the newest-first order: creation time to the microsecond (Replicate's times carry six
 * fractional digits, more than `Date` keeps), then id, so that equal times still have one order.
 */
interface Position {
  readonly ms: number;
  readonly micros: number;
  readonly id: string;
}

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.(\d+))?)?(Z|[+-]\d{2}:?\d{2})$/i;

/** Milliseconds and the extra microseconds of an ISO 8601 date-time, or undefined. */
function parseDateTime(text: string): { ms: number; micros: number } | undefined {
  const match = ISO_DATE_TIME.exec(text);
  const ms = match ? Date.parse(text) : Number.NaN;
  if (!match || Number.isNaN(ms)) return undefined;
  const fraction = (match[3] ?? '').padEnd(6, '0');
  return { ms, micros: Number(fraction.slice(3, 6)) };
}

/** Sorts newest first: negative when `a` is newer than `b`. */
function compareNewestFirst(a: Position, b: Position): number {
  return b.ms - a.ms || b.micros - a.micros || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

interface Cursor {
  /** The position the page starts after (older than it), or before (newer than it) when `reverse`. */
  readonly position: Position;
  readonly reverse: boolean;
}

// Opaque to callers, as Replicate's are; base64url JSON is enough to be opaque and checkable.
const encodeCursor = (cursor: Cursor) => Buffer.from(JSON.stringify(cursor)).toString('base64url');

function decodeCursor(text: string): Cursor | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Cursor;
    const { position } = parsed;
    if (
      typeof parsed.reverse === 'boolean' &&
      Number.isFinite(position?.ms) &&
      Number.isInteger(position?.micros) &&
      typeof position?.id === 'string'
    ) {
      return { reverse: parsed.reverse, position: { ms: position.ms, micros: position.micros, id: position.id } };
    }
  } catch {
    // falls through: not a cursor of ours
  }
  return undefined;
}

type Fault =
  | { kind: 'throttle'; remaining: number; until: number; retryAfterSeconds?: number; as: 'seconds' | 'http-date'; path?: string }
  | { kind: 'fail'; remaining: number; status: number; path?: string }
  | {
      kind: 'respond';
      remaining: number;
      status: number;
      body: string;
      headers: Readonly<Record<string, string>>;
      path?: string;
    };

interface Reply {
  readonly status: number;
  readonly body: string;
  readonly headers?: Readonly<Record<string, string>>;
}

const json = (status: number, body: unknown, headers?: Record<string, string>): Reply => ({
  status,
  body: JSON.stringify(body),
  headers: { 'content-type': 'application/json', ...headers },
});

// Replicate's error bodies: `detail` always; `title` and `status` on auth and validation errors.
const notFound = () => json(404, { detail: 'Not found.' });
const invalid = (detail: string) => json(422, { title: 'Input validation failed', detail, status: 422 });

export async function startReplicateApi(options: ReplicateApiStandInOptions): Promise<ReplicateApiStandIn> {
  if (!options.token) throw new Error('startReplicateApi: a token is required');
  const pageSize = options.pageSize ?? 100;
  if (!Number.isInteger(pageSize) || pageSize < 1)
    throw new Error(`startReplicateApi: pageSize must be a positive integer, got ${pageSize}`);
  const listing: ListingRules = {
    pageSize,
    listOmits: new Set(options.listOmits ?? ['logs']),
    honourCreatedFilters: options.honourCreatedFilters ?? true,
  };
  const account = new StandInAccount(options.token, options.secret ?? newSecret());
  const faults: Fault[] = [];
  const requests: RecordedRequest[] = [];
  const server = createServer(answerRequests(account, listing, faults, requests));
  const port = await listen(server, options.port ?? 0);
  account.base = `http://${options.advertisedHost ?? '127.0.0.1'}:${port}`;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    putPrediction: (prediction) => account.store(account.withDefaults(prediction)),
    putTraining: (training) => account.store(account.withDefaults(training, CompletionKind.TRAINING)),
    removeData: (id) => account.removeData(id),
    putListItem: (item, createdAt) => account.putListItem(item, createdAt),
    setSecret(key) {
      account.secret = key;
    },
    setToken: (token) => account.setToken(token),
    faults: faultControls(faults),
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// Compared as digests, so the comparison takes the same time whatever the guess.
const digestOf = (authorization: string) => createHash('sha256').update(authorization).digest();

/** The account the stand-in plays: its predictions in newest-first order, items only listed, its secret and token. */
class StandInAccount {
  readonly predictions = new Map<string, StandInPrediction>();
  readonly positions = new Map<string, Position>();
  /** Raw list items, under position ids no prediction id can take. */
  readonly rawItems = new Map<string, unknown>();
  /** The origin written into absolute URLs, once the server listens. */
  base = '';
  private tokenDigest: Buffer;

  constructor(
    token: string,
    public secret: string,
  ) {
    this.tokenDigest = digestOf(`Bearer ${token}`);
  }

  withDefaults(given: Record<string, unknown>, kind: CompletionKind = completionKindOf(given)): StandInPrediction {
    const id = given.id;
    if (typeof id !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/.test(id)) {
      throw new Error(`putPrediction: id must be a prediction id, got ${JSON.stringify(id)}`);
    }
    const createdAt = given.created_at ?? new Date().toISOString();
    if (typeof createdAt !== 'string' || !parseDateTime(createdAt)) {
      throw new Error(`putPrediction: created_at must be an ISO 8601 date-time, got ${JSON.stringify(createdAt)}`);
    }
    return {
      model: 'replicate/hello-world',
      version: 'hidden',
      input: {},
      output: null,
      logs: '',
      error: null,
      status: 'starting',
      data_removed: false,
      source: 'api',
      urls: {
        get: `${this.base}${COLLECTIONS[kind]}/${id}`,
        cancel: `${this.base}${COLLECTIONS[kind]}/${id}/cancel`,
        web: `${this.base}/${kind === CompletionKind.TRAINING ? 't' : 'p'}/${id}`,
      },
      // An explicit `undefined` means "not given", as it would in JSON.
      ...Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined)),
      id,
      created_at: createdAt,
    };
  }

  store(prediction: StandInPrediction): StandInPrediction {
    const time = parseDateTime(prediction.created_at)!;
    this.predictions.set(prediction.id, prediction);
    this.positions.set(prediction.id, { ...time, id: prediction.id });
    return prediction;
  }

  removeData(id: string): StandInPrediction {
    const prediction = this.predictions.get(id);
    if (!prediction) throw new Error(`removeData: no prediction ${id}`);
    return this.store({ ...prediction, input: {}, output: null, logs: null, data_removed: true });
  }

  putListItem(item: unknown, createdAt: string): void {
    const time = parseDateTime(createdAt);
    if (!time) throw new Error(`putListItem: createdAt must be an ISO 8601 date-time, got ${JSON.stringify(createdAt)}`);
    const key = `~raw~${this.rawItems.size}`;
    this.rawItems.set(key, item);
    this.positions.set(key, { ...time, id: key });
  }

  setToken(token: string): void {
    if (!token) throw new Error('setToken: a token is required');
    this.tokenDigest = digestOf(`Bearer ${token}`);
  }

  /** Undefined when the request carries the token; else Replicate's 401. */
  refuseUnauthorised(header: string | undefined): Reply | undefined {
    if (!header) return json(401, { title: 'Unauthenticated', detail: 'You did not pass an authentication token', status: 401 });
    if (!timingSafeEqual(digestOf(header.trim()), this.tokenDigest)) {
      return json(401, { title: 'Unauthenticated', detail: 'You did not pass a valid authentication token', status: 401 });
    }
    return undefined;
  }
}

/** Each kind's collection, as Replicate's API names them. */
const COLLECTIONS: Readonly<Record<CompletionKind, string>> = {
  [CompletionKind.PREDICTION]: '/v1/predictions',
  [CompletionKind.TRAINING]: '/v1/trainings',
};

/** The HTTP side: reads each request, lets a fault, the token check or a route answer it, and records it. */
function answerRequests(
  account: StandInAccount,
  listing: ListingRules,
  faults: Fault[],
  requests: RecordedRequest[],
): (request: IncomingMessage, response: ServerResponse) => void {
  return (request, response) => {
    const time = Date.now();
    const url = new URL(request.url ?? '/', 'http://stand-in');
    const method = request.method ?? 'GET';
    const chunks: Buffer[] = [];
    let size = 0;
    const answer = (reply: Reply) => {
      requests.push({ method, path: url.pathname, query: Object.fromEntries(url.searchParams), time, status: reply.status });
      response.writeHead(reply.status, { 'content-length': Buffer.byteLength(reply.body), ...reply.headers });
      response.end(reply.body);
    };
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_REQUEST_BODY_BYTES) chunks.push(chunk);
    });
    request.on('end', () => {
      if (size > MAX_REQUEST_BODY_BYTES) return answer(json(413, { detail: 'Request body too large.' }));
      // Faults first: a rate limiter or a failing load balancer answers before the application does.
      const reply =
        (ADMIN_PREDICTION.test(url.pathname) ? undefined : takeFault(faults, url.pathname, time)) ??
        account.refuseUnauthorised(request.headers.authorization) ??
        route(account, listing, method, url.pathname, url.searchParams, Buffer.concat(chunks).toString('utf8'));
      answer(reply);
    });
  };
}

/** Listens on loopback; answers the port. */
async function listen(server: Server, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

function route(
  account: StandInAccount,
  listing: ListingRules,
  method: string,
  path: string,
  query: URLSearchParams,
  body: string,
): Reply {
  const allow = (methods: string[], answer: () => Reply) =>
    methods.includes(method) ? answer() : json(405, { detail: `Method "${method}" not allowed.` }, { allow: methods.join(', ') });
  if (path === '/v1/predictions') {
    return allow(['GET', 'POST'], () =>
      method === 'GET' ? listPredictions(account, listing, query) : createPrediction(account, body, undefined),
    );
  }
  if (path === '/v1/trainings') return allow(['GET'], () => listPredictions(account, listing, query, CompletionKind.TRAINING));
  const one = /^\/v1\/(predictions|trainings)\/([^/]+)$/.exec(path);
  if (one) {
    const kind = one[1] === 'trainings' ? CompletionKind.TRAINING : CompletionKind.PREDICTION;
    return allow(['GET'], () => {
      const prediction = account.predictions.get(decodeURIComponent(one[2]));
      return prediction && completionKindOf(prediction) === kind ? json(200, prediction) : notFound();
    });
  }
  const byModel = /^\/v1\/models\/([^/]+)\/([^/]+)\/predictions$/.exec(path);
  if (byModel) return allow(['POST'], () => createPrediction(account, body, `${byModel[1]}/${byModel[2]}`));
  if (path === '/v1/webhooks/default/secret') return allow(['GET'], () => json(200, { key: account.secret }));
  const admin = ADMIN_PREDICTION.exec(path);
  if (admin) return allow(['PUT'], () => adminPutPrediction(account, decodeURIComponent(admin[1]), body));
  return notFound();
}

/** How the list pages are made. */
interface ListingRules {
  readonly pageSize: number;
  readonly listOmits: ReadonlySet<string>;
  readonly honourCreatedFilters: boolean;
}

/** `GET /v1/predictions` (or `/v1/trainings`): one page, newest first, of what the filters leave, and links to the pages either side. */
function listPredictions(
  account: StandInAccount,
  listing: ListingRules,
  query: URLSearchParams,
  kind: CompletionKind = CompletionKind.PREDICTION,
): Reply {
  const bound = (name: string) => {
    const text = query.get(name);
    if (text === null) return undefined;
    const time = parseDateTime(text);
    return time ? { ...time, text } : null;
  };
  const after = bound('created_after');
  const before = bound('created_before');
  if (after === null) return json(400, { detail: 'created_after must be an ISO 8601 date-time.' });
  if (before === null) return json(400, { detail: 'created_before must be an ISO 8601 date-time.' });
  const cursorText = query.get('cursor');
  const cursor = cursorText === null ? undefined : decodeCursor(cursorText);
  // Django REST framework's cursor pagination answers an unreadable cursor so.
  if (cursor === undefined && cursorText !== null) return json(404, { detail: 'Invalid cursor' });

  const atOrAfter = (position: Position, bound: { ms: number; micros: number }) =>
    position.ms > bound.ms || (position.ms === bound.ms && position.micros >= bound.micros);
  // Raw items are listed with the predictions: they stand for what a broken upstream lists there.
  const ofKind = (position: Position) => {
    const stored = account.predictions.get(position.id);
    return (stored ? completionKindOf(stored) : CompletionKind.PREDICTION) === kind;
  };
  const inRange = [...account.positions.values()]
    .filter(ofKind)
    .filter(
      (position) =>
        !listing.honourCreatedFilters || ((!after || atOrAfter(position, after)) && (!before || !atOrAfter(position, before))),
    )
    .sort(compareNewestFirst);
  const page = pageOf(inRange, cursor, listing.pageSize);
  const listItem = (prediction: StandInPrediction) =>
    Object.fromEntries(Object.entries(prediction).filter(([field]) => !listing.listOmits.has(field)));
  return json(200, {
    ...pageLinks(account.base, COLLECTIONS[kind], query, inRange, page),
    results: page.map((position) =>
      account.rawItems.has(position.id) ? account.rawItems.get(position.id) : listItem(account.predictions.get(position.id)!),
    ),
  });
}

/** The page a cursor points at in `inRange` (newest first): the first page without one. */
function pageOf(inRange: readonly Position[], cursor: Cursor | undefined, pageSize: number): Position[] {
  if (!cursor) return inRange.slice(0, pageSize);
  if (!cursor.reverse) return inRange.filter((position) => compareNewestFirst(position, cursor.position) > 0).slice(0, pageSize);
  return inRange.filter((position) => compareNewestFirst(position, cursor.position) < 0).slice(-pageSize);
}

/** A page's `next` (older) and `previous` (newer) links: the same query with another cursor, or null at either end. */
function pageLinks(
  base: string,
  collection: string,
  query: URLSearchParams,
  inRange: readonly Position[],
  page: readonly Position[],
): { next: string | null; previous: string | null } {
  const link = (next: Cursor) => {
    const url = new URL(collection, base);
    for (const [name, value] of query) if (name !== 'cursor') url.searchParams.append(name, value);
    url.searchParams.set('cursor', encodeCursor(next));
    return url.toString();
  };
  const first = page[0];
  const last = page[page.length - 1];
  const hasOlder = last !== undefined && compareNewestFirst(inRange[inRange.length - 1], last) > 0;
  const hasNewer = first !== undefined && compareNewestFirst(inRange[0], first) < 0;
  return {
    next: hasOlder ? link({ position: last, reverse: false }) : null,
    previous: hasNewer ? link({ position: first, reverse: true }) : null,
  };
}

/** `POST /v1/predictions` (or a model's): a new prediction in `starting`, answered 201. */
function createPrediction(account: StandInAccount, body: string, model: string | undefined): Reply {
  const read = readPredictionRequest(body, model);
  if ('refused' in read) return read.refused;
  const { modelName, version, input, webhook, filter } = read.request;
  const prediction = account.store(
    account.withDefaults({
      id: newPredictionId(),
      model: modelName,
      version,
      input,
      created_at: new Date().toISOString(),
      ...(webhook !== undefined ? { webhook } : {}),
      ...(filter !== undefined ? { webhook_events_filter: filter } : {}),
    }),
  );
  return json(201, prediction);
}

/** What a create request asks for, once it has passed the checks Replicate makes. */
interface PredictionRequest {
  readonly modelName: string | undefined;
  readonly version: string;
  readonly input: object;
  readonly webhook: string | undefined;
  readonly filter: unknown[] | undefined;
}

/** The request's fields, or Replicate's 422 for what it cannot take. */
function readPredictionRequest(body: string, model: string | undefined): { refused: Reply } | { request: PredictionRequest } {
  const refuse = (detail: string) => ({ refused: invalid(detail) });
  let request: unknown;
  try {
    request = JSON.parse(body);
  } catch {
    return refuse('The request body is not valid JSON.');
  }
  if (typeof request !== 'object' || request === null || Array.isArray(request))
    return refuse('The request body must be a JSON object.');
  const fields = request as Record<string, unknown>;
  const input = fields.input;
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    return refuse('input is required and must be an object.');
  let modelName = model;
  let version = 'hidden';
  if (model === undefined) {
    // `version` is `{owner}/{name}` (official models), `{owner}/{name}:{id}`, or a bare version id.
    if (typeof fields.version !== 'string' || fields.version === '') return refuse('version is required.');
    const separator = fields.version.indexOf(':');
    if (separator >= 0) {
      modelName = fields.version.slice(0, separator);
      version = fields.version.slice(separator + 1);
    } else if (fields.version.includes('/')) {
      modelName = fields.version;
    } else {
      version = fields.version;
    }
  }
  const webhook = fields.webhook;
  if (webhook !== undefined) {
    if (typeof webhook !== 'string' || !URL.canParse(webhook)) return refuse('webhook must be a URL.');
  }
  const filter = fields.webhook_events_filter;
  if (filter !== undefined) {
    if (!Array.isArray(filter) || !filter.every((event) => typeof event === 'string' && WEBHOOK_EVENTS.has(event))) {
      return refuse('webhook_events_filter must list events among start, output, logs, completed.');
    }
  }
  return { request: { modelName, version, input, webhook, filter } };
}

/** The stand-in's own `PUT /_standin/predictions/{id}`: what `putPrediction` does, for another process. */
function adminPutPrediction(account: StandInAccount, id: string, body: string): Reply {
  let given: unknown;
  try {
    given = JSON.parse(body);
  } catch {
    return json(400, { detail: 'The request body is not valid JSON.' });
  }
  if (typeof given !== 'object' || given === null || Array.isArray(given))
    return json(400, { detail: 'The request body must be a JSON object.' });
  const fields = given as Record<string, unknown>;
  if (fields.id !== undefined && fields.id !== id) return json(400, { detail: "The body's id differs from the path's." });
  try {
    return json(200, account.store(account.withDefaults({ ...fields, id })));
  } catch (error) {
    return json(400, { detail: (error as Error).message });
  }
}

/** The fault that answers this request, if any; each answered request uses one up. */
function takeFault(faults: Fault[], path: string, now: number): Reply | undefined {
  for (let index = 0; index < faults.length; index++) {
    const fault = faults[index];
    const expired = fault.remaining <= 0 || (fault.kind === 'throttle' && now >= fault.until);
    if (expired) {
      faults.splice(index--, 1);
      continue;
    }
    if (fault.path !== undefined && fault.path !== path) continue;
    fault.remaining--;
    switch (fault.kind) {
      case 'throttle': {
        const windowLeft = Number.isFinite(fault.until) ? Math.ceil((fault.until - now) / 1000) : 1;
        const seconds = fault.retryAfterSeconds ?? Math.max(1, windowLeft);
        const retryAfter = fault.as === 'http-date' ? new Date(now + seconds * 1000).toUTCString() : String(seconds);
        return json(
          429,
          { detail: `Request was throttled. Your rate limit resets in ~${seconds}s.` },
          { 'retry-after': retryAfter },
        );
      }
      case 'fail':
        return json(fault.status, { detail: 'Internal server error', status: fault.status });
      case 'respond':
        return { status: fault.status, body: fault.body, headers: fault.headers };
    }
  }
  return undefined;
}

/** `faults` as the stand-in's callers set them. */
function faultControls(faults: Fault[]): ReplicateApiFaults {
  const count = (value: number | undefined, name: string) => {
    if (value !== undefined && (!Number.isInteger(value) || value < 1)) throw new Error(`${name} must be a positive integer`);
    return value;
  };
  return {
    throttle(fault) {
      const requests = count(fault.requests, 'throttle.requests');
      if (requests === undefined && fault.forMs === undefined) throw new Error('throttle needs requests, forMs, or both');
      faults.push({
        kind: 'throttle',
        remaining: requests ?? Number.POSITIVE_INFINITY,
        until: fault.forMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + fault.forMs,
        retryAfterSeconds: fault.retryAfterSeconds,
        as: fault.retryAfterAs ?? 'seconds',
        path: fault.path,
      });
    },
    fail(fault) {
      faults.push({
        kind: 'fail',
        remaining: count(fault.requests, 'fail.requests') ?? Number.POSITIVE_INFINITY,
        status: fault.status ?? 500,
        path: fault.path,
      });
    },
    respond(fault) {
      faults.push({
        kind: 'respond',
        remaining: count(fault.requests, 'respond.requests') ?? 1,
        status: fault.status,
        body: fault.body,
        headers: { 'content-type': 'application/json', ...fault.headers },
        path: fault.path,
      });
    },
    clear() {
      faults.length = 0;
    },
  };
}
