/** `replicate-webhooks send`: signs and POSTs Replicate webhooks to a receiver, locally or deployed. */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { isTerminalStatus } from '../lambda/shared/prediction';
import { decodeSigningKey } from '../lambda/shared/signature';
import { DEFAULT_FILES_HOST, DEFAULT_FILES_PORT, startOutputServer, type OutputServer } from './output-server';
import {
  DEFAULT_WEBHOOK_URL,
  SCENARIOS,
  buildScenario,
  generateWebhookId,
  planDeliveries,
  scenarioServesFiles,
  seededRandom,
  type Delivery,
  type DeliveryPlanOptions,
  type ScenarioName,
  type WebhookEvent,
} from './scenarios';
import { registerPrediction, type ReplicateApiStandInTarget } from './register';
import { sendDelivery, type SendResult } from './send';

export interface Io {
  readonly stdout: (line: string) => void;
  readonly stderr: (line: string) => void;
}

export const USAGE = `Usage:
  replicate-webhooks send [--url URL] [--secret whsec_...] (--scenario image|llm|failed|canceled [--training] | --file payload.json)
          [--count N] [--duplicates RATE] [--reorder RATE] [--after-terminal N] [--seed N]
          [--files-host 127.0.0.1] [--files-port 8788] [--linger SECONDS] [--webhook-id ID] [--timestamp SECONDS] [--delay MS]
          [--replicate-api URL --replicate-token TOKEN] [--drop-terminal RATE] [--no-webhooks]
  replicate-webhooks status <prediction-id> --local [--json]     (status --help says more)
  replicate-webhooks redrive --local [--dlq] [--failed] [--since TIME] [--apply]   (redrive --help)
  replicate-webhooks replay --local --since TIME [--until TIME] [--status S] [--to sns|events]   (replay --help)
  replicate-webhooks help

Signs webhooks like Replicate does (Standard Webhooks) and POSTs them, one line per answer.

  --url URL            where to POST (default ${DEFAULT_WEBHOOK_URL}, local mode)
  --secret whsec_...   the signing secret (default $REPLICATE_WEBHOOK_SECRET)
  --scenario NAME      a whole prediction lifecycle, start to completed:
                         image     logs, then 2 PNG outputs served by this command (succeeded)
                         llm       output webhooks with a growing token list (succeeded)
                         failed    logs with a traceback and an error (failed)
                         canceled  partial progress, no output (canceled)
  --training           the scenario as a training (a fine-tune's webhooks, urls under /v1/trainings/):
                       image and llm succeed with a new version and a weights file served by this
                       command, failed fails, canceled is canceled
  --file PATH          send this payload file verbatim as one webhook
  --count N            predictions to run, one after another (default 1)
  --duplicates RATE    0..1: chance to send each webhook twice under the same webhook-id (default 0)
  --reorder RATE       0..1: chance to swap each webhook with the next one (default 0)
  --after-terminal N   late processing webhooks (new ids) sent after the terminal one (default 0)
  --seed N             reproducible ids, payloads and delivery plan
  --files-host HOST    where the image outputs are served (default ${DEFAULT_FILES_HOST})
  --files-port PORT    its port (default ${DEFAULT_FILES_PORT}; 0 = any free port)
  --linger SECONDS     after the last webhook, serve until every file was fetched, at most this long (default 30)
  --webhook-id ID      the webhook-id of the --file delivery (default: a new msg_... id)
  --timestamp SECONDS  the signed webhook-timestamp (default now; an old one shows the stale-request refusal)
  --delay MS           pause between webhooks (default 0)
  --replicate-api URL  the Replicate API stand-in (local mode's "Replicate API" line; default
                       $REPLICATE_API_STANDIN_URL): each scenario prediction is registered there,
                       finished, after its webhooks, so the reconciler can find it
  --replicate-token T  the stand-in's token (default $REPLICATE_API_TOKEN)
  --drop-terminal RATE 0..1: chance to leave out a prediction's terminal webhooks (default 0);
                       the reconciler records it from the stand-in instead
  --no-webhooks        send no webhook at all, only register the predictions (needs --replicate-api)

Examples:
  npm start                                          # local mode, in another terminal
  replicate-webhooks send --secret whsec_... --scenario image --duplicates 0.3 --reorder 0.3 --after-terminal 1
  replicate-webhooks send --secret whsec_... --file test/fixtures/replicate/failed.json --timestamp 1700000000
  replicate-webhooks send --secret whsec_... --scenario failed --count 5 --drop-terminal 0.4 \
    --replicate-api http://127.0.0.1:PORT --replicate-token r8_standin_...

Exit status: 0 when every answer was below 500 and at least one was a 2xx; 1 after a 5xx answer, a network
error, or when no webhook was accepted (every one refused: a wrong --secret, a stale --timestamp); 2 on a usage error.
--help or -h after a command prints this.`;

