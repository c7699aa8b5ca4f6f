/**
 * `npm start`: the whole pipeline on this machine, no AWS account needed.
 *
 *   PORT                       webhook port (default 3000; 0 = any free port)
 *   REPLICATE_WEBHOOK_SECRET   the signing secret (default: a new one, printed)
 *   ALLOWED_OUTPUT_HOSTS       extra host[:port] list the archiver may fetch outputs from over
 *                              plain http, e.g. 127.0.0.1:8788 for `replicate-webhooks send`
 *   HOST                       interface to listen on (default 127.0.0.1)
 *
 * Prints the endpoints in words, then one line `ready {json}` for scripts. Ctrl-C or SIGTERM stops
 * everything and the process exits on its own.
 */
import { listVariable } from '../lambda/shared/env';
import { startLocalPipeline, type ReadyInfo } from './pipeline';

function describe(info: ReadyInfo, generatedSecret: boolean): string {
  return [
    '',
    'Replicate webhooks, local mode',
    `  webhook URL       POST ${info.webhookUrl}`,
    `  signing secret    ${info.secret}${generatedSecret ? '   (generated; set REPLICATE_WEBHOOK_SECRET to choose it)' : ''}`,
    `  DynamoDB          ${info.endpoints.dynamodb}   table ${info.tableName}`,
    `  S3                ${info.endpoints.s3}   bucket ${info.bucketName} (path-style)`,
    `  SNS               ${info.endpoints.sns}   completions ${info.completionTopicArn}`,
    `  SQS               ${info.endpoints.sqs}`,
    `  Secrets Manager   ${info.endpoints.secretsmanager}   secret ${info.signingSecretId}`,
    `  output hosts      ${info.allowedOutputHosts.join(', ')}`,
    '',
    `Try: npx replicate-webhooks send --url ${info.webhookUrl} --secret ${info.secret} --scenario image`,
    '     (start with ALLOWED_OUTPUT_HOSTS=127.0.0.1:8788 so the archiver may fetch its files)',
    `Inspect: aws --endpoint-url ${info.endpoints.dynamodb} dynamodb scan --table-name ${info.tableName}`,
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be a port number, got ${process.env.PORT}`);
  const secret = process.env.REPLICATE_WEBHOOK_SECRET || undefined;
  const pipeline = await startLocalPipeline({
    port,
    host: process.env.HOST,
    secret,
    extraOutputHosts: listVariable(process.env, 'ALLOWED_OUTPUT_HOSTS', []),
  });
  console.log(describe(pipeline.info, secret === undefined));
  console.log(`ready ${JSON.stringify(pipeline.info)}`);

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping`);
    pipeline.stop().then(
      () => console.log('stopped'),
      (error: unknown) => {
        console.error(error);
        process.exitCode = 1;
      },
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
