/** The ready-to-deploy stack, and the app `cdk deploy` synthesizes (bin/app.ts runs it). */
import { App, CfnOutput, Stack, Validations, type AppProps, type StackProps } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import type { Construct } from 'constructs';
import { ReplicateWebhooks } from '../lib';

export class ReplicateWebhooksStack extends Stack {
  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    // `cdk deploy -c replicateApiTokenSecret=<name or ARN>` turns the reconciler on.
    const tokenSecret = this.node.tryGetContext('replicateApiTokenSecret') as string | undefined;
    const hooks = new ReplicateWebhooks(this, 'Hooks', {
      replicateApiToken: tokenSecret
        ? tokenSecret.startsWith('arn:')
          ? secretsmanager.Secret.fromSecretCompleteArn(this, 'ReplicateApiToken', tokenSecret)
          : secretsmanager.Secret.fromSecretNameV2(this, 'ReplicateApiToken', tokenSecret)
        : undefined,
    });
    new CfnOutput(this, 'WebhookUrl', { value: hooks.webhookUrl, description: 'Give this URL to Replicate as `webhook`' });
    new CfnOutput(this, 'SigningSecretArn', {
      value: hooks.signingSecret.secretArn,
      description: 'Put your Replicate signing key (GET /v1/webhooks/default/secret) in this secret',
    });
    new CfnOutput(this, 'ArchiveBucketName', { value: hooks.bucket.bucketName });
    new CfnOutput(this, 'StateTableName', { value: hooks.table.tableName });
    new CfnOutput(this, 'ArchiveDeadLetterQueueUrl', {
      value: hooks.archiveDeadLetterQueue.queueUrl,
      description: 'Predictions that failed every archival try; redrive them once the cause is fixed',
    });
  }
}

/** The app with the same rule packs the tests run: a new, unacknowledged finding stops the synth. */
export function readyApp(props?: AppProps): App {
  const app = new App(props);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
  new ReplicateWebhooksStack(app, app.node.tryGetContext('stackName') ?? 'ReplicateWebhooks', {
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });
  return app;
}