const CONSOLE_IO: Io = { stdout: (line) => console.log(line), stderr: (line) => console.error(line) };

class UsageError extends Error {}

interface SendCommand {
  readonly url: string;
  readonly secret: string;
  readonly source:
    { readonly scenario: ScenarioName; readonly training: boolean } | { readonly file: string; readonly webhookId?: string };
  readonly count: number;
  readonly plan: Omit<DeliveryPlanOptions, 'random'>;
  readonly random: () => number;
  readonly filesHost: string;
  readonly filesPort: number;
  readonly lingerSeconds: number;
  readonly timestamp?: number;
  readonly delayMs: number;
  readonly replicateApi?: ReplicateApiStandInTarget;
  readonly dropTerminalRate: number;
  readonly noWebhooks: boolean;
}

export async function main(argv: string[], io: Io = CONSOLE_IO): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'help' || command === '--help' || command === '-h') {
    io.stdout(USAGE);
    return 0;
  }
  if (command === 'status' || command === 'redrive' || command === 'replay') {
    // Loaded only here: the AWS SDK clients it carries are of no use to send.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily, and synchronously, only by these commands
    const operate = require('./operate') as typeof import('./operate');
    return operate.runOperateCommand(command, rest, io);
  }
  // Every subcommand answers --help and -h, wherever they stand among its options.
  if (command === 'send' && rest.some((arg) => arg === '--help' || arg === '-h')) {
    io.stdout(USAGE);
    return 0;
  }
  let parsed: SendCommand;
  try {
    if (command !== 'send') throw new UsageError(command === undefined ? 'no command given' : `unknown command "${command}"`);
    parsed = parseSendArgs(rest, process.env);
  } catch (error) {
    // parseArgs reports unknown or malformed options with its own TypeError: also a usage error.
    io.stderr(`error: ${(error as Error).message}`);
    io.stderr('Run "replicate-webhooks help" for usage.');
    return 2;
  }
  return 'scenario' in parsed.source
    ? runScenario(parsed, parsed.source.scenario, io, parsed.source.training)
    : runFile(parsed, parsed.source, io);
}

