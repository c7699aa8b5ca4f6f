#!/usr/bin/env node
/** A ready-to-deploy stack: `npx cdk deploy`. */
import { App, CfnOutput, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import type { Construct } from 'constructs';
import { ReplicateWebhooks } from '../lib';

export class ReplicateWebhooksStack extends Stack {
  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    const hooks = new ReplicateWebhooks(this, 'Hooks');
    new CfnOutput(this, 'WebhookUrl', { value: hooks.webhookUrl, description: 'Give this URL to Replicate as `webhook`' });
    new CfnOutput(this, 'SigningSecretArn', {
      value: hooks.signingSecret.secretArn,
      description: 'Put your Replicate signing key (GET /v1/webhooks/default/secret) in this secret',
    });
    new CfnOutput(this, 'ArchiveBucketName', { value: hooks.bucket.bucketName });
    new CfnOutput(this, 'StateTableName', { value: hooks.table.tableName });
  }
}

const app = new App();
// The same rule packs the tests run: a new, unacknowledged finding stops the synth.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
new ReplicateWebhooksStack(app, app.node.tryGetContext('stackName') ?? 'ReplicateWebhooks', {
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
