/**
 * The estimate in Markdown, as the README quotes it: the settings read, the assumptions with the
 * measured figures in words, a table per section with its total, and what is left out.
 */
import {
  ARCHIVE_RETRY_RATE,
  archiverSecondsAt,
  MEASURED_DURATION_FIGURES,
  FORWARDER_INVOCATIONS_PER_PREDICTION,
  FORWARDER_LOG_LINE,
  forwarderSecondsAt,
  HOURS_PER_MONTH,
  IDLE_QUEUE_POLLERS,
  IDLE_QUEUE_POLLERS_WITHOUT_MAX_CONCURRENCY,
  LONG_POLL_SECONDS,
  MEASURED,
  MIB,
  OUTPUT_FILE_MB,
  OUTPUT_FILES_PER_PREDICTION,
  QUEUE_DELETES_PER_PREDICTION,
  QUEUE_HOLDS_PER_PREDICTION,
  QUEUE_RECEIVES_PER_PREDICTION,
  QUEUE_REQUESTS_PER_RETRY,
  QUEUE_SENDS_PER_PREDICTION,
  RECONCILER_INDEX_QUERIES_PER_RUN,
  RECONCILER_RRU_PER_LOOKUP,
  RECONCILER_SECONDS_PER_RUN,
  RECONCILER_SECRET_READS_PER_RUN,
  SECONDS_PER_MONTH,
  STREAM_POLLS_PER_SHARD_PER_SECOND,
  STREAM_SHARDS,
  verifierSecondsAt,
  WARM_VERIFIERS,
  WEBHOOKS,
  WEBHOOKS_PER_PREDICTION,
} from './assumptions';
import { comparisonMarkdown } from './comparison';
import { describeFlow, type Flow } from './flow';
import { count, num, price, usd } from './format';
import { CLOUDWATCH_ALARM_METRIC_PER_MONTH } from './prices';
import { fixedMonthly, totalOf, type CostEstimate, type CostRow, type CostSection } from './rows';
import type { TemplateSettings } from './template';

/** The measured figures the estimate prices, in words. */
function measuredAssumption(spilled: boolean): string {
  const { webhooks, archival } = MEASURED;
  const kib = (bytes: number) => `${num(bytes / 1024, 1)} KiB`;
  const inline = archival.inline;
  return (
    `Measured (\`${MEASURED.command}\`: local mode's handlers on DynamoDB Local, asked for consumed capacity; docs/measured-units.json): ` +
    `a start or intermediate webhook is one UpdateItem of ${webhooks.intermediate.wru} WRU, with ${kib(webhooks.intermediateLargeLogs.bodyBytes)} of logs too (the item keeps progress only: ${kib(webhooks.intermediate.itemBytes)}); ` +
    `a terminal one ${webhooks.terminalInline.wru} WRU with a ${kib(webhooks.terminalInline.bodyBytes)} payload kept Brotli-compressed (${count(webhooks.terminalInline.storedPayloadBytes)} bytes) in an item of its own of ${count(webhooks.terminalInline.payloadItemBytes)} bytes (the record stays ${kib(webhooks.terminalInline.itemBytes)}), ${webhooks.terminalSpilled.wru} WRU spilled to S3 (1 PUT); ` +
    `an archival ${inline.dynamodbWrites} UpdateItem of ${inline.wru} WRU and ${num(inline.rru)} read unit for the payload (${archival.spilled.wru} WRU with the payload spilled, plus ${archival.spilled.s3Gets} GET), ${inline.s3Puts - inline.outputFiles} document PUT${inline.s3Puts - inline.outputFiles === 1 ? '' : 's'} besides the outputs, ${inline.snsPublishes} SNS publish; the archive-pending index's writes included. ` +
    `The terminal payload is ${spilled ? 'above the inline limit: spilled' : 'inline'}. ` +
    `Refused webhooks (duplicate, stale, after the terminal one) are left out: each costs a write unit per KB of the item it would change (${webhooks.stale.wru} before the terminal one, ${webhooks.afterTerminal.wru} after)`
  );
}

