/**
 * What one webhook and one archival cost in billed requests, measured rather than assumed: local
 * mode (the shipped handler bundles on DynamoDB Local and fauxqs) with a counting proxy in front
 * of each, every DynamoDB request asking for its consumed capacity. Each kind of webhook is sent
 * alone and waited for, so the requests between two answers are that webhook's; an archival is
 * what happens between the terminal webhook's answer and the prediction being announced.
 *
 * Two things DynamoDB Local does not report faithfully are computed from DynamoDB's published
 * rules, from the sizes of the items involved: a TransactWriteItems is billed 2 WRU per KB of each
 * item, the larger of before and after (Local's figures for transactions follow no rule we could
 * find, and are printed beside ours), and a refused conditional write, for which Local reports
 * nothing, is billed like a write of the item it refused (its size comes back with the refusal).
 */
import { DynamoDBClient, GetItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DETAILED_METRICS_ENV, isAlarmedSeries, REASON_DIMENSION } from '../lambda/shared/metrics';
import { ATTR, predictionItemKey } from '../lambda/shared/state';
import { startLocalPipeline, type LocalPipeline } from '../local/pipeline';
import { freePort } from '../local/aws/standins/dynamodb-local';
import { startOutputServer, type OutputServer } from '../cli/output-server';
import { buildScenario, generateWebhookId, seededRandom, type Delivery } from '../cli/scenarios';
import { sendDelivery } from '../cli/send';
import { startCountingProxy, type CountingProxy, type Exchange } from './counting-proxy';
import { table } from './stats';

/** Requests and units one step cost. */
export interface StepCost {
  /** DynamoDB write units as billed: measured, with the two corrections above. */
  readonly wru: number;
  /** Of which on the archive-pending index. */
  readonly indexWru: number;
  /** Units DynamoDB Local reported, uncorrected (0 for a refused write). */
  readonly reportedUnits: number;
  /** DynamoDB read units (the archiver's claim returns the item at no read cost; a GetItem costs). */
  readonly rru: number;
  /** DynamoDB operations, e.g. `UpdateItem ×2`. */
  readonly dynamodb: Record<string, number>;
  readonly s3: Record<string, number>;
  readonly sns: Record<string, number>;
  /** Bytes the handlers wrote to their logs (Powertools' lines and embedded metrics), as Lambda would ship them. */
  readonly logBytes: number;
  /** Of which Powertools' log lines (INFO and above). */
  readonly lineBytes: number;
  /** What the embedded metrics would be with only the alarms' series (`detailedMetrics` off). */
  readonly alarmedMetricBytes: number;
}

export interface WebhookKindCost extends StepCost {
  readonly kind: string;
  readonly outcome: string;
  readonly bodyBytes: number;
  /** The prediction item's size after it. */
  readonly itemBytes: number;
  /** A terminal payload kept in the table: its item's size, and the payload's as stored (Brotli-compressed). */
  readonly payloadItem?: { readonly itemBytes: number; readonly storedBytes: number };
}

export interface WriteUnitsResult {
  readonly webhooks: WebhookKindCost[];
  /** One archival of a prediction with an inline terminal payload (2 output files). */
  readonly archival: StepCost & { readonly outputFiles: number };
  /** The same with a spilled terminal payload. */
  readonly archivalSpilled: StepCost & { readonly outputFiles: number };
}

const KB = 1024;
/** `<stack>-<logical id>-<suffix>`, as CloudFormation names a function, at its 64-character maximum. */
const DEPLOYED_NAME = (logicalId: string) =>
  `ReplicateWebhooksStack-${logicalId}4C5A1F7E-A1b2C3d4E5f6G7h8`.padEnd(64, 'x').slice(0, 64);

/** DynamoDB's item size: attribute names and values in UTF-8, numbers by significant digits. */
export function itemSize(item: Record<string, AttributeValue>): number {
  return Object.entries(item).reduce((sum, [name, value]) => sum + Buffer.byteLength(name) + valueSize(value), 0);
}

