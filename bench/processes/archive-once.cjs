// Runs the shipped archiver bundle once, in a fresh process, on the stream event given as JSON
// on argv[2]; prints its wall time and the process's peak RSS.
const { join } = require('node:path');

async function main() {
  const event = JSON.parse(process.argv[2]);
  const { handler } = require(join(__dirname, '..', '..', 'assets', 'archiver', 'index.js'));
  const started = process.hrtime.bigint();
  const result = await handler(event);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  process.stdout.write(`${JSON.stringify({ ms, maxRssBytes: process.resourceUsage().maxRSS * 1024, result })}\n`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