function parseSendArgs(args: string[], env: NodeJS.ProcessEnv): SendCommand {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      url: { type: 'string' },
      secret: { type: 'string' },
      scenario: { type: 'string' },
      file: { type: 'string' },
      count: { type: 'string' },
      duplicates: { type: 'string' },
      reorder: { type: 'string' },
      'after-terminal': { type: 'string' },
      seed: { type: 'string' },
      'files-host': { type: 'string' },
      'files-port': { type: 'string' },
      linger: { type: 'string' },
      'webhook-id': { type: 'string' },
      timestamp: { type: 'string' },
      delay: { type: 'string' },
      'replicate-api': { type: 'string' },
      'replicate-token': { type: 'string' },
      'drop-terminal': { type: 'string' },
      'no-webhooks': { type: 'boolean' },
      training: { type: 'boolean' },
    },
  });

  const url = values.url ?? DEFAULT_WEBHOOK_URL;
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol))
    throw new UsageError(`--url must be an http(s) URL, got "${url}"`);
  const secret = values.secret ?? env.REPLICATE_WEBHOOK_SECRET;
  if (!secret) throw new UsageError('no signing secret: pass --secret whsec_... or set REPLICATE_WEBHOOK_SECRET');
  try {
    decodeSigningKey(secret);
  } catch (error) {
    throw new UsageError(`${(error as Error).message} (expected whsec_<base64>)`);
  }

  if ((values.scenario === undefined) === (values.file === undefined))
    throw new UsageError('pass exactly one of --scenario or --file');
  let source: SendCommand['source'];
  if (values.scenario !== undefined) {
    const scenario = SCENARIOS.find((name) => name === values.scenario);
    if (!scenario) throw new UsageError(`--scenario must be one of ${SCENARIOS.join(', ')}, got "${values.scenario}"`);
    if (values['webhook-id'] !== undefined) throw new UsageError('--webhook-id only applies to --file');
    source = { scenario, training: values.training ?? false };
  } else {
    if (values.training) throw new UsageError('--training applies to --scenario');
    source = { file: values.file as string, webhookId: values['webhook-id'] };
  }

  const apiUrl = values['replicate-api'] ?? (env.REPLICATE_API_STANDIN_URL || undefined);
  let replicateApi: ReplicateApiStandInTarget | undefined;
  if (apiUrl !== undefined) {
    if (!URL.canParse(apiUrl) || !/^https?:$/.test(new URL(apiUrl).protocol))
      throw new UsageError(`--replicate-api must be an http(s) URL, got "${apiUrl}"`);
    const token = values['replicate-token'] ?? env.REPLICATE_API_TOKEN;
    if (!token) throw new UsageError("--replicate-api needs the stand-in's token: --replicate-token or REPLICATE_API_TOKEN");
    replicateApi = { url: apiUrl, token };
  }
  const noWebhooks = values['no-webhooks'] ?? false;
  if (noWebhooks && !replicateApi) throw new UsageError('--no-webhooks only registers predictions: it needs --replicate-api');
  if ((noWebhooks || values['drop-terminal'] !== undefined || replicateApi) && values.scenario === undefined)
    throw new UsageError('--replicate-api, --drop-terminal and --no-webhooks apply to --scenario');

  const seed = optionalNumber(values.seed, '--seed', { integer: true });
  return {
    replicateApi,
    dropTerminalRate: optionalNumber(values['drop-terminal'], '--drop-terminal', { min: 0, max: 1 }) ?? 0,
    noWebhooks,
    url,
    secret,
    source,
    count: optionalNumber(values.count, '--count', { integer: true, min: 1 }) ?? 1,
    plan: {
      duplicateRate: optionalNumber(values.duplicates, '--duplicates', { min: 0, max: 1 }),
      reorderRate: optionalNumber(values.reorder, '--reorder', { min: 0, max: 1 }),
      afterTerminal: optionalNumber(values['after-terminal'], '--after-terminal', { integer: true, min: 0 }),
    },
    random: seed === undefined ? Math.random : seededRandom(seed),
    filesHost: values['files-host'] ?? DEFAULT_FILES_HOST,
    filesPort: optionalNumber(values['files-port'], '--files-port', { integer: true, min: 0, max: 65535 }) ?? DEFAULT_FILES_PORT,
    lingerSeconds: optionalNumber(values.linger, '--linger', { min: 0 }) ?? 30,
    timestamp: optionalNumber(values.timestamp, '--timestamp', { integer: true, min: 0 }),
    delayMs: optionalNumber(values.delay, '--delay', { min: 0 }) ?? 0,
  };
}

function optionalNumber(
  text: string | undefined,
  flag: string,
  rules: { integer?: boolean; min?: number; max?: number },
): number | undefined {
  if (text === undefined) return undefined;
  const value = text.trim() === '' ? NaN : Number(text);
  const { integer = false, min = -Infinity, max = Infinity } = rules;
  if (!Number.isFinite(value) || (integer && !Number.isInteger(value)) || value < min || value > max) {
    const range = [min > -Infinity ? `>= ${min}` : '', max < Infinity ? `<= ${max}` : ''].filter(Boolean).join(' and ');
    throw new UsageError(`${flag} must be ${integer ? 'an integer' : 'a number'}${range ? ` ${range}` : ''}, got "${text}"`);
  }
  return value;
}