function valueSize(value: AttributeValue): number {
  if (value.S !== undefined) return Buffer.byteLength(value.S);
  if (value.N !== undefined) {
    const digits = value.N.replace(/^[-+]?0*|\.|e.*$/gi, '').replace(/0+$/, '').length;
    return Math.ceil(digits / 2) + 1;
  }
  if (value.B !== undefined) return Buffer.from(value.B as unknown as string, 'base64').length;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.SS !== undefined) return value.SS.reduce((sum, entry) => sum + Buffer.byteLength(entry), 0);
  if (value.NS !== undefined) return value.NS.reduce((sum, entry) => sum + valueSize({ N: entry }), 0);
  if (value.L !== undefined) return 3 + value.L.reduce((sum, entry) => sum + 1 + valueSize(entry), 0);
  if (value.M !== undefined) return 3 + itemSize(value.M) + Object.keys(value.M).length;
  return 0;
}

const writeUnits = (bytes: number) => Math.max(1, Math.ceil(bytes / KB));

interface Capacity {
  readonly CapacityUnits?: number;
  readonly Table?: { readonly CapacityUnits?: number };
  readonly GlobalSecondaryIndexes?: Record<string, { readonly CapacityUnits?: number }>;
}

const WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'TransactWriteItems', 'BatchWriteItem']);

/** Sizes of the prediction item before and after a step, for what Local does not report. */
export interface ItemSizes {
  readonly before: number;
  readonly after: number;
}

/** The cost of a run of exchanges: DynamoDB's, then the fauxqs services' by operation. */
export function costOf(
  dynamodb: readonly Exchange[],
  fauxqs: readonly Exchange[],
  sizes?: ItemSizes,
  { logBytes, lineBytes, alarmedMetricBytes }: LogBytes = { logBytes: 0, lineBytes: 0, alarmedMetricBytes: 0 },
): StepCost {
  let wru = 0;
  let indexWru = 0;
  let reportedUnits = 0;
  let rru = 0;
  const operations: Record<string, number> = {};
  const count = (record: Record<string, number>, key: string) => (record[key] = (record[key] ?? 0) + 1);
  for (const exchange of dynamodb) {
    const operation = exchange.target.split('.')[1] ?? exchange.target;
    if (exchange.target.startsWith('DynamoDBStreams')) continue;
    const body = JSON.parse(exchange.responseBody.toString('utf8') || '{}') as {
      ConsumedCapacity?: Capacity | Capacity[];
      Item?: Record<string, AttributeValue>;
      CancellationReasons?: Array<{ Code?: string; Item?: Record<string, AttributeValue> }>;
      __type?: string;
    };
    const refused = exchange.status !== 200;
    count(operations, refused ? `${operation} (refused)` : operation);
    if (!WRITES.has(operation)) {
      for (const capacity of [body.ConsumedCapacity ?? []].flat()) rru += capacity.CapacityUnits ?? 0;
      continue;
    }
    const transaction = operation === 'TransactWriteItems';
    if (!refused) {
      for (const capacity of [body.ConsumedCapacity ?? []].flat()) {
        reportedUnits += capacity.CapacityUnits ?? 0;
        const indexes = Object.values(capacity.GlobalSecondaryIndexes ?? {}).filter((entry) => (entry.CapacityUnits ?? 0) > 0);
        // An index entry here is a few keys, under 1 KB: 1 WRU, 2 in a transaction.
        const index = transaction ? 2 * indexes.length : indexes.reduce((sum, entry) => sum + (entry.CapacityUnits ?? 0), 0);
        indexWru += index;
        wru += transaction ? index : (capacity.CapacityUnits ?? 0);
      }
    }
    if (transaction) {
      // Billed 2 WRU per KB of each item it writes (or would have written): the marker it puts and
      // the prediction item it updates, at the larger of its sizes before and after.
      const request = JSON.parse(exchange.requestBody.toString('utf8')) as {
        TransactItems: Array<{ Put?: { Item: Record<string, AttributeValue> }; Update?: unknown }>;
      };
      for (const action of request.TransactItems) {
        const bytes = action.Put ? itemSize(action.Put.Item) : Math.max(sizes?.before ?? 0, refused ? 0 : (sizes?.after ?? 0));
        wru += 2 * writeUnits(bytes);
      }
    } else if (refused && body.__type?.endsWith('ConditionalCheckFailedException')) {
      wru += writeUnits(body.Item ? itemSize(body.Item) : 0);
    }
  }
  const s3: Record<string, number> = {};
  const sns: Record<string, number> = {};
  for (const exchange of fauxqs) {
    if (exchange.host.includes('s3.localhost')) count(s3, s3Operation(exchange));
    else if (!exchange.host.startsWith('sqs.')) {
      const action = /(?:^|&)Action=([A-Za-z]+)/.exec(exchange.requestBody.toString('utf8'))?.[1];
      count(sns, action ?? exchange.target);
    }
  }
  return { wru, indexWru, reportedUnits, rru, dynamodb: operations, s3, sns, logBytes, lineBytes, alarmedMetricBytes };
}