function reconcilerAssumptions(
  reconciler: NonNullable<TemplateSettings['reconciler']>,
  predictions: number,
  lookupsPerPrediction: number,
): string {
  const listed = count((predictions * reconciler.lookbackSeconds) / SECONDS_PER_MONTH);
  return (
    `Reconciler, per run: ${num(RECONCILER_SECONDS_PER_RUN)} s (a few pages of Replicate's list: ${listed} predictions in a lookback at a million webhooks a month), ` +
    `${RECONCILER_SECRET_READS_PER_RUN} secret reads, ${RECONCILER_INDEX_QUERIES_PER_RUN} Query of the sparse archive-pending index; every listed prediction looked up with a strongly consistent read of its item (4 KB at most: ${RECONCILER_RRU_PER_LOOKUP} read unit), ` +
    `${lookupsPerPrediction} times (lookback ÷ interval); recoveries, signing-key updates and redrives are rare and left out`
  );
}

function table(rows: readonly CostRow[], totalLabel: string, total: number): string[] {
  return [
    '| Service | Item | Arithmetic | Cost |',
    '| --- | --- | --- | ---: |',
    ...rows.map((r) => `| ${r.service} | ${r.item} | \`${r.arithmetic}\` | ${usd(r.cost)} |`),
    `| **${totalLabel}** | | | **${usd(total)}** |`,
  ];
}

function settingsRead(settings: TemplateSettings): string[] {
  const retention = settings.logRetentionDays === undefined ? 'never expire' : `${settings.logRetentionDays} days`;
  const { batchSize, maxConcurrency } = settings.archiveEventSource;
  const partSizeMib = num(settings.archivePartSizeBytes / MIB);
  const keyCache = settings.keyCacheTtlSeconds === 0 ? 'none (read for every webhook)' : `${settings.keyCacheTtlSeconds} s`;
  return [
    `- Verifier: ${settings.verifier.memoryMb} MB, ${settings.verifier.architecture}; forwarder: ${settings.forwarder.memoryMb} MB, ${settings.forwarder.architecture}; archiver: ${settings.archiver.memoryMb} MB, ${settings.archiver.architecture}, upload parts of ${partSizeMib} MiB`,
    `- API: ${settings.apiProtocol} API; table billing: ${settings.tableBillingMode}`,
    `- Archive path: the stream's records through a filtered event source to the forwarder, in batches of ${settings.forwarder.batchSize}; ${settings.maxReceiveCount} tries per prediction, then the dead-letter queue; the archiver takes batches of ${batchSize}${maxConcurrency === undefined ? '' : `, at most ${maxConcurrency} at once`}; ${settings.queues} SQS queues`,
    `- Log retention: ${retention} (${settings.logGroups} log groups)`,
    `- KMS keys: ${settings.kmsKeys}; secrets: ${settings.secrets}; alarms: ${settings.alarms} (${settings.alarmMetrics} alarm metrics); dashboards: ${settings.dashboards}`,
    `- Signing key cache: ${keyCache}; largest inline payload: ${count(settings.maxInlinePayloadBytes)} bytes compressed`,
    `- Archive documents: ${settings.predictionDocument ? 'manifest.json and prediction.json (`predictionDocument`)' : 'manifest.json alone, the terminal payload in it (no `predictionDocument`)'}`,
    ...(settings.reconciler
      ? [
          `- Reconciler: ${settings.reconciler.memoryMb} MB, ${settings.reconciler.architecture}, every ${num(settings.reconciler.intervalSeconds / 60)} min, lookback ${num(settings.reconciler.lookbackSeconds / 60)} min`,
        ]
      : []),
  ];
}

