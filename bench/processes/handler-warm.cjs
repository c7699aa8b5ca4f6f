// Runs the shipped handler bundle argv[2] (`archiver`, `verifier`, `forwarder`) on each event of the JSON array
// in the file argv[3], one after the other in one process, as warm invocations of one Lambda
// instance follow each other; prints, per invocation, its wall time, the CPU time the process
// spent in it (user + system) and the handler's answer. Loading the bundle (the init phase) is
// not counted.
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

require('./localhost-dns.cjs');

async function main() {
  const name = process.argv[2];
  const events = JSON.parse(readFileSync(process.argv[3], 'utf8'));
  const { handler } = require(join(__dirname, '..', '..', 'assets', name, 'index.js'));
  const invocations = [];
  for (const event of events) {
    const deadline = Date.now() + 600_000;
    const context = {
      functionName: name,
      awsRequestId: `${name}-warm-${process.pid}-${invocations.length}`,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    };
    const cpu = process.cpuUsage();
    const started = process.hrtime.bigint();
    const result = await handler(event, context);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const used = process.cpuUsage(cpu);
    invocations.push({ ms, cpuMs: (used.user + used.system) / 1000, result });
  }
  process.stdout.write(`${JSON.stringify({ invocations, maxRssBytes: process.resourceUsage().maxRSS * 1024 })}\n`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