/**
 * Counts (and keeps off the terminal) what the handlers log: one JSON object per line, a
 * Powertools log line (`level`) or an embedded-metrics document (`_aws`). Everything else passes.
 */
export interface LogBytes {
  /** Everything: log lines and embedded metrics. */
  readonly logBytes: number;
  /** Powertools' log lines. */
  readonly lineBytes: number;
  /** The embedded-metric documents cut down to the alarms' series (`ALARMED_SERIES`), as the handlers print them without detailed metrics. */
  readonly alarmedMetricBytes: number;
}

export interface LogTap extends LogBytes {
  /** The same as logBytes. */
  readonly bytes: number;
  stop(): void;
}

/**
 * The bytes of an embedded-metric document with only the alarms' series left: the metrics and
 * their values an alarmed-only handler would not print removed, nothing when none is left.
 */
export function alarmedMetricDocumentBytes(document: string): number {
  const emf = JSON.parse(document) as Record<string, unknown> & {
    _aws: { CloudWatchMetrics: Array<{ Dimensions: string[][]; Metrics: Array<{ Name: string }> }> };
  };
  const reason = emf[REASON_DIMENSION] as string | undefined;
  const dropped = new Set<string>();
  const groups = (emf._aws.CloudWatchMetrics ?? [])
    .map((group) => {
      const byReason = group.Dimensions.flat().includes(REASON_DIMENSION);
      const kept = group.Metrics.filter((metric) => isAlarmedSeries(metric.Name, byReason ? reason : undefined));
      for (const metric of group.Metrics) if (!kept.includes(metric)) dropped.add(metric.Name);
      return { ...group, Metrics: kept };
    })
    .filter((group) => group.Metrics.length > 0);
  if (groups.length === 0) return 0;
  const reduced: Record<string, unknown> = { ...emf, _aws: { ...emf._aws, CloudWatchMetrics: groups } };
  for (const name of dropped) delete reduced[name];
  return Buffer.byteLength(JSON.stringify(reduced));
}

export function tapHandlerLogs(stream: NodeJS.WriteStream = process.stdout): LogTap {
  const write = stream.write.bind(stream);
  let bytes = 0;
  let lineBytes = 0;
  let alarmedMetricBytes = 0;
  stream.write = (chunk: string | Uint8Array, ...rest: unknown[]) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    if (/^\{[\s\S]*("level"|"_aws")[\s\S]*\}\n?$/.test(text)) {
      const document = text.replace(/\n$/, '');
      bytes += Buffer.byteLength(document);
      if (/^\{"_aws"/.test(document)) alarmedMetricBytes += alarmedMetricDocumentBytes(document);
      else lineBytes += Buffer.byteLength(document);
      const callback = rest.find((arg) => typeof arg === 'function') as (() => void) | undefined;
      callback?.();
      return true;
    }
    return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
  };
  return {
    get bytes() {
      return bytes;
    },
    get logBytes() {
      return bytes;
    },
    get lineBytes() {
      return lineBytes;
    },
    get alarmedMetricBytes() {
      return alarmedMetricBytes;
    },
    stop: () => void (stream.write = write),
  };
}

function s3Operation(exchange: Exchange): string {
  const query = new URL(exchange.url, 'http://x').searchParams;
  if (exchange.method === 'PUT') return query.has('partNumber') ? 'UploadPart' : 'PutObject';
  if (exchange.method === 'POST') return query.has('uploads') ? 'CreateMultipartUpload' : 'CompleteMultipartUpload';
  if (exchange.method === 'GET') return query.has('list-type') ? 'ListObjectsV2' : 'GetObject';
  if (exchange.method === 'HEAD') return 'HeadObject';
  return `${exchange.method}`;
}