function assumptions(flow: Flow): string[] {
  const { settings, logBytes } = flow;
  const partSizeMib = num(settings.archivePartSizeBytes / MIB);
  const puts =
    flow.outputPutsPerFile === 1
      ? `under the ${partSizeMib} MiB part size: one PUT each`
      : `over the ${partSizeMib} MiB part size: ${flow.outputPutsPerFile} requests each`;
  return [
    `- ${WEBHOOKS_PER_PREDICTION} webhooks per prediction (start, 4 logs/output, completed): ${count(WEBHOOKS)} webhooks = ${count(flow.predictions)} predictions`,
    `- ${measuredAssumption(flow.spilled)}`,
    `- Verifier: ${num(verifierSecondsAt(settings.verifier.memoryMb).seconds * 1000, 1)} ms average billed duration over a prediction's webhooks, measured (\`${MEASURED_DURATION_FIGURES.command}\`: the shipped verifier, warm, at ${verifierSecondsAt(settings.verifier.memoryMb).measuredAtMb} MB with Lambda's share of a core, DynamoDB held to ${MEASURED_DURATION_FIGURES.network.dynamodbMs} ms)`,
    `- Forwarder, per prediction: one record passes the filter, ${FORWARDER_INVOCATIONS_PER_PREDICTION} invocation of ${num(forwarderSecondsAt(settings.forwarder.memoryMb).seconds * 1000, 1)} ms on average (measured, \`${MEASURED_DURATION_FIGURES.command}\`: warm, at ${forwarderSecondsAt(settings.forwarder.memoryMb).measuredAtMb} MB with Lambda's share of a core, SQS held to ${MEASURED_DURATION_FIGURES.network.sqsMs} ms) and ${QUEUE_SENDS_PER_PREDICTION} SendMessageBatch, an upper bound: at this rate a batch seldom holds two finished predictions (1/10 with full batches)`,
    `- Archive queue, per prediction: ${QUEUE_RECEIVES_PER_PREDICTION} ReceiveMessage, ${QUEUE_HOLDS_PER_PREDICTION} ChangeMessageVisibilityBatch (the archiver holds its batch a minute and a half at a time; renewals for archivals over 20 s left out) and ${QUEUE_DELETES_PER_PREDICTION} DeleteMessageBatch (one prediction per batch at this rate); ${num(ARCHIVE_RETRY_RATE * 100)}% of predictions retried once (${QUEUE_REQUESTS_PER_RETRY} requests: ChangeMessageVisibility, ReceiveMessage); messages under 64 KB`,
    `- Idle archive queue: ${flow.idlePollers} pollers long-polling ${LONG_POLL_SECONDS} s (Lambda keeps ${IDLE_QUEUE_POLLERS} when a maximum concurrency is set, else may drop to ${IDLE_QUEUE_POLLERS_WITHOUT_MAX_CONCURRENCY})`,
    `- Stream: ${STREAM_SHARDS} shards, each read by the forwarder's event source ${STREAM_POLLS_PER_SHARD_PER_SECOND} times a second (Lambda's rate), for nothing: "Read requests made by AWS Lambda-based consumers of DynamoDB Streams are free, whereas calls made by consumers of any other kind are charged" ([DynamoDB's guide](https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CostOptimization_StreamsUsage.html))`,
    `- Archiver, per prediction: ${OUTPUT_FILES_PER_PREDICTION} output files of ${OUTPUT_FILE_MB} MB (${puts}), ${archiverDurationAssumption(settings.archiver.memoryMb)}`,
    ...(settings.archiveVersioning
      ? [
          settings.predictionDocument
            ? `- Versioned archive: a retried archival (${num(ARCHIVE_RETRY_RATE * 100)}% of predictions) rewrites prediction.json (none once the manifest is written); the outputs an earlier try stored are not written again (unless S3 itself failed that try); the overwritten copies stay as noncurrent versions ${settings.archiveVersioning.noncurrentDays === undefined ? 'forever' : `for ${settings.archiveVersioning.noncurrentDays} days`}; nothing else overwrites`
            : `- Versioned archive: a retried archival (${num(ARCHIVE_RETRY_RATE * 100)}% of predictions) overwrites nothing: the manifest, which carries the payload, is written once, last, and the outputs an earlier try stored are not written again (unless S3 itself failed that try), so no noncurrent versions are priced`,
        ]
      : []),
    `- ${WARM_VERIFIERS} warm verifiers, each rereading the signing key when its cache expires`,
    ...(settings.reconciler
      ? [`- ${reconcilerAssumptions(settings.reconciler, flow.predictions, flow.lookupsPerPrediction)}`]
      : []),
    `- Logs (message bytes), measured with every log line and metric, then kept as the template's settings keep them: per webhook, ${count(logBytes.verifierLoggedBytes)} B from the verifier (${handlerLines(settings.verifier)}; ${settings.detailedMetrics ? 'every metric' : "the alarms' metric series alone, none for an accepted webhook"}; averaged over the webhook kinds, with 64-character function names, CloudFormation's longest), ${count(logBytes.accessLogBytes)} B of access log (the template's format with typical values) and ${settings.verifier.systemRecords ? `${count(logBytes.systemLogBytes)} B of Lambda's start, runtimeDone and report records (typical values, an upper bound)` : "none of Lambda's start and report records (its system log level is WARN)"}; per prediction, ${count(logBytes.archiverLoggedBytes)} B from the archiver (${handlerLines(settings.archiver)}; ${settings.detailedMetrics ? 'every metric' : "the alarms' series alone"})${settings.archiver.systemRecords ? ` and Lambda's records again (${count(logBytes.systemLogBytes)} B)` : ''}; ${forwarderLogs(flow)}`,
    `- A month is ${HOURS_PER_MONTH} hours; 1 GB = 1,024 MB; free tiers left out`,
  ];
}

