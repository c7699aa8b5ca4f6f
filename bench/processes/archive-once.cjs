// Runs the shipped archiver bundle once, in a fresh process, on the SQS event given as JSON on
// argv[2], with a minimal Lambda context whose timeout is ARCHIVER_TIMEOUT_MS (default 600000,
// the construct's 10 minutes); prints its wall time, the process's peak RSS, its RSS once the
// bundle was loaded (before the handler ran) and the handler's batch response.
const { join } = require('node:path');

require('./localhost-dns.cjs');

function lambdaContext(timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  return {
    functionName: 'archiver',
    awsRequestId: `archive-once-${process.pid}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

async function main() {
  const event = JSON.parse(process.argv[2]);
  const timeoutMs = Number(process.env.ARCHIVER_TIMEOUT_MS ?? 600_000);
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new Error(`ARCHIVER_TIMEOUT_MS must be a positive number`);
  const { handler } = require(join(__dirname, '..', '..', 'assets', 'archiver', 'index.js'));
  // As in Lambda, the timeout counts from the handler's start; loading the bundle is the init phase.
  const context = lambdaContext(timeoutMs);
  // What the loaded bundle holds before the handler runs: the baseline its peak is measured against.
  const rssAtStartBytes = process.memoryUsage.rss();
  const started = process.hrtime.bigint();
  const result = await handler(event, context);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  process.stdout.write(
    `${JSON.stringify({ ms, maxRssBytes: process.resourceUsage().maxRSS * 1024, rssAtStartBytes, result })}\n`,
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