const render = (operations: Record<string, number>) =>
  Object.entries(operations)
    .map(([name, times]) => (times === 1 ? name : `${name} ×${times}`))
    .join(', ') || '–';

/** What the cost estimate reads: the figures it prices, by kind. */
export interface MeasuredUnits {
  readonly command: string;
  readonly webhooks: Record<
    string,
    {
      readonly wru: number;
      readonly bodyBytes: number;
      readonly itemBytes: number;
      readonly answer: string;
      /** What the verifier logged for it: its log line and its embedded metrics (every metric, INFO). */
      readonly logBytes: number;
      /** Of which its log line. */
      readonly lineBytes: number;
      /** Its embedded metrics without `detailedMetrics`: only the alarms' series. */
      readonly alarmedMetricBytes: number;
      /** A terminal payload kept in the table: its own item's size. */
      readonly payloadItemBytes?: number;
      /** Of which the payload as stored, Brotli-compressed: what the inline limit is compared with. */
      readonly storedPayloadBytes?: number;
    }
  >;
  readonly archival: Record<
    'inline' | 'spilled',
    {
      readonly wru: number;
      /** Read units: the payload's own item, read once. */
      readonly rru: number;
      readonly outputFiles: number;
      readonly dynamodbWrites: number;
      readonly s3Puts: number;
      readonly s3Gets: number;
      readonly snsPublishes: number;
      /** What the archiver logged for it (every metric, INFO). */
      readonly logBytes: number;
      readonly lineBytes: number;
      readonly alarmedMetricBytes: number;
    }
  >;
}

export const MEASURED_UNITS_FILE = join(__dirname, '..', 'docs', 'measured-units.json');

const KINDS: Record<string, string> = {
  start: 'start',
  'intermediate, small logs': 'intermediate',
  'intermediate, 100 KB logs': 'intermediateLargeLogs',
  'duplicate of the latest': 'duplicate',
  'stale (an older webhook, new id)': 'stale',
  'old duplicate (an earlier one again)': 'oldDuplicate',
  'terminal, inline payload': 'terminalInline',
  'duplicate of the terminal': 'terminalDuplicate',
  'after terminal (new id)': 'afterTerminal',
  'terminal, spilled payload (> 16 KiB compressed)': 'terminalSpilled',
};

export function measuredUnits({ webhooks, archival, archivalSpilled }: WriteUnitsResult): MeasuredUnits {
  const sum = (operations: Record<string, number>, names: readonly string[]) =>
    names.reduce((total, name) => total + (operations[name] ?? 0), 0);
  const of = (cost: WriteUnitsResult['archival']) => ({
    wru: cost.wru,
    rru: cost.rru,
    outputFiles: cost.outputFiles,
    dynamodbWrites: sum(cost.dynamodb, ['UpdateItem', 'PutItem', 'TransactWriteItems', 'DeleteItem']),
    s3Puts: sum(cost.s3, ['PutObject', 'UploadPart', 'CreateMultipartUpload', 'CompleteMultipartUpload']),
    s3Gets: sum(cost.s3, ['GetObject', 'HeadObject']),
    snsPublishes: sum(cost.sns, ['Publish']),
    logBytes: cost.logBytes,
    lineBytes: cost.lineBytes,
    alarmedMetricBytes: cost.alarmedMetricBytes,
  });
  return {
    command: 'npm run bench -- units',
    webhooks: Object.fromEntries(
      webhooks.map((webhook) => [
        KINDS[webhook.kind] ?? webhook.kind,
        {
          wru: webhook.wru,
          bodyBytes: webhook.bodyBytes,
          itemBytes: webhook.itemBytes,
          answer: webhook.outcome,
          logBytes: webhook.logBytes,
          lineBytes: webhook.lineBytes,
          alarmedMetricBytes: webhook.alarmedMetricBytes,
          ...(webhook.payloadItem
            ? { payloadItemBytes: webhook.payloadItem.itemBytes, storedPayloadBytes: webhook.payloadItem.storedBytes }
            : {}),
        },
      ]),
    ),
    archival: { inline: of(archival), spilled: of(archivalSpilled) },
  };
}