/** What a strict account's retention would cost instead, when the template keeps logs for less. */
function yearOfLogsNote(rows: readonly CostRow[], yearOfLogs: number | undefined): string[] {
  if (yearOfLogs === undefined) return [];
  return [
    `With a year of log retention (\`logRetention: logs.RetentionDays.ONE_YEAR\`, as a strict account's props in [Compliance](#compliance) set), ` +
      `log storage is ${usd(yearOfLogs)} per million webhooks instead of ${usd(rows.find((r) => r.id === 'logs-storage')!.cost)}; ` +
      'a customer managed key for the logs adds $1 a month (nothing if it is also the `encryptionKey`), and SSE-KMS adds KMS requests ($0.03 per 10,000), not estimated here.',
    '',
  ];
}

function notCounted(settings: TemplateSettings): string {
  return (
    `Not counted: DynamoDB reads (${settings.reconciler ? "other than the reconciler's: the webhook flow makes none" : 'the flow makes none'}) and storage, point-in-time recovery, data transfer ` +
    '(downloads from replicate.delivery come in free), the other work of a retried archival, messages in the ' +
    'failure and dead-letter queues, KMS key rotations (each of the first two adds $1 a month), ' +
    'deliveries to email and HTTPS subscribers, and what subscribers do.' +
    (settings.reconciler ? " The reconciler's logs (a line a run) and Replicate's API (no charge) are left out too." : '')
  );
}

export function renderMarkdown(
  { settings, rows, total, fixed, storage }: Omit<CostEstimate, 'markdown'>,
  flow: Flow,
  yearOfLogs: number | undefined,
): string {
  const of = (section: CostSection) => rows.filter((r) => r.section === section);
  return [
    '**Settings read from the synthesized template**',
    '',
    ...settingsRead(settings),
    '',
    '**Assumptions**',
    '',
    ...assumptions(flow),
    '',
    '**Per million webhooks**',
    '',
    ...table(of('perMillionWebhooks'), 'Total per million webhooks', total),
    '',
    '**Fixed per month**',
    '',
    ...table(of('fixedMonthly'), 'Total fixed per month', fixed),
    '',
    '**Archive storage per month**',
    '',
    ...table(of('storage'), 'Total storage per month', storage),
    '',
    ...comparisonMarkdown(total, fixed),
    ...yearOfLogsNote(rows, yearOfLogs),
    notCounted(settings),
    'Prices: us-east-1 list prices as of 2026. Rows are rounded to the cent; totals add the rounded rows.',
    '',
  ].join('\n');
}

/**
 * What the reconciler adds, from a template with a token beside the default one: its rows and the
 * alarms it brings (the alarm row's difference), per million webhooks and per month.
 */
