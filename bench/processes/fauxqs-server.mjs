// fauxqs (S3/SNS/SQS stand-in) in its own process, so the objects it keeps in memory never
// count against the process being measured. Prints its port, stops on SIGTERM.
import { startFauxqs } from 'fauxqs';

const server = await startFauxqs({ port: 0, logger: false });
process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);
process.on('SIGTERM', () => {
  server.stop().then(() => process.exit(0));
});