async function runScenario(command: SendCommand, name: ScenarioName, io: Io, training = false): Promise<number> {
  let server: OutputServer | undefined;
  const kind = training ? 'training' : 'prediction';
  try {
    if (scenarioServesFiles(name, training)) {
      try {
        server = await startOutputServer({ host: command.filesHost, port: command.filesPort });
      } catch (error) {
        io.stderr(`error: ${(error as Error).message} (choose another --files-port, or 0 for any)`);
        return 1;
      }
      io.stdout(`Serving output files on ${server.origin}`);
    }

    let exitCode = 0;
    let terminalAccepted = false;
    let fileCount = 0;
    const answered: SendResult[] = [];
    for (let n = 0; n < command.count; n++) {
      const scenario = buildScenario(name, {
        fileBaseUrl: server?.origin ?? `http://${DEFAULT_FILES_HOST}:${DEFAULT_FILES_PORT}`,
        random: command.random,
        webhookUrl: command.url,
        training,
      });
      server?.add(scenario.files);
      fileCount += scenario.files.length;
      const planned = planDeliveries(scenario.deliveries, { ...command.plan, random: command.random });
      const terminal = scenario.deliveries.find((delivery) => isTerminalStatus(delivery.status))!;
      // Drawn for every prediction, so a seed gives the same drops whatever else is asked.
      const dropTerminal = command.dropTerminalRate > 0 && command.random() < command.dropTerminalRate;
      let plan = planned;
      if (command.noWebhooks) {
        plan = [];
        io.stdout(`✂ ${scenario.predictionId} (${name}, ${terminal.status}): no webhooks sent, only registered`);
      } else if (dropTerminal) {
        plan = planned.filter((delivery) => !isTerminalStatus(delivery.status));
        io.stdout(`✂ ${scenario.predictionId} (${name}, ${terminal.status}): terminal webhook dropped`);
      }
      if (plan.length > 0 || !command.noWebhooks) {
        io.stdout(`${kind} ${scenario.predictionId} (${name}): ${plan.length} webhooks to ${command.url}`);
      }
      const outcome = await sendAll(command, plan, io, n > 0);
      answered.push(...outcome.results);
      if (plan.length > 0) io.stdout(summary(scenario.predictionId, outcome.results));
      terminalAccepted ||= outcome.results.some((result) => isTerminalStatus(result.delivery.status) && result.status < 300);
      exitCode = Math.max(exitCode, outcome.exitCode);
      if (outcome.transportFailed) return exitCode;
      if (command.replicateApi) {
        try {
          // Replicate's API knows every prediction as it finished, whatever its webhooks did.
          await registerPrediction(command.replicateApi, terminal.body);
        } catch (error) {
          io.stderr(`✗ ${(error as Error).message}`);
          return 1;
        }
        io.stdout(`  ${scenario.predictionId}: registered with the Replicate API stand-in as ${terminal.status}`);
        // The reconciler will record it and the archiver fetch its files: worth serving them.
        terminalAccepted ||= plan.length < planned.length;
      }
    }

    if (server && fileCount > 0) await linger(server, fileCount, terminalAccepted, command, io);
    return Math.max(exitCode, noneAcceptedExit(answered, io));
  } finally {
    await server?.stop();
  }
}

async function linger(
  server: OutputServer,
  fileCount: number,
  terminalAccepted: boolean,
  command: SendCommand,
  io: Io,
): Promise<void> {
  if (!terminalAccepted) {
    io.stdout('No terminal webhook was accepted, so nothing will fetch the output files: not waiting.');
    return;
  }
  const seconds = command.lingerSeconds;
  io.stdout(`Waiting up to ${seconds} s for the ${fileCount} output files to be fetched from ${server.origin} ...`);
  if (await server.waitUntilFetched(seconds * 1000)) {
    io.stdout(`All ${fileCount} output files were fetched (${requests(server)}).`);
    return;
  }
  const fetched = fileCount - server.unfetched;
  io.stdout(`Stopped serving after ${seconds} s: ${fetched} of ${fileCount} output files were fetched (${requests(server)}).`);
  io.stdout(`hint: ${unfetchedHint(server, command.url)}`);
}

function requests(server: OutputServer): string {
  return `${server.requests} request${server.requests === 1 ? '' : 's'}`;
}

/** What to do when the receiver did not fetch every file in time; only then is it worth saying. */
function unfetchedHint(server: OutputServer, receiverUrl: string): string {
  const filesHost = new URL(server.origin).host;
  // An archiver that may fetch from this host asks for the files; one that may not never does.
  if (server.requests > 0)
    return "the archiver fetched some files but not all: the receiver's output (npm start's, locally) says why; or wait longer with --linger SECONDS.";
  if (isLoopback(new URL(receiverUrl).hostname))
    return `local mode fetches output files only from hosts it allows: restart it as ALLOWED_OUTPUT_HOSTS=${filesHost} npm start, then send again.`;
  return `the receiver at ${new URL(receiverUrl).host} must be able to reach ${server.origin} and allow ${filesHost} as an output host.`;
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\./.test(hostname);
}