/** tqdm's lines for a run of `steps` steps, at a rate that varies as a real run's does. */
export function tqdmLines(steps: number, random: () => number): string {
  const clock = (seconds: number) =>
    `${String(Math.floor(Math.round(seconds) / 60)).padStart(2, '0')}:${String(Math.round(seconds) % 60).padStart(2, '0')}`;
  let elapsed = 0;
  let lines = '';
  for (let done = 0; done <= steps; done++) {
    const rate = 3.5 + random() * 1.5;
    if (done > 0) elapsed += 1 / rate;
    const fraction = done / steps;
    const timing =
      done === 0 ? '00:00<?, ?it/s' : `${clock(elapsed)}<${clock((steps - done) / rate)}, ${rate.toFixed(2).padStart(5)}it/s`;
    lines += `${String(Math.floor(fraction * 100)).padStart(3)}%|${'#'.repeat(Math.floor(fraction * 10)).padEnd(10)}| ${done}/${steps} [${timing}]\n`;
  }
  return lines;
}

/** The delivery with `padding` appended to its logs, cut (or filled with spaces) so that its body is exactly `bytes` long. */
export function paddedTo(delivery: Delivery, bytes: number, padding: string): Delivery {
  const parsed = JSON.parse(delivery.body) as { logs?: string };
  const body = (extra: string) => JSON.stringify({ ...parsed, logs: `${parsed.logs ?? ''}${extra}` });
  let extra = padding;
  while (extra.length > 0 && Buffer.byteLength(body(extra)) > bytes) extra = extra.slice(0, -1);
  extra += ' '.repeat(Math.max(0, bytes - Buffer.byteLength(body(extra))));
  if (Buffer.byteLength(body(extra)) !== bytes) throw new Error(`cannot pad the body to ${bytes} bytes`);
  return { ...delivery, body: body(extra) };
}

