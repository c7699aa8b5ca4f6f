/**
 * The commands that operate a deployment: `status` (and, as they come, `redrive`, `replay`).
 * Loaded only when one of them runs: `send` needs none of the AWS SDK they carry.
 */
import { parseArgs } from 'node:util';
import { isPredictionId, isTerminalStatus, TERMINAL_STATUSES } from '../../lambda/shared/prediction';
import { destroyClients, operateClients } from './clients';
import { describeRedrive, redrive, type RedriveOptions } from './redrive';
import { describeReplay, replay, type ReplayOptions } from './replay';
import { parseTime } from './since';
import { describeStatus, predictionStatus } from './status';
import { stackTarget } from './stack';
import { localTarget, OperateError, type OperateTarget } from './target';

export interface OperateIo {
  readonly stdout: (line: string) => void;
  readonly stderr: (line: string) => void;
}

export const OPERATE_COMMANDS = ['status', 'redrive', 'replay'] as const;
export type OperateCommand = (typeof OPERATE_COMMANDS)[number];

export const STATUS_USAGE = `Usage:
  replicate-webhooks status <prediction-id> --local [--json]
  replicate-webhooks status <prediction-id> --stack NAME [--construct ID] [--json]

What happened to one prediction: its record (status, times, the webhooks that changed it), its
archive (status, attempts, manifest.json, prediction.json when written, every file with its S3
URI, each failure with its reason), whether its archive request sits in the dead-letter queue,
and the channels its completion goes to (and whether it was announced).

  --local   the running local mode (npm start), through the endpoints it leaves in
            $REPLICATE_WEBHOOKS_LOCAL_FILE (default: <tmpdir>/replicate-webhooks-local.json)
  --stack NAME  a deployed stack (name or id), found through CloudFormation with the usual AWS
                credentials and region (AWS_PROFILE, AWS_REGION, …); --construct ID picks one
                ReplicateWebhooks construct when the stack holds several
  --json    the same as one JSON object, for scripts

Exit status: 0 when the prediction has a record; 1 when it has none, or on an error (local mode
not running, no credentials, no such stack, a stack without the construct, a service that
failed); 2 on a usage error (an invalid prediction id).`;

export const REDRIVE_USAGE = `Usage:
  replicate-webhooks redrive --local [--dlq] [--failed] [--since TIME] [--apply] [--json]
  replicate-webhooks redrive --stack NAME [--construct ID] [--dlq] [--failed] [--since TIME] [--apply] [--json]

Sends archive requests that failed every try back to the archive queue, so the archiver tries
them again (one already announced is skipped by the archiver, never announced twice). A dry run
unless --apply: it lists and counts what would move, and moves nothing.

  --dlq          the archive dead-letter queue's messages: on a deployed stack, without --since
                 and when all are archive requests, by SQS's own message move task; otherwise
                 received, sent to the archive queue, then deleted (what is not an archive
                 request stays)
  --failed       the records marked archiveStatus failed (the archive-pending index's failed
                 partition: attempts exhausted, or a last try that failed)
                 (neither: both)
  --since TIME   only what was queued (--dlq) or finished (--failed) since: an ISO 8601 time or
                 a duration back from now (90m, 6h, 2d)
  --apply        move them
  --local        the running local mode (npm start), as for status
  --stack NAME   a deployed stack (--construct ID for one of several), as for status
  --json         the counts and ids as one JSON object

Exit status: 0 (a dry run included); 1 on an error; 2 on a usage error.`;