async function runFile(command: SendCommand, source: { file: string; webhookId?: string }, io: Io): Promise<number> {
  let body: string;
  try {
    body = readFileSync(source.file, 'utf8');
  } catch (error) {
    io.stderr(`error: cannot read --file ${source.file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    return 2;
  }
  // Sent verbatim, so a malformed payload can be sent on purpose; the status is only for display.
  const fields = parseObject(body);
  const status = typeof fields?.status === 'string' ? fields.status : '?';
  const delivery: Delivery = {
    webhookId: source.webhookId ?? generateWebhookId(command.random),
    event: eventFor(status, fields?.output),
    status,
    body,
  };
  const outcome = await sendAll(command, [delivery], io, false);
  io.stdout(summary(typeof fields?.id === 'string' ? fields.id : source.file, outcome.results));
  return Math.max(outcome.exitCode, noneAcceptedExit(outcome.results, io));
}

/**
 * 1 when webhooks were answered and not one of them with a 2xx: nothing was recorded, so a
 * script must not carry on as if it had been. A wrong secret is the usual cause, and says so.
 */
function noneAcceptedExit(results: readonly SendResult[], io: Io): number {
  if (results.length === 0 || results.some((result) => result.status >= 200 && result.status < 300)) return 0;
  io.stderr(`✗ no webhook was accepted: ${results.length} of ${results.length} refused`);
  if (results.some((result) => result.status === 401 && verdict(result) === 'bad_signature'))
    io.stderr(
      "  hint: 401 bad_signature means the receiver's signing secret is not the one passed: use the secret npm start prints " +
        '(or start it with REPLICATE_WEBHOOK_SECRET=<yours>); for a deployed stack, the key in its SigningSecretArn secret.',
    );
  return 1;
}

function eventFor(status: string, output: unknown): WebhookEvent {
  if (status === 'starting') return 'start';
  if (isTerminalStatus(status)) return 'completed';
  return output === null || output === undefined ? 'logs' : 'output';
}

interface SendOutcome {
  readonly results: SendResult[];
  readonly exitCode: number;
  readonly transportFailed: boolean;
}

async function sendAll(command: SendCommand, deliveries: readonly Delivery[], io: Io, delayFirst: boolean): Promise<SendOutcome> {
  const results: SendResult[] = [];
  let exitCode = 0;
  for (const [index, delivery] of deliveries.entries()) {
    if (command.delayMs > 0 && (index > 0 || delayFirst)) await sleep(command.delayMs);
    let result: SendResult;
    try {
      result = await sendDelivery(command.url, command.secret, delivery, { timestamp: command.timestamp });
    } catch (error) {
      io.stderr(`✗ ${(error as Error).message}`);
      if (!/bad ports/.test((error as Error).message))
        io.stderr(`  Is the receiver running? For local mode: npm start (it listens on ${DEFAULT_WEBHOOK_URL})`);
      return { results, exitCode: 1, transportFailed: true };
    }
    results.push(result);
    if (result.status >= 500) exitCode = 1;
    io.stdout(responseLine(result));
  }
  return { results, exitCode, transportFailed: false };
}

/** The receiver's verdict: `outcome` on success, `error` on refusal, else the start of the body. */
function verdict(result: SendResult): string {
  const fields = parseObject(result.body);
  if (typeof fields?.outcome === 'string') return fields.outcome;
  if (typeof fields?.error === 'string') return fields.error;
  const text = result.body.replace(/\s+/g, ' ').trim();
  if (text === '') return '(empty body)';
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function responseLine(result: SendResult): string {
  const { delivery } = result;
  return `→ ${result.status} ${verdict(result).padEnd(14)} ${delivery.event.padEnd(10)} ${delivery.status.padEnd(11)} ${delivery.webhookId} (${result.ms} ms)`;
}

function summary(subject: string, results: readonly SendResult[]): string {
  const counts = new Map<string, number>();
  for (const result of results) {
    const key = result.status < 300 ? verdict(result) : `${result.status} ${verdict(result)}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const parts = [...counts].map(([key, count]) => `${key} ${count}`);
  return `  ${subject}: ${results.length} answered${parts.length > 0 ? ` — ${parts.join(', ')}` : ''}`;
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
