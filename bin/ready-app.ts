/** The ready-to-deploy stack, and the app `cdk deploy` synthesizes (bin/app.ts runs it). */
import { App, CfnOutput, Stack, Validations, type AppProps, type StackProps } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import type { Construct } from 'constructs';
import { ReplicateWebhooks, type WebhookDomainOptions } from '../lib';

export class ReplicateWebhooksStack extends Stack {
  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    // `cdk deploy -c replicateApiTokenSecret=<name or ARN>` turns the reconciler on.
    const tokenSecret = this.node.tryGetContext('replicateApiTokenSecret') as string | undefined;
    const domain = this.webhookDomain();
    const hooks = new ReplicateWebhooks(this, 'Hooks', {
      replicateApiToken: tokenSecret
        ? tokenSecret.startsWith('arn:')
          ? secretsmanager.Secret.fromSecretCompleteArn(this, 'ReplicateApiToken', tokenSecret)
          : secretsmanager.Secret.fromSecretNameV2(this, 'ReplicateApiToken', tokenSecret)
        : undefined,
      domain,
    });
    new CfnOutput(this, 'WebhookUrl', { value: hooks.webhookUrl, description: 'Give this URL to Replicate as `webhook`' });
    if (hooks.customDomain) {
      new CfnOutput(this, 'ExecuteApiWebhookUrl', {
        value: hooks.executeApiWebhookUrl,
        description: "The API's own URL: predictions created with it are still received and reconciled",
      });
      if (!domain?.hostedZone) {
        new CfnOutput(this, 'CustomDomainTarget', {
          value: hooks.customDomain.regionalDomainName,
          description: 'Point the domain at this name in your DNS (a CNAME, or an alias)',
        });
      }
    }
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

  /**
   * `-c domainName=hooks.example.com -c certificateArn=<ACM ARN, this region>` puts the webhook on
   * that domain; `-c hostedZoneId=Z… -c hostedZoneName=example.com` creates its DNS records too,
   * and `-c disableExecuteApiEndpoint=true` leaves only the domain answering.
   */
  private webhookDomain(): WebhookDomainOptions | undefined {
    const context = (key: string) => this.node.tryGetContext(key) as string | boolean | undefined;
    const [domainName, certificateArn, hostedZoneId, hostedZoneName] = [
      'domainName',
      'certificateArn',
      'hostedZoneId',
      'hostedZoneName',
    ].map((key) => context(key)?.toString());
    if (!domainName && !certificateArn && !hostedZoneId && !hostedZoneName) return undefined;
    if (!domainName || !certificateArn) {
      throw new Error('The ready stack: a custom domain needs both -c domainName=<host> and -c certificateArn=<ACM ARN>.');
    }
    if (!hostedZoneId !== !hostedZoneName) {
      throw new Error('The ready stack: give -c hostedZoneId and -c hostedZoneName together, or neither (no DNS records).');
    }
    return {
      domainName,
      certificate: acm.Certificate.fromCertificateArn(this, 'Certificate', certificateArn),
      hostedZone:
        hostedZoneId && hostedZoneName
          ? route53.HostedZone.fromHostedZoneAttributes(this, 'HostedZone', { hostedZoneId, zoneName: hostedZoneName })
          : undefined,
      disableExecuteApiEndpoint: String(context('disableExecuteApiEndpoint')) === 'true',
    };
  }
}

/** The app with the same rule packs the tests run: a new, unacknowledged finding stops the synth. */
export function readyApp(props?: AppProps): App {
  const app = new App(props);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
  new ReplicateWebhooksStack(app, (app.node.tryGetContext('stackName') as string | undefined) ?? 'ReplicateWebhooks', {
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });
  return app;
}