export async function benchWriteUnits(): Promise<WriteUnitsResult> {
  let dynamodbProxy: CountingProxy | undefined;
  let fauxqsProxy: CountingProxy | undefined;
  let files: OutputServer | undefined;
  let pipeline: LocalPipeline | undefined;
  let logs: LogTap | undefined;
  try {
    files = await startOutputServer({ port: 0 });
    const filesHost = new URL(files.origin).host;
    pipeline = await startLocalPipeline({
      port: await freePort(),
      extraOutputHosts: [filesHost],
      reconciler: { intervalSeconds: 0 },
      // The default construct announces on its topic only (an event bus adds a write per archival).
      eventBus: false,
      // Everything a handler can log: INFO, and every metric (they are log lines too). The estimate
      // keeps what the template's settings keep: sampled lines, the alarms' series alone.
      handlerEnvironment: { POWERTOOLS_LOG_LEVEL: 'INFO', POWERTOOLS_METRICS_DISABLED: 'false', [DETAILED_METRICS_ENV]: 'true' },
      // Each log line carries the function's name and ARN: CloudFormation's longest (64 characters), an upper bound.
      functionNames: { verifier: DEPLOYED_NAME('HooksVerifier'), archiver: DEPLOYED_NAME('HooksArchiver') },
      onNotification: () => undefined,
      onEvent: () => undefined,
      onError: () => undefined,
      routeHandlerTraffic: async (endpoints) => {
        dynamodbProxy = await startCountingProxy(Number(new URL(endpoints.dynamodb).port), { askCapacity: true });
        fauxqsProxy = await startCountingProxy(Number(new URL(endpoints.sns).port));
        return {
          ...endpoints,
          dynamodb: `http://127.0.0.1:${dynamodbProxy.port}`,
          s3: `http://s3.localhost:${fauxqsProxy.port}`,
          sns: `http://127.0.0.1:${fauxqsProxy.port}`,
        };
      },
    });
    const { info } = pipeline;
    const direct = new DynamoDBClient({
      region: info.region,
      endpoint: info.endpoints.dynamodb,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const ddb = dynamodbProxy!;
    const fq = fauxqsProxy!;
    const tap = (logs = tapHandlerLogs());
    const logBytesNow = (): LogBytes => ({
      logBytes: tap.logBytes,
      lineBytes: tap.lineBytes,
      alarmedMetricBytes: tap.alarmedMetricBytes,
    });
    const mark = () => ({ dynamodb: ddb.exchanges.length, fauxqs: fq.exchanges.length, logs: logBytesNow() });
    const since = (from: ReturnType<typeof mark>, sizes?: ItemSizes) =>
      costOf(ddb.exchanges.slice(from.dynamodb), fq.exchanges.slice(from.fauxqs), sizes, {
        logBytes: tap.logBytes - from.logs.logBytes,
        lineBytes: tap.lineBytes - from.logs.lineBytes,
        alarmedMetricBytes: tap.alarmedMetricBytes - from.logs.alarmedMetricBytes,
      });

    const webhooks: WebhookKindCost[] = [];
    const read = async (key: string) =>
      (await direct.send(new GetItemCommand({ TableName: info.tableName, Key: { pk: { S: key } }, ConsistentRead: true }))).Item;
    const itemBytes = async (predictionId: string) => {
      const item = await read(predictionItemKey(predictionId));
      return item ? itemSize(item) : 0;
    };
    /** The terminal payload's own item, when the record points at one. */
    const payloadItem = async (predictionId: string) => {
      const key = (await read(predictionItemKey(predictionId)))?.[ATTR.payloadItem]?.S;
      const item = key === undefined ? undefined : await read(key);
      if (item === undefined) return undefined;
      const stored = item[ATTR.payloadBr]?.B ?? Buffer.from(item[ATTR.payload]?.S ?? '');
      return { itemBytes: itemSize(item), storedBytes: stored.length };
    };
    const send = async (kind: string, delivery: Delivery, timestamp: number) => {
      const predictionId = (JSON.parse(delivery.body) as { id: string }).id;
      const before = await itemBytes(predictionId);
      const from = mark();
      const result = await sendDelivery(info.webhookUrl, info.secret, delivery, { timestamp });
      const outcome =
        (JSON.parse(result.body) as { outcome?: string; error?: string }).outcome ?? `${result.status} ${result.body}`;
      const sizes = { before, after: await itemBytes(predictionId) };
      const cost = since(from, sizes);
      const payload = outcome === 'accepted' ? await payloadItem(predictionId) : undefined;
      webhooks.push({
        kind,
        outcome,
        bodyBytes: Buffer.byteLength(delivery.body),
        itemBytes: sizes.after,
        ...(payload ? { payloadItem: payload } : {}),
        ...cost,
      });
    };
    const announced = async (predictionId: string) => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const { Item } = await direct.send(
          new GetItemCommand({
            TableName: info.tableName,
            Key: { pk: { S: predictionItemKey(predictionId) } },
            ConsistentRead: true,
          }),
        );
        if (Item?.notifiedAt) break;
        if (Date.now() > deadline) throw new Error(`${predictionId} not announced within 60 s`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      // The queue's delete follows the announcement; let the last requests land.
      await new Promise((resolve) => setTimeout(resolve, 500));
    };

    // One image prediction: start, progress, then the terminal webhook with its two PNGs.
    const scenario = buildScenario('image', { fileBaseUrl: files.origin });
    files.add(scenario.files);
    const byEvent = (event: string) => scenario.deliveries.filter((delivery) => delivery.event === event);
    const [start] = byEvent('start');
    const progress = scenario.deliveries.filter((delivery) => delivery.status === 'processing');
    const [terminal] = byEvent('completed');
    const base = Math.floor(Date.now() / 1000) - 60;
    const withLogs = (delivery: Delivery, logs: string): Delivery => ({
      ...delivery,
      webhookId: generateWebhookId(),
      body: JSON.stringify({ ...(JSON.parse(delivery.body) as object), logs }),
    });
    const bigLogs = `${'0123456789abcdef'.repeat(63)}\n`.repeat(100).slice(0, 100 * KB);
    const smallProgress = progress[0];
    const largeProgress = withLogs(progress.at(-1)!, bigLogs);
    // The terminal payload padded to 3 KiB with more of its logs (a longer diffusion run's tqdm
    // lines): the cost model's inline payload, compressing as such logs do (about 3.5×), not as a
    // run of one character would.
    const inlineTerminal = paddedTo(terminal, 3 * KB, tqdmLines(50, seededRandom(31)));
    await send('start', start, base);
    await send('intermediate, small logs', smallProgress, base + 1);
    await send('intermediate, 100 KB logs', largeProgress, base + 3);
    await send('duplicate of the latest', largeProgress, base + 3);
    await send('stale (an older webhook, new id)', { ...smallProgress, webhookId: generateWebhookId() }, base + 2);
    await send('old duplicate (an earlier one again)', smallProgress, base + 1);
    await send('terminal, inline payload', inlineTerminal, base + 5);
    const afterTerminal = mark();
    await announced(scenario.predictionId);
    const archival = { ...since(afterTerminal), outputFiles: scenario.files.length };
    await send('duplicate of the terminal', inlineTerminal, base + 5);
    await send('after terminal (new id)', { ...smallProgress, webhookId: generateWebhookId() }, base + 6);

    // A second prediction whose terminal payload is above the inline limit (16 KiB) compressed
    // too: random base64 compresses to about ¾, so 32 KiB of it is about 24 KiB. Spilled to S3.
    const spilling = buildScenario('image', { fileBaseUrl: files.origin });
    files.add(spilling.files);
    const spilledTerminal = withLogs(
      spilling.deliveries.find((delivery) => delivery.event === 'completed')!,
      randomBytes(24 * KB).toString('base64'),
    );
    await send('start (2nd prediction)', spilling.deliveries[0], base + 1);
    await send('terminal, spilled payload (> 16 KiB compressed)', spilledTerminal, base + 5);
    const afterSpilled = mark();
    await announced(spilling.predictionId);
    const archivalSpilled = { ...since(afterSpilled), outputFiles: spilling.files.length };
    direct.destroy();
    const result = {
      webhooks: webhooks.filter((webhook) => webhook.kind !== 'start (2nd prediction)'),
      archival,
      archivalSpilled,
    };
    writeFileSync(MEASURED_UNITS_FILE, `${JSON.stringify(measuredUnits(result), null, 2)}\n`);
    return result;
  } finally {
    logs?.stop();
    await pipeline?.stop();
    await dynamodbProxy?.stop();
    await fauxqsProxy?.stop();
    await files?.stop();
  }
}

export function reportWriteUnits({ webhooks, archival, archivalSpilled }: WriteUnitsResult): string {
  const rows = [
    ['webhook', 'body', 'item after', 'payload item', 'answer', 'WRU', '(Local)', 'DynamoDB requests', 'S3', 'log bytes'],
  ];
  for (const webhook of webhooks) {
    rows.push([
      webhook.kind,
      `${(webhook.bodyBytes / KB).toFixed(1)} KiB`,
      `${(webhook.itemBytes / KB).toFixed(1)} KiB`,
      webhook.payloadItem
        ? `${(webhook.payloadItem.itemBytes / KB).toFixed(1)} KiB (payload ${webhook.payloadItem.storedBytes} B)`
        : '–',
      webhook.outcome,
      String(webhook.wru),
      String(webhook.reportedUnits),
      render(webhook.dynamodb),
      render(webhook.s3),
      String(webhook.logBytes),
    ]);
  }
  const archivalRows = [['archival', 'WRU', 'of which index', 'RRU', 'DynamoDB requests', 'S3', 'SNS', 'log bytes']];
  for (const [name, cost] of [
    ['inline payload', archival],
    ['spilled payload', archivalSpilled],
  ] as const) {
    archivalRows.push([
      `${name}, ${cost.outputFiles} output files`,
      String(cost.wru),
      String(cost.indexWru),
      String(cost.rru),
      render(cost.dynamodb),
      render(cost.s3),
      render(cost.sns),
      String(cost.logBytes),
    ]);
  }
  return [
    'Billed requests per webhook and per archival (local mode: shipped handlers, DynamoDB Local asked for consumed capacity):',
    table(rows),
    '',
    table(archivalRows),
    "Payload item: the terminal payload's own item and, in it, the payload as stored (Brotli-compressed).",
    "WRU: as DynamoDB Local reports them (table and index), except transactions (2 WRU per KB of each item, from the item sizes; Local's own figure in brackets) and refused writes (not reported: at the size of the item they refused).",
  ].join('\n');
}
