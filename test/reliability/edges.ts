/**
 * The reconciler's edges, in time scaled down (a 12-second lookback, a run every 2 seconds):
 * - long jobs: created three hours ago, their start and logs webhooks recorded, their terminal
 *   webhook lost: outside every listing, found only by following open records by id;
 * - a reconciler away: its token refused for longer than the lookback while predictions finish
 *   with no webhook at all, or with only their start: found by resuming the listing where it was
 *   complete, and by following;
 * - a poisoned listing: malformed items, a prediction whose fetch always fails, one that can
 *   never be recorded, among good ones whose terminal webhooks were lost;
 * - removed data: finished, then their data removed at Replicate before anyone recovered them;
 * - another webhook URL: predictions sent through a proxy URL the deployment counts as its own,
 *   beside another application's;
 * - lost publish replies: SNS applies a publish whose answer never comes back;
 * - trainings among the predictions: their start and logs webhooks recorded, the terminal one
 *   lost: found by listing GET /v1/trainings, archived under trainings/<id>/ (the weights byte-exact)
 *   and announced once with kind "training" (in the message and its SNS attribute).
 * Every in-scope prediction must be recorded, archived byte-exact and announced exactly once
 * (the lost replies aside, whose duplicates are measured), and the bad ones counted.
 */
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { ReconcileReport } from '../../lambda/reconciler/handler';
import { ATTR } from '../../lambda/shared/state';
import { CompletionKind, isTerminalStatus } from '../../lambda/shared/prediction';
import { sendDelivery } from '../../cli/send';
import { seededRandom } from '../../cli/scenarios';
import { check, latencySummary, pool, startHarness, type Harness, type LatencySummary } from './harness';
import { planPrediction, type PredictionPlan } from './lifecycles';

const INTERVAL_SECONDS = 2;
const LOOKBACK_SECONDS = 12;
/** Longer than the lookback: what finished meanwhile is outside every run's recent listing. */
const AWAY_SECONDS = 30;
const PROXY_URL = 'https://replicate-hooks.example.org/in';
const OTHER_APP_URL = 'https://other-app.example.com/replicate/webhook';
const TRAININGS = 2;
const TRAINING_WEIGHTS_BYTES = 4 * 1024 * 1024;
/** As the message and its attribute spell it. */
const TRAINING_KIND: string = CompletionKind.TRAINING;

type Case =
  'long_job' | 'away_silent' | 'away_started' | 'poison_good' | 'removed_data' | 'proxy_url' | 'lost_replies' | 'training';

export interface EdgesResult {
  readonly lookbackSeconds: number;
  readonly intervalSeconds: number;
  readonly cases: Record<Case, { readonly predictions: number; readonly recovered: number; readonly announcedOnce: number }>;
  readonly awaySeconds: number;
  /** The listing's lag at its worst, while the token was refused (s). */
  readonly maxListingLagSeconds: number;
  /** Known to Replicate's API → announced, for every recovered prediction (ms). */
  readonly recoveredLatencyMs: LatencySummary;
  readonly itemFailuresByReason: Record<string, number>;
  readonly neverRecordable: { readonly predictions: number; readonly recorded: number };
  readonly unfetchable: { readonly predictions: number; readonly recoveredAfterFix: number };
  readonly outOfScope: { readonly predictions: number; readonly untouched: number };
  readonly removedData: { readonly announcedWithDataRemovedFailure: number };
  readonly lostReplies: {
    readonly lost: number;
    readonly predictions: number;
    /** Predictions announced more than once, and the announcements past each one's first. */
    readonly announcedTwice: number;
    readonly extraAnnouncements: number;
    readonly announcedNever: number;
  };
  /** Trainings among the predictions, their terminal webhooks lost: recovered through GET /v1/trainings. */
  readonly trainings: {
    readonly trainings: number;
    readonly recovered: number;
    readonly announcedOnce: number;
    /** Announced with kind "training" in the message and its SNS attribute, and the trained version. */
    readonly announcedAsTraining: number;
    /** Recorded with kind training, archived under trainings/<id>/ with the weights byte-exact. */
    readonly archivedAsTraining: number;
    readonly weightsBytes: number;
  };
  readonly filesByteExact: number;
  readonly files: number;
  readonly runs: number;
  readonly seconds: number;
  readonly violations: string[];
}