export function reconcilerAddition(base: CostEstimate, withReconciler: CostEstimate): string {
  const reconciler = withReconciler.settings.reconciler!;
  const { predictions, lookupsPerPrediction } = describeFlow(withReconciler.settings);
  const rowsOf = (section: CostSection) =>
    withReconciler.rows.filter((row) => row.section === section && row.id.startsWith('reconciler-'));
  const addedAlarms = withReconciler.settings.alarms - base.settings.alarms;
  const addedMetrics = withReconciler.settings.alarmMetrics - base.settings.alarmMetrics;
  const alarmRows =
    addedMetrics > 0
      ? [
          fixedMonthly(
            'reconciler-alarms',
            'CloudWatch',
            `${addedAlarms} more alarms, the reconciler's own, reading ${addedMetrics} metrics`,
            `${addedMetrics} × ${price(CLOUDWATCH_ALARM_METRIC_PER_MONTH)}`,
            addedMetrics * CLOUDWATCH_ALARM_METRIC_PER_MONTH,
          ),
        ]
      : [];
  const perMillion = rowsOf('perMillionWebhooks');
  const fixed = [...rowsOf('fixedMonthly'), ...alarmRows];
  return [
    `With the reconciler (\`replicateApiToken\`, its default settings): **+${usd(totalOf(fixed))} per month and +${usd(totalOf(perMillion))} per million webhooks**, from the template with a token.`,
    `${reconcilerAssumptions(reconciler, predictions, lookupsPerPrediction)}.`,
    '',
    '**Reconciler per million webhooks**',
    '',
    ...table(perMillion, 'Reconciler per million webhooks', totalOf(perMillion)),
    '',
    '**Reconciler fixed per month**',
    '',
    ...table(fixed, 'Reconciler fixed per month', totalOf(fixed)),
    '',
  ].join('\n');
}

/** What the forwarder logs for one prediction. */
function forwarderLogs({ settings, logBytes }: Flow): string {
  const { forwarder } = settings;
  if (logBytes.forwarderLogBytes === 0)
    return "nothing from the forwarder (it logs what goes wrong alone, and none of Lambda's records)";
  const parts = [
    ...(forwarder.infoLineShare > 0
      ? [`its line per invocation (${count(Buffer.byteLength(FORWARDER_LOG_LINE))} B, a sample)`]
      : []),
    ...(forwarder.systemRecords ? [`Lambda's records (${count(logBytes.systemLogBytes)} B)`] : []),
  ];
  return `${count(logBytes.forwarderLogBytes)} B from the forwarder (${parts.join(' and ')})`;
}

/** Which of a handler's INFO lines its log level and sample rate keep. */
function handlerLines(fn: TemplateSettings['verifier']): string {
  if (fn.infoLineShare === 1) return 'every line';
  if (fn.infoLineShare === 0) return 'warnings and errors only: none for an accepted webhook';
  return `its line for one invocation in ${count(Math.round(1 / fn.infoLineShare))} (a sample rate of ${fn.infoLineShare}), refusals and failures always`;
}

/** Where the archiver's duration comes from: measured, with the network the measurement assumed. */
function archiverDurationAssumption(memoryMb: number): string {
  const { seconds, measuredAtMb } = archiverSecondsAt(memoryMb);
  const n = MEASURED_DURATION_FIGURES.network;
  const where =
    measuredAtMb === memoryMb ? `at ${memoryMb} MB` : `at ${measuredAtMb} MB, the nearest size measured to ${memoryMb} MB`;
  return (
    `${num(seconds * 1000, 0)} ms of duration, measured (\`${MEASURED_DURATION_FIGURES.command}\`, docs/measured-durations.json: the shipped archiver, warm, ${where}, ` +
    `${MEASURED_DURATION_FIGURES.cpuLimited ? "held to Lambda's share of a core for that memory" : 'CPU not limited'}; every request held to an in-region time: ` +
    `DynamoDB ${n.dynamodbMs} ms, S3 ${n.s3Ms} ms, SQS ${n.sqsMs} ms, SNS ${n.snsMs} ms; outputs ${n.outputFirstByteMs} ms to the first byte, then ${n.outputMiBPerSecond} MiB/s)`
  );
}