export const REPLAY_USAGE = `Usage:
  replicate-webhooks replay --local --since TIME [--until TIME] [--status S] [--to sns|events] [--rate N] [--json]
  replicate-webhooks replay --stack NAME [--construct ID] --since TIME [...the same]

Publishes the completion messages of predictions already announced again, rebuilt from the
archive (manifest.json and the payload it carries; prediction.json for an archive written before
the manifest carried it) as the archiver built them: for a subscriber that was down. Each is
marked as a replay: the SNS message attribute replay=true, or "replay": true in the EventBridge
event's detail. Subscribers dedupe on prediction_id as for any redelivery.

  --since TIME   predictions that finished since (ISO 8601, or a duration back: 90m, 6h, 2d)
  --until TIME   and until (default now)
  --status S     only this terminal status (succeeded, failed, canceled, aborted)
  --to sns|events  the completion topic (default), or the event bus (when there is one)
  --rate N       messages a second at most (default 10)
  --local        the running local mode (npm start), as for status
  --stack NAME   a deployed stack (--construct ID for one of several), as for status
  --json         the count and ids as one JSON object

Finds them with a scan of the table (filtered, keys only). Exit status: 0; 1 on an error; 2 on a
usage error.`;

const USAGES: Readonly<Record<OperateCommand, string>> = { status: STATUS_USAGE, redrive: REDRIVE_USAGE, replay: REPLAY_USAGE };

class UsageError extends Error {}

/** Where a command works: the running local mode, or a deployed stack (and one construct in it). */
type Where = { readonly local: true } | { readonly stack: string; readonly construct?: string };

type Parsed = { readonly where: Where; readonly json: boolean } & (
  | { readonly command: 'status'; readonly predictionId: string }
  | { readonly command: 'redrive'; readonly options: RedriveOptions }
  | { readonly command: 'replay'; readonly options: ReplayOptions }
);

const SAY_WHERE = 'say where: --local (the running npm start) or --stack NAME (a deployed stack)';

function whereOf(values: { local?: boolean; stack?: string; construct?: string }): Where {
  if (values.local && values.stack !== undefined) throw new UsageError('--local or --stack, not both');
  if (values.construct !== undefined && values.stack === undefined) throw new UsageError('--construct goes with --stack NAME');
  if (values.local) return { local: true };
  if (values.stack === undefined) throw new UsageError(SAY_WHERE);
  if (values.stack.trim() === '') throw new UsageError('--stack takes a stack name or id');
  return { stack: values.stack, ...(values.construct !== undefined ? { construct: values.construct } : {}) };
}

function parseOperateArgs(command: OperateCommand, args: string[]): Parsed | 'help' {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: command === 'status',
    options: {
      local: { type: 'boolean' },
      stack: { type: 'string' },
      construct: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      ...(command === 'redrive'
        ? { dlq: { type: 'boolean' }, failed: { type: 'boolean' }, since: { type: 'string' }, apply: { type: 'boolean' } }
        : {}),
      ...(command === 'replay'
        ? {
            since: { type: 'string' },
            until: { type: 'string' },
            status: { type: 'string' },
            to: { type: 'string' },
            rate: { type: 'string' },
          }
        : {}),
    },
  });
  if (values.help) return 'help';
  if (command === 'status') {
    if (positionals.length !== 1)
      throw new UsageError('pass one prediction id: replicate-webhooks status <prediction-id> --local|--stack NAME');
    const [predictionId] = positionals;
    // Checked before any AWS call: an id that cannot exist would only look like "no record".
    if (!isPredictionId(predictionId))
      throw new UsageError(
        `"${predictionId}" is not a prediction id (letters, digits, - and _, at most 128, as Replicate's ids are)`,
      );
    return { command, predictionId, where: whereOf(values), json: values.json ?? false };
  }
  const where = whereOf(values);
  if (command === 'replay') return { command, where, json: values.json ?? false, options: replayOptions(values) };
  const flags = values as { dlq?: boolean; failed?: boolean; since?: string; apply?: boolean };
  const both = !flags.dlq && !flags.failed;
  let since: Date | undefined;
  try {
    since = flags.since === undefined ? undefined : parseTime(flags.since, '--since');
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  return {
    command,
    where,
    json: values.json ?? false,
    options: { deadLetters: both || !!flags.dlq, failedRecords: both || !!flags.failed, since, apply: flags.apply ?? false },
  };
}