interface Planned {
  readonly plan: PredictionPlan;
  readonly kind: Case;
}

export async function runReconcilerEdges(options: { seed: number }): Promise<EdgesResult> {
  const started = Date.now();
  const random = seededRandom(options.seed);
  const reports: ReconcileReport[] = [];
  const harness = await startHarness({
    reconciler: {
      intervalSeconds: INTERVAL_SECONDS,
      lookbackSeconds: LOOKBACK_SECONDS,
      stuckAfterSeconds: 60,
      webhookUrls: [PROXY_URL],
      onReport: (report) => reports.push(report),
      onRecovered: () => undefined,
    },
  });
  const secrets = new SecretsManagerClient({
    region: harness.info.region,
    endpoint: harness.info.endpoints.secretsmanager,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    const violations: string[] = [];
    const api = harness.replicateApi!;
    const { webhookUrl, secret } = harness.info;
    const knownAt = new Map<string, number>();
    const plans: Planned[] = [];
    const trainingIds = new Set<string>();
    /** A prediction (or a training) created now (or when given): Replicate's API lists it from then on, as `starting`. */
    const create = (overrides: { webhookUrl?: string; createdAt?: Date; training?: { weightsBytes: number } } = {}) => {
      const planned = planPrediction(random, harness.files, {
        duplicateRate: 0.1,
        reorderRate: 0.1,
        lateRate: 0,
        webhookUrl,
        createdAt: new Date(),
        ...overrides,
      });
      const starting = planned.webhooks.find((webhook) => webhook.status === 'starting')!;
      const body = JSON.parse(starting.body) as Record<string, unknown>;
      if (overrides.training) api.putTraining(body);
      else api.putPrediction(body);
      return planned;
    };
    const plan = (kind: Case, overrides: Parameters<typeof create>[0] = {}) => {
      const planned = create(overrides);
      plans.push({ plan: planned, kind });
      return planned;
    };
    const terminalOf = (planned: PredictionPlan) => planned.webhooks.find((webhook) => isTerminalStatus(webhook.status))!;
    /** Its webhooks up to (not including) the terminal one, or none; then Replicate's API knows it finished. */
    const deliver = async (planned: PredictionPlan, which: 'all_but_terminal' | 'start_only' | 'none' | 'all') => {
      const webhooks = planned.webhooks.filter((webhook) =>
        which === 'all'
          ? true
          : which === 'none'
            ? false
            : which === 'start_only'
              ? webhook.status === 'starting'
              : !isTerminalStatus(webhook.status),
      );
      for (const webhook of webhooks) {
        const result = await sendDelivery(webhookUrl, secret, webhook, { timestamp: Math.floor(Date.now() / 1000) });
        check(
          result.status === 200,
          `edges: a webhook of ${planned.id} was answered ${result.status} ${result.body}`,
          violations,
        );
      }
    };
    const finishAtReplicate = (planned: PredictionPlan) => {
      const body = JSON.parse(terminalOf(planned).body) as Record<string, unknown>;
      if (trainingIds.has(planned.id)) api.putTraining(body);
      else api.putPrediction(body);
      knownAt.set(planned.id, Date.now());
    };

    // Long jobs, three hours old: their own webhooks arrive, then the terminal one is lost.
    const threeHoursAgo = new Date(Date.now() - 3 * 3600 * 1000);
    const longJobs = Array.from({ length: 4 }, () => plan('long_job', { createdAt: threeHoursAgo }));
    // Sent through a proxy URL this deployment counts as its own; and another application's.
    const viaProxy = Array.from({ length: 4 }, () => plan('proxy_url', { webhookUrl: PROXY_URL }));
    const foreign = Array.from({ length: 4 }, () => create({ webhookUrl: OTHER_APP_URL }));
    // A poisoned listing around good predictions whose terminal webhooks were lost.
    const poisonGood = Array.from({ length: 8 }, () => plan('poison_good'));
    const unfetchable = create();
    const neverRecordable = create();
    // Finished, then their data removed before anyone recovered them.
    const removed = Array.from({ length: 3 }, () => plan('removed_data'));
    // Trainings among them (a weights file each), their terminal webhooks lost too.
    const trainings = Array.from({ length: TRAININGS }, () =>
      plan('training', { training: { weightsBytes: TRAINING_WEIGHTS_BYTES } }),
    );
    for (const planned of trainings) trainingIds.add(planned.id);

    await pool(longJobs, 4, async (planned) => deliver(planned, 'all_but_terminal'));
    await pool(removed, 3, async (planned) => deliver(planned, 'start_only'));
    await pool(poisonGood, 4, async (planned) => deliver(planned, 'start_only'));
    await pool(trainings, 2, async (planned) => deliver(planned, 'all_but_terminal'));
    api.putListItem({ status: 'succeeded', created_at: new Date().toISOString() }, new Date().toISOString());
    api.putListItem({ id: poisonGood[0].id, status: 42, created_at: new Date().toISOString() }, new Date().toISOString());
    api.faults.fail({ status: 500, path: `/v1/predictions/${unfetchable.id}` });
    finishAtReplicate(unfetchable);
    api.putPrediction({ ...(JSON.parse(terminalOf(neverRecordable).body) as object), model: `owner/${'m'.repeat(300)}` });
    for (const planned of [...longJobs, ...viaProxy, ...poisonGood, ...removed, ...trainings]) finishAtReplicate(planned);
    for (const planned of foreign) api.putPrediction(JSON.parse(terminalOf(planned).body) as Record<string, unknown>);
    for (const planned of removed) api.removeData(planned.id);

    const firstIds = [...longJobs, ...viaProxy, ...poisonGood, ...removed, ...trainings].map((planned) => planned.id);
    await waitFor(
      harness,
      firstIds,
      6 * INTERVAL_SECONDS * 1000 + 20_000,
      violations,
      'edges (long jobs, proxy URL, poison, removed data, trainings)',
    );
    // Fixed at Replicate: its retry recovers it.
    api.faults.clear();
    knownAt.set(unfetchable.id, Date.now());
    await waitFor(
      harness,
      [unfetchable.id],
      4 * INTERVAL_SECONDS * 1000 + 20_000,
      violations,
      'edges (unfetchable after the fix)',
    );

    // The reconciler away: its token refused for longer than the lookback.
    const newToken = `r8_standin_rotated_${Date.now()}`;
    api.setToken(newToken);
    const awayFrom = Date.now();
    const awaySilent: PredictionPlan[] = [];
    const awayStarted: PredictionPlan[] = [];
    while (Date.now() - awayFrom < AWAY_SECONDS * 1000) {
      const silent = plan('away_silent');
      const started = plan('away_started');
      awaySilent.push(silent);
      awayStarted.push(started);
      await deliver(started, 'start_only');
      finishAtReplicate(silent);
      finishAtReplicate(started);
      await new Promise((resolve) => setTimeout(resolve, 3_000));
    }
    const lagWhileAway = Math.max(
      ...reports.filter((report) => report.apiError === 'unauthorized').map((report) => report.listing?.lagSeconds ?? 0),
      0,
    );
    await secrets.send(new PutSecretValueCommand({ SecretId: harness.info.tokenSecretId!, SecretString: newToken }));
    const tokenFixedAt = Date.now();
    for (const planned of [...awaySilent, ...awayStarted])
      knownAt.set(planned.id, Math.max(knownAt.get(planned.id)!, tokenFixedAt));
    await waitFor(
      harness,
      [...awaySilent, ...awayStarted].map((planned) => planned.id),
      6 * INTERVAL_SECONDS * 1000 + 20_000,
      violations,
      'edges (away)',
    );

    // Lost publish replies: SNS applies the publish, the answer never comes back.
    const lossFrom = harness.proxies.sns.lostReplies;
    harness.proxies.sns.loseReplies(5, 2);
    const lossy = Array.from({ length: 12 }, () => plan('lost_replies'));
    await pool(lossy, 4, async (planned) => deliver(planned, 'all'));
    await waitFor(
      harness,
      lossy.map((planned) => planned.id),
      60_000,
      violations,
      'edges (lost replies)',
    );
    harness.proxies.sns.loseReplies(0);
    const lost = harness.proxies.sns.lostReplies - lossFrom;

    // One more run after everything, so a second announcement or a foreign record would show.
    const settledAt = Date.now();
    while (
      // (A report without `listing` comes from a reconciler that keeps no watermark: wait out the time.)
      !reports.some((report) => Date.parse(report.listing?.completeBefore ?? '') > settledAt - 5_000) &&
      Date.now() - settledAt < 20_000
    ) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await harness.collectNotifications(1500);

    const cases = {} as Record<Case, { predictions: number; recovered: number; announcedOnce: number }>;
    const latencies: number[] = [];
    let filesByteExact = 0;
    let files = 0;
    let dataRemovedFailures = 0;
    let announcedTwice = 0;
    let extraAnnouncements = 0;
    let announcedNever = 0;
    let announcedAsTraining = 0;
    let archivedAsTraining = 0;
    await pool(plans, 8, async ({ plan: planned, kind }) => {
      const entry = (cases[kind] ??= { predictions: 0, recovered: 0, announcedOnce: 0 });
      entry.predictions++;
      const announced = harness.notifications.get(planned.id) ?? [];
      const item = await harness.predictionItem(planned.id);
      check(
        item?.status?.S === planned.terminalStatus,
        `edges: ${planned.id} (${kind}) is ${item?.status?.S ?? 'not recorded'}`,
        violations,
      );
      if (kind === 'lost_replies') {
        // Each lost reply may cost one more announcement; a retry's reply can be lost too, so
        // the bound is on the sum, checked below, not on each prediction.
        if (announced.length >= 2) announcedTwice++;
        if (announced.length === 0) announcedNever++;
        extraAnnouncements += Math.max(0, announced.length - 1);
        check(announced.length >= 1, `edges: ${planned.id} (lost replies) was never announced`, violations);
      } else {
        if (announced.length === 1) entry.announcedOnce++;
        else violations.push(`edges: ${planned.id} (${kind}) announced ${announced.length} times`);
        const recoveredIt = item?.[ATTR.lastWebhookId]?.S === `reconciled_${planned.id}`;
        if (recoveredIt) entry.recovered++;
        else violations.push(`edges: ${planned.id} (${kind}) was not recovered by the reconciler`);
        const announcedAt = Date.parse(item?.notifiedAt?.S ?? '');
        if (Number.isFinite(announcedAt) && knownAt.has(planned.id)) latencies.push(announcedAt - knownAt.get(planned.id)!);
      }
      if (kind === 'removed_data') {
        const failures = announced[0]?.failures ?? [];
        if (failures.some((failure) => failure.reason === 'data_removed')) dataRemovedFailures++;
        else violations.push(`edges: ${planned.id} had its data removed, yet was announced without a data_removed failure`);
        return;
      }
      const isTraining = kind === 'training';
      const manifest = await harness
        .manifest(planned.id, isTraining ? CompletionKind.TRAINING : CompletionKind.PREDICTION)
        .catch(() => undefined);
      if (isTraining) {
        const attributes = harness.received.get(planned.id)?.[0]?.attributes ?? {};
        const message = announced[0];
        if (
          announced.length === 1 &&
          message.kind === TRAINING_KIND &&
          attributes.kind === TRAINING_KIND &&
          message.trainedVersion === `alice/my-flux:${planned.id}`
        )
          announcedAsTraining++;
        else
          violations.push(
            `edges: training ${planned.id} announced as kind ${message?.kind ?? '-'} (attribute ${attributes.kind ?? '-'}), ` +
              `trained version ${message?.trainedVersion ?? '-'}`,
          );
        const weights = planned.files[0];
        const archived = manifest?.files.find((candidate) => candidate.source === weights.url);
        if (
          item?.[ATTR.kind]?.S === CompletionKind.TRAINING &&
          manifest?.kind === CompletionKind.TRAINING &&
          archived?.key.startsWith(`trainings/${planned.id}/outputs/`) === true &&
          (await harness.objectSha256(archived.key)) === weights.sha256
        )
          archivedAsTraining++;
        else
          violations.push(
            `edges: training ${planned.id} recorded as ${item?.[ATTR.kind]?.S ?? '-'}, archived as ${archived?.key ?? 'nothing'}`,
          );
      }
      for (const file of planned.files) {
        files++;
        const archived = manifest?.files.find((candidate) => candidate.source === file.url);
        if (archived !== undefined && (await harness.objectSha256(archived.key)) === file.sha256) filesByteExact++;
        else violations.push(`edges: ${file.url} of ${planned.id} (${kind}) not archived byte-exact`);
      }
    });
    check(dataRemovedFailures === removed.length, 'edges: not every removed-data prediction said so', violations);
    const untouched = await Promise.all(
      foreign.map(
        async (planned) => (await harness.predictionItem(planned.id)) === undefined && !harness.notifications.has(planned.id),
      ),
    );
    check(untouched.every(Boolean), "edges: another application's prediction was recorded or announced", violations);
    const recordedNever = (await harness.predictionItem(neverRecordable.id)) !== undefined;
    check(!recordedNever, 'edges: a prediction that can never be recorded was recorded', violations);
    const unfetchableAnnounced = harness.notifications.get(unfetchable.id)?.length ?? 0;
    check(
      unfetchableAnnounced === 1,
      `edges: the once-unfetchable prediction was announced ${unfetchableAnnounced} times`,
      violations,
    );
    const itemFailuresByReason: Record<string, number> = {};
    for (const report of reports)
      for (const { reason } of report.itemFailures ?? []) itemFailuresByReason[reason] = (itemFailuresByReason[reason] ?? 0) + 1;
    for (const reason of ['malformed_invalid_id', 'malformed_invalid_status', 'api_status_500', 'unrecordable_field_too_large']) {
      check((itemFailuresByReason[reason] ?? 0) > 0, `edges: no item failure counted as ${reason}`, violations);
    }
    check(
      lagWhileAway >= AWAY_SECONDS - 2 * INTERVAL_SECONDS,
      `edges: the listing lag reached only ${lagWhileAway} s while away`,
      violations,
    );
    check(lost > 0, 'edges: no publish reply was lost', violations);
    check(
      extraAnnouncements <= lost,
      `edges: ${extraAnnouncements} announcements past the first for ${lost} lost publish replies`,
      violations,
    );
    const recoveredLatencyMs = latencySummary(latencies);
    return {
      lookbackSeconds: LOOKBACK_SECONDS,
      intervalSeconds: INTERVAL_SECONDS,
      cases,
      awaySeconds: Math.round((tokenFixedAt - awayFrom) / 1000),
      maxListingLagSeconds: lagWhileAway,
      recoveredLatencyMs,
      itemFailuresByReason,
      neverRecordable: { predictions: 1, recorded: recordedNever ? 1 : 0 },
      unfetchable: { predictions: 1, recoveredAfterFix: unfetchableAnnounced === 1 ? 1 : 0 },
      outOfScope: { predictions: foreign.length, untouched: untouched.filter(Boolean).length },
      removedData: { announcedWithDataRemovedFailure: dataRemovedFailures },
      lostReplies: { lost, predictions: lossy.length, announcedTwice, extraAnnouncements, announcedNever },
      trainings: {
        trainings: trainings.length,
        recovered: cases.training?.recovered ?? 0,
        announcedOnce: cases.training?.announcedOnce ?? 0,
        announcedAsTraining,
        archivedAsTraining,
        weightsBytes: TRAINING_WEIGHTS_BYTES,
      },
      filesByteExact,
      files,
      runs: reports.length,
      seconds: Math.round((Date.now() - started) / 1000),
      violations,
    };
  } finally {
    secrets.destroy();
    await harness.stop();
  }
}

async function waitFor(
  harness: Harness,
  ids: readonly string[],
  timeoutMs: number,
  violations: string[],
  what: string,
): Promise<void> {
  try {
    await harness.waitForNotified(ids, timeoutMs);
  } catch (error) {
    violations.push(`${what}: ${(error as Error).message}`);
  }
}
