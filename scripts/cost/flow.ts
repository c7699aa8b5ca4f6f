/**
 * What a million webhooks make the deployed stack do: how many predictions, which measured figures
 * apply to them (a terminal payload inline or spilled), and the per-prediction counts the rows
 * price, from the template's settings and the stated assumptions.
 */
import {
  FORWARDER_LOG_LINE,
  IDLE_QUEUE_POLLERS,
  IDLE_QUEUE_POLLERS_WITHOUT_MAX_CONCURRENCY,
  LAMBDA_SYSTEM_RECORDS,
  MEASURED,
  MIB,
  OUTPUT_FILE_MB,
  WEBHOOKS,
  WEBHOOKS_PER_PREDICTION,
} from './assumptions';
import type { FunctionSettings, TemplateSettings } from './template';

/** The fields every measured webhook has (an inline terminal one adds its payload item's sizes). */
type MeasuredWebhook = (typeof MEASURED.webhooks)['terminalSpilled'];
type MeasuredArchival = (typeof MEASURED.archival)['inline'];
interface MeasuredLogs {
  readonly logBytes: number;
  readonly lineBytes: number;
  readonly alarmedMetricBytes: number;
}

/**
 * Bytes each invocation logs: what the handler logged (measured; the forwarder's one line, its
 * sample), Lambda's records, and for the verifier the access log line.
 */
export interface LogBytes {
  readonly verifierLoggedBytes: number;
  /** Lambda's start, runtimeDone and report records of one invocation. */
  readonly systemLogBytes: number;
  /** Those records where the function's system log level keeps them. */
  readonly verifierSystemBytes: number;
  readonly archiverSystemBytes: number;
  readonly accessLogBytes: number;
  readonly verifierLogBytes: number;
  readonly archiverLoggedBytes: number;
  readonly archiverLogBytes: number;
  /** The forwarder's, one invocation per prediction. */
  readonly forwarderLogBytes: number;
}

export interface Flow {
  readonly settings: TemplateSettings;
  readonly predictions: number;
  readonly intermediates: number;
  /** Whether the measured terminal payload, compressed as it is stored, is above the template's inline limit, so goes to S3. */
  readonly spilled: boolean;
  readonly terminal: MeasuredWebhook;
  readonly archival: MeasuredArchival;
  readonly terminalItemKb: number;
  readonly intermediateItemKb: number;
  readonly logBytes: LogBytes;
  /**
   * The archiver's own documents: its PUTs beyond one per (small) output file. Measured with the
   * default settings (manifest.json alone), plus prediction.json where the template asks for it.
   */
  readonly documentPuts: number;
  readonly outputPutsPerFile: number;
  readonly idlePollers: number;
  /** How many runs of the reconciler look each prediction up; 0 without a reconciler. */
  readonly lookupsPerPrediction: number;
}

/** PutObject for a file that fits in one part, else create + parts + complete. */
function putRequestsPerFile(fileBytes: number, partSizeBytes: number): number {
  const parts = Math.ceil(fileBytes / partSizeBytes);
  return parts <= 1 ? 1 : parts + 2;
}

export function describeFlow(settings: TemplateSettings): Flow {
  const predictions = WEBHOOKS / WEBHOOKS_PER_PREDICTION;
  const { webhooks: measuredWebhooks } = MEASURED;
  // A terminal payload above the inline limit (compressed, as the verifier compares it) goes to S3
  // and the record keeps only a pointer.
  const spilled = measuredWebhooks.terminalInline.storedPayloadBytes > settings.maxInlinePayloadBytes;
  const terminal = spilled ? measuredWebhooks.terminalSpilled : measuredWebhooks.terminalInline;
  const archival = spilled ? MEASURED.archival.spilled : MEASURED.archival.inline;
  const terminalItemKb = terminal.itemBytes / 1024;
  const intermediateItemKb = measuredWebhooks.intermediate.itemBytes / 1024;
  const systemLogBytes = LAMBDA_SYSTEM_RECORDS.reduce((sum, line) => sum + Buffer.byteLength(line), 0);
  // Measured with every line and metric; kept as the template's settings keep them.
  const logged = (measured: MeasuredLogs, fn: FunctionSettings) =>
    measured.lineBytes * fn.infoLineShare +
    (settings.detailedMetrics ? measured.logBytes - measured.lineBytes : measured.alarmedMetricBytes);
  const verifierLoggedBytes =
    (logged(measuredWebhooks.start, settings.verifier) +
      (WEBHOOKS_PER_PREDICTION - 2) * logged(measuredWebhooks.intermediate, settings.verifier) +
      logged(terminal, settings.verifier)) /
    WEBHOOKS_PER_PREDICTION;
  const archiverLoggedBytes = logged(archival, settings.archiver);
  const verifierSystemBytes = settings.verifier.systemRecords ? systemLogBytes : 0;
  const archiverSystemBytes = settings.archiver.systemRecords ? systemLogBytes : 0;
  const forwarderLogBytes =
    Buffer.byteLength(FORWARDER_LOG_LINE) * settings.forwarder.infoLineShare +
    (settings.forwarder.systemRecords ? systemLogBytes : 0);
  const { reconciler } = settings;
  return {
    settings,
    predictions,
    // Each prediction: one start, one terminal, the rest intermediate.
    intermediates: WEBHOOKS - 2 * predictions,
    spilled,
    terminal,
    archival,
    terminalItemKb,
    intermediateItemKb,
    logBytes: {
      verifierLoggedBytes,
      systemLogBytes,
      verifierSystemBytes,
      archiverSystemBytes,
      accessLogBytes: Buffer.byteLength(settings.accessLogLine),
      verifierLogBytes: verifierLoggedBytes + verifierSystemBytes + Buffer.byteLength(settings.accessLogLine),
      archiverLoggedBytes,
      archiverLogBytes: archiverLoggedBytes + archiverSystemBytes,
      forwarderLogBytes,
    },
    documentPuts: archival.s3Puts - archival.outputFiles + (settings.predictionDocument ? 1 : 0),
    outputPutsPerFile: putRequestsPerFile(OUTPUT_FILE_MB * MIB, settings.archivePartSizeBytes),
    idlePollers:
      settings.archiveEventSource.maxConcurrency === undefined ? IDLE_QUEUE_POLLERS_WITHOUT_MAX_CONCURRENCY : IDLE_QUEUE_POLLERS,
    // Each run looks up every prediction of the lookback: each prediction lookback ÷ interval times.
    lookupsPerPrediction: reconciler ? Math.ceil(reconciler.lookbackSeconds / reconciler.intervalSeconds) : 0,
  };
}