/** Runs one operating command; the exit status as `main` returns it. */
export async function runOperateCommand(
  command: OperateCommand,
  args: string[],
  io: OperateIo,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  let parsed: Parsed;
  try {
    const result = parseOperateArgs(command, args);
    if (result === 'help') {
      io.stdout(USAGES[command]);
      return 0;
    }
    parsed = result;
  } catch (error) {
    io.stderr(`error: ${(error as Error).message}`);
    io.stderr(`Run "replicate-webhooks ${command} --help" for usage.`);
    return 2;
  }

  let target: OperateTarget;
  try {
    target = 'local' in parsed.where ? localTarget(env) : await stackTarget(parsed.where.stack, parsed.where.construct);
  } catch (error) {
    return fail(error, io);
  }
  const clients = operateClients(target.clientConfig);
  try {
    if (parsed.command === 'status') {
      const report = await predictionStatus(target, clients, parsed.predictionId);
      if (parsed.json) io.stdout(JSON.stringify(report, null, 2));
      else for (const line of describeStatus(report)) io.stdout(line);
      return report.record ? 0 : 1;
    }
    if (parsed.command === 'replay') {
      const report = await replay(target, clients, parsed.options, parsed.json ? () => undefined : io.stdout);
      if (parsed.json) io.stdout(JSON.stringify(report, null, 2));
      else for (const line of describeReplay(report)) io.stdout(line);
      return 0;
    }
    const report = await redrive(target, clients, parsed.options, parsed.json ? () => undefined : io.stdout);
    if (parsed.json) io.stdout(JSON.stringify(report, null, 2));
    else for (const line of describeRedrive(report)) io.stdout(line);
    return 0;
  } catch (error) {
    return fail(error, io, target);
  } finally {
    destroyClients(clients);
  }
}

function fail(error: unknown, io: OperateIo, target?: OperateTarget): number {
  if (error instanceof OperateError) {
    io.stderr(`error: ${error.message}`);
    return 1;
  }
  const { name, message } = error as { name?: string; message?: string };
  const where = target ? ` (${target.description})` : '';
  if (name === 'CredentialsProviderError')
    io.stderr(
      `error: no AWS credentials found${where}: set AWS_PROFILE (a profile in ~/.aws/config, aws sso login for SSO), ` +
        'or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where a role provides them',
    );
  else if (/ECONNREFUSED/.test(String(message)) || (error as { code?: string }).code === 'ECONNREFUSED')
    io.stderr(`error: cannot reach ${target?.description ?? 'the service'}: ${message} (is it still running?)`);
  else io.stderr(`error: ${name ?? 'Error'}: ${message ?? String(error)}${where}`);
  return 1;
}

function replayOptions(values: {
  since?: unknown;
  until?: unknown;
  status?: unknown;
  to?: unknown;
  rate?: unknown;
}): ReplayOptions {
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  const sinceText = text(values.since);
  if (sinceText === undefined) throw new UsageError('replay needs --since TIME: which predictions to announce again');
  const to = text(values.to) ?? 'sns';
  if (to !== 'sns' && to !== 'events') throw new UsageError(`--to takes sns or events, got "${to}"`);
  const status = text(values.status);
  if (status !== undefined && !isTerminalStatus(status))
    throw new UsageError(`--status takes a terminal status (${TERMINAL_STATUSES.join(', ')}), got "${status}"`);
  const rateText = text(values.rate);
  const ratePerSecond = rateText === undefined ? 10 : Number(rateText);
  if (!Number.isFinite(ratePerSecond) || ratePerSecond <= 0)
    throw new UsageError(`--rate takes a positive number, got "${rateText}"`);
  try {
    const untilText = text(values.until);
    return {
      since: parseTime(sinceText, '--since'),
      until: untilText === undefined ? new Date() : parseTime(untilText, '--until'),
      status,
      to,
      ratePerSecond,
    };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}
