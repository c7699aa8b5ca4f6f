/**
 * `npx tsx scripts/cost-estimate.ts` prints the default construct's estimate in Markdown (the
 * README's cost section); `--reconciler` prints what the reconciler adds (the README's line after
 * it). The estimate itself is scripts/cost/estimate.ts.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { ReplicateWebhooks } from '../lib/replicate-webhooks';
import { estimate } from './cost/estimate';
import { reconcilerAddition } from './cost/markdown';

function synthesize(withToken: boolean) {
  const stack = new Stack(new App(), 'CostEstimate');
  new ReplicateWebhooks(stack, 'Hooks', {
    ...(withToken ? { replicateApiToken: secretsmanager.Secret.fromSecretNameV2(stack, 'Token', 'replicate/api-token') } : {}),
  });
  return estimate(Template.fromStack(stack));
}

const base = synthesize(false);
process.stdout.write(process.argv.includes('--reconciler') ? reconcilerAddition(base, synthesize(true)) : base.markdown);
