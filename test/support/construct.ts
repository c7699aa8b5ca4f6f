/** The construct synthesized in a stack of its own, as test/lib/replicate-webhooks.*.test.ts read it. */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { ReplicateWebhooks, type ReplicateWebhooksProps } from '../../lib';
import { TEMPLATE_RULES_AS_ERRORS } from './cdk';

/** Work to do on the construct once it exists (subscriptions, grants), queued by `configure`. */
export const pending: Array<(hooks: ReplicateWebhooks) => void> = [];

export function synth(props?: ReplicateWebhooksProps, configure?: (stack: Stack) => ReplicateWebhooksProps) {
  const app = new App({ context: { 'aws:cdk:enable-asset-metadata': true, ...TEMPLATE_RULES_AS_ERRORS } });
  const stack = new Stack(app, 'Test', { env: { account: '111111111111', region: 'eu-west-1' } });
  pending.length = 0;
  const hooks = new ReplicateWebhooks(stack, 'Hooks', configure ? configure(stack) : props);
  for (const action of pending) action(hooks);
  return { app, stack, hooks, template: Template.fromStack(stack) };
}
