/**
 * `npm run test:reliability [-- section ...]`: evidence that nothing is lost. Runs the load,
 * fault, bad-input, hostile-output, poisoned-batch, slow-neighbour, hostile-field and reconcile sections
 * against local mode (loopback only), writes what it measured to docs/reliability.json, and
 * exits non-zero if any invariant broke.
 * Sections: load, faults, reused-ids, hostile-requests, hostile-outputs, poisoned, slow-neighbour,
 * hostile-fields, reconcile, edges, throttle, training-weights. PREDICTIONS and HOSTILE_REQUESTS scale the first and
 * third (defaults 1000 and 10000); TRAINING_WEIGHTS_GIB the last's weights file (default 1; 2 or more by hand).
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { runArchivalOutages, runArchiverCrash, runDynamoDbCut } from './faults';
import { runCrashPastCap } from './crash-cap';
import { startHarness } from './harness';
import { runHostileOutputs } from './hostile-outputs';
import { runHostileRequests } from './hostile-requests';
import { runHostileFields } from './hostile-fields';
import { runLoad } from './load';
import { runPoisonedBatch } from './poisoned-batch';
import { runReconcile } from './reconcile';
import { runReconcilerEdges } from './edges';
import { runThrottledBurst } from './throttle';
import { runTrainingWeights } from './training-weights';
import { runReusedIds } from './reused-ids';
import { runSlowNeighbour } from './slow-neighbour';

const SEED = 20261127;
const SECTIONS = [
  'load',
  'faults',
  'reused-ids',
  'hostile-requests',
  'hostile-outputs',
  'poisoned',
  'slow-neighbour',
  'hostile-fields',
  'reconcile',
  'edges',
  'throttle',
  'training-weights',
] as const;
type Section = (typeof SECTIONS)[number];

async function main(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const requested = process.argv.slice(2) as Section[];
  const unknown = requested.filter((name) => !SECTIONS.includes(name));
  if (unknown.length > 0) throw new Error(`unknown section(s) ${unknown.join(', ')}; known: ${SECTIONS.join(', ')}`);
  const sections = requested.length > 0 ? requested : [...SECTIONS];
  const predictions = Number(process.env.PREDICTIONS ?? 1000);
  const hostileCount = Number(process.env.HOSTILE_REQUESTS ?? 10_000);
  const results: Record<string, unknown> = {};
  const violations: string[] = [];
  const started = Date.now();
  const log = (line: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`);

  if (['load', 'faults', 'reused-ids', 'hostile-requests'].some((name) => sections.includes(name as Section))) {
    // A short key cache, so the Secrets Manager outage meets real refetches.
    const harness = await startHarness({ handlerEnvironment: { KEY_CACHE_TTL_SECONDS: '2', KEY_REFRESH_INTERVAL_SECONDS: '1' } });
    try {
      if (sections.includes('load')) {
        log(`load: ${predictions} predictions at concurrency 64`);
        const load = await runLoad(harness, { predictions, concurrency: 64, seed: SEED });
        results.load = load;
        violations.push(...load.violations);
        log(
          `load: ${load.webhooksSent} webhooks, ack p50 ${load.ackLatencyMs.p50} ms / p99 ${load.ackLatencyMs.p99} ms, ${load.filesByteExact} files byte-exact`,
        );
      }
      if (sections.includes('faults')) {
        log('faults: DynamoDB cut while webhooks arrive');
        const dynamodbCut = await runDynamoDbCut(harness, SEED + 1);
        log(
          `faults: ${dynamodbCut.answered5xxDuringOutage} answered 5xx while cut, ${dynamodbCut.retriesSucceeded}/${dynamodbCut.retried} retries accepted, ` +
            `${dynamodbCut.repliesLost} replies lost after the outage`,
        );
        log('faults: S3, SNS and Secrets Manager cut during archival');
        const archivalOutages = await runArchivalOutages(harness, SEED + 2);
        log('faults: archiver killed between upload and notification');
        const archiverCrash = await runArchiverCrash(harness, SEED + 3);
        log('faults: an archival that crashes every time, past the attempt cap');
        const crashPastCap = await runCrashPastCap(harness, SEED + 11);
        log(
          `faults: ${crashPastCap.crashes} crashes, queued again ${crashPastCap.redriven} time(s) by the reconciler, given up in run ${crashPastCap.gaveUpInRun ?? '-'} ` +
            `(${crashPastCap.record.archiveError ?? 'not given up'}), ${crashPastCap.runsAfterGivingUp} runs after without queueing it; ` +
            `${crashPastCap.good.announcedOnce}/${crashPastCap.good.predictions} good announced once`,
        );
        results.faults = { dynamodbCut, archivalOutages, archiverCrash, crashPastCap };
        violations.push(
          ...dynamodbCut.violations,
          ...archivalOutages.violations,
          ...archiverCrash.violations,
          ...crashPastCap.violations,
        );
      }
      if (sections.includes('reused-ids')) {
        log('reused ids: webhook ids signed again over other bodies, at once and later, among good predictions');
        const reused = await runReusedIds(harness, SEED + 13);
        results.reusedIds = reused;
        violations.push(...reused.violations);
        log(
          `reused ids: ${reused.conflicts} second bodies answered 409; ${reused.announcedExactlyOnce}/${reused.predictions} announced once, ` +
            `${reused.consistent}/${reused.predictions} with record, payload, the manifest's payload and announcement in agreement`,
        );
      }
      if (sections.includes('hostile-requests')) {
        log(`hostile requests: ${hostileCount}`);
        const hostile = await runHostileRequests(harness, { count: hostileCount, seed: SEED + 4 });
        results.hostileRequests = hostile;
        violations.push(...hostile.violations);
      }
    } finally {
      await harness.stop();
    }
  }
  if (sections.includes('hostile-outputs')) {
    log('hostile outputs');
    const hostileOutputs = await runHostileOutputs(SEED + 5);
    results.hostileOutputs = hostileOutputs;
    violations.push(...hostileOutputs.violations);
  }
  if (sections.includes('poisoned')) {
    log('poisoned batch: 200 good predictions with 10 bad ones among them');
    const poisoned = await runPoisonedBatch({ good: 200, baseline: 40, seed: SEED + 6 });
    results.poisonedBatch = poisoned;
    violations.push(...poisoned.violations);
    const bad = Object.values(poisoned.poisoned);
    log(
      `poisoned batch: ${poisoned.goodAnnouncedExactlyOnce}/${poisoned.goodPredictions.baseline + poisoned.goodPredictions.withPoison} good announced once, ` +
        `${poisoned.goodFilesByteExact}/${poisoned.goodFiles} files byte-exact; terminal→announced p99 ${poisoned.latencyMs.besidePoison.p99} ms beside a bad one ` +
        `(${poisoned.latencyMs.awayFromPoison.p99} ms away from them, ${poisoned.latencyMs.baseline.p99} ms without poison); bad: ${bad.reduce((n, k) => n + k.announced, 0)} announced with failures, ` +
        `${bad.reduce((n, k) => n + k.deadLettered, 0)} dead-lettered (DLQ depth ${poisoned.deadLetterQueueDepth.atEnd})`,
    );
  }
  if (sections.includes('slow-neighbour')) {
    log('slow neighbour: one stalled output among 200 predictions');
    const slow = await runSlowNeighbour({ neighbours: 200, baseline: 40, seed: SEED + 7 });
    results.slowNeighbour = slow;
    violations.push(...slow.violations);
    log(
      `slow neighbour: ${slow.neighboursAnnouncedOnce}/${slow.neighbours} neighbours announced once, terminal→announced p99 ${slow.latencyMs.neighbours.p99} ms ` +
        `(baseline p99 ${slow.latencyMs.baseline.p99} ms); the slow one: ${slow.slowPrediction.outcome} after ${slow.slowPrediction.seconds} s, ${slow.slowPrediction.tries} tries`,
    );
  }
  if (sections.includes('hostile-fields')) {
    log('hostile fields: signed terminal webhooks with hostile field values');
    const fields = await runHostileFields(SEED + 8);
    results.hostileFields = fields;
    violations.push(...fields.violations);
    log(
      `hostile fields: ${fields.sent} sent, ${fields.answered5xx} answered 5xx, ${fields.accepted} accepted, ${fields.announcedOnce} announced once, ` +
        `${fields.refusedLeftNothing}/${fields.refused} refused without a trace; ${fields.goodArchived}/${fields.good} good predictions unaffected`,
    );
  }
  if (sections.includes('reconcile')) {
    log('reconcile: 300 predictions, 20% of terminal webhooks lost, 5% with no webhook, the API throttled and failing');
    const reconcile = await runReconcile({ predictions: 300, seed: SEED + 9 });
    results.reconcile = reconcile;
    violations.push(...reconcile.violations);
    log(
      `reconcile: ${reconcile.recovered} recovered by ${reconcile.runs} runs (${reconcile.runsWithApiError} met an API error; ${reconcile.apiFaults.answered429}×429, ${reconcile.apiFaults.answered500}×500), ` +
        `${reconcile.announcedExactlyOnce}/${reconcile.predictions} announced once, ${reconcile.payloadByteExact} manifest payloads and ${reconcile.filesByteExact}/${reconcile.files} files byte-exact; ` +
        `API knew it → announced p99 ${reconcile.recoveredLatencyMs.p99} ms, max ${reconcile.recoveredLatencyMs.max} ms (bound ${reconcile.boundMs} ms); ` +
        `${reconcile.outOfScopeUntouched}/${reconcile.outOfScope} out of scope untouched`,
    );
  }

  if (sections.includes('edges')) {
    log(
      'edges: long jobs, a reconciler away, a poisoned listing, removed data, another webhook URL, lost publish replies, trainings among them',
    );
    const edges = await runReconcilerEdges({ seed: SEED + 10 });
    results.edges = edges;
    violations.push(...edges.violations);
    // Lost replies are not recoveries: their duplicates are reported on their own below.
    const cases = Object.entries(edges.cases)
      .filter(([name]) => name !== 'lost_replies')
      .map(([name, entry]) => `${name} ${entry.recovered}/${entry.predictions}`)
      .join(', ');
    log(
      `edges: ${cases}; listing lag ${edges.maxListingLagSeconds} s while away; API knew it → announced p99 ${edges.recoveredLatencyMs.p99} ms; ` +
        `${edges.lostReplies.lost} publish replies lost → ${edges.lostReplies.announcedTwice} announced more than once (${edges.lostReplies.extraAnnouncements} extra); item failures ${JSON.stringify(edges.itemFailuresByReason)}; ` +
        `trainings ${edges.trainings.recovered}/${edges.trainings.trainings} recovered, ${edges.trainings.announcedAsTraining} announced once as kind training, ` +
        `${edges.trainings.archivedAsTraining} archived under trainings/ byte-exact`,
    );
  }

  if (sections.includes('throttle')) {
    log("throttle: fifty predictions at once, every event type, at the construct's limits and at the earlier ones");
    const throttle = await runThrottledBurst(SEED + 12);
    results.throttle = throttle;
    violations.push(...throttle.violations);
    const line = (name: string, outcome: typeof throttle.shipped) =>
      `${name} (${outcome.limits.rateLimit}/s, burst ${outcome.limits.burstLimit}): ${outcome.answered429}/${outcome.webhooks} answered 429 ` +
      `(${outcome.terminalAnswered429} terminal, ${outcome.terminalLost} lost after retries), ${outcome.announced}/${outcome.predictions} announced`;
    log(
      `throttle: ${throttle.shipped.sentPerSecond} webhooks/s; ${line('shipped', throttle.shipped)}; ${line('earlier', throttle.earlier)}`,
    );
  }

  if (sections.includes('training-weights')) {
    const gib = Number(process.env.TRAINING_WEIGHTS_GIB ?? 1);
    if (!(gib > 0)) throw new Error('TRAINING_WEIGHTS_GIB must be a positive number');
    log(`training weights: a ${gib} GiB weights file archived by the archiver in its own process`);
    const weights = await runTrainingWeights({ fileBytes: Math.round(gib * 1024 * 1024 * 1024), seed: SEED + 14 });
    results.trainingWeights = weights;
    violations.push(...weights.violations);
    const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
    log(
      `training weights: ${mib(weights.fileBytes)} (part size ${mib(weights.partSize)}) ${weights.byteExact ? 'archived byte-exact' : 'NOT archived byte-exact'}` +
        `${weights.announced ? ', announced' : ', not announced'} in ${weights.seconds} s (${weights.mibPerSecond} MiB/s); ` +
        `archiver peak RSS ${mib(weights.peakRssBytes)} (bound ${mib(weights.bounds.peakRssBytes)}), ` +
        `growth ${mib(weights.rssGrowthBytes)} above the loaded bundle's ${mib(weights.rssAtStartBytes)} (bound ${mib(weights.bounds.rssGrowthBytes)})`,
    );
  }

  const report = {
    command: `npm run test:reliability${requested.length > 0 ? ` -- ${requested.join(' ')}` : ''}`,
    ranAt: new Date().toISOString(),
    machine: { node: process.version, cpus: cpus().length },
    seconds: Math.round((Date.now() - started) / 1000),
    passed: violations.length === 0,
    violations: violations.slice(0, 50),
    ...results,
  };
  const path = join(__dirname, '..', '..', 'docs', 'reliability.json');
  writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
  log(`results written to ${path}`);
  if (violations.length > 0) {
    console.error(
      `${violations.length} invariant(s) broke:\n${violations
        .slice(0, 50)
        .map((v) => `  - ${v}`)
        .join('\n')}`,
    );
    process.exitCode = 1;
  } else {
    log('every invariant held');
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
