/**
 * The `eventBus` prop in the template: the archiver may put events on that bus only, rules from
 * `onCompletionEvent` match exactly what they say, and an alarm watches failed puts.
 * (test/lambda/archiver/handler.test.ts puts real events through a stand-in and evaluates these patterns.)
 */
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventsTargets from 'aws-cdk-lib/aws-events-targets';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { COMPLETION_EVENT_SOURCE, CompletionKind, ReplicateWebhooks } from '../../lib';
import { TEMPLATE_RULES_AS_ERRORS } from '../support/cdk';

function synth(withBus = true) {
  const app = new App({ context: TEMPLATE_RULES_AS_ERRORS });
  const stack = new Stack(app, 'Events', { env: { account: '111111111111', region: 'eu-west-1' } });
  const bus = withBus ? new events.EventBus(stack, 'Bus', { eventBusName: 'predictions' }) : undefined;
  const hooks = new ReplicateWebhooks(stack, 'Hooks', { eventBus: bus });
  return { app, stack, bus, hooks };
}

const ALL_DETAIL_TYPES = [
  'Replicate Prediction Succeeded',
  'Replicate Prediction Failed',
  'Replicate Prediction Canceled',
  'Replicate Prediction Aborted',
  'Replicate Training Succeeded',
  'Replicate Training Failed',
  'Replicate Training Canceled',
  'Replicate Training Aborted',
];

describe('with an event bus', () => {
  test('the archiver is told the bus and may put events on it, and on nothing else', () => {
    const { stack, bus, hooks } = synth();
    const template = Template.fromStack(stack);
    const busArn = stack.resolve(bus!.eventBusArn);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('announces'),
      Environment: { Variables: Match.objectLike({ EVENT_BUS_NAME: busArn }) },
    });
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (policy) => policy.Properties.PolicyDocument.Statement as Array<{ Action: string | string[]; Resource: unknown }>,
    );
    const puts = statements.filter((statement) => [statement.Action].flat().includes('events:PutEvents'));
    expect(puts).toEqual([expect.objectContaining({ Action: 'events:PutEvents', Effect: 'Allow', Resource: busArn })]);
    expect(hooks.completionEventBus).toBe(bus);
  });

  test('onCompletionEvent: a rule on that bus matching the statuses (detail-type) and models (detail.model) asked for', () => {
    const { stack, bus, hooks } = synth();
    const queue = new sqs.Queue(stack, 'Target');
    const rule = hooks.onCompletionEvent('FluxDone', {
      statuses: ['succeeded', 'failed'],
      models: ['black-forest-labs/flux-schnell'],
      kinds: [CompletionKind.PREDICTION],
      target: new eventsTargets.SqsQueue(queue),
      ruleName: 'flux-done',
      description: 'Flux predictions that finished',
    });
    hooks.onCompletionEvent('Everything');
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Events::Rule', {
      Name: 'flux-done',
      Description: 'Flux predictions that finished',
      EventBusName: stack.resolve(bus!.eventBusName),
      EventPattern: {
        source: [COMPLETION_EVENT_SOURCE],
        'detail-type': ['Replicate Prediction Succeeded', 'Replicate Prediction Failed'],
        detail: { model: ['black-forest-labs/flux-schnell'] },
      },
      Targets: [Match.objectLike({ Arn: stack.resolve(queue.queueArn) })],
    });
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { source: [COMPLETION_EVENT_SOURCE], 'detail-type': ALL_DETAIL_TYPES },
    });
    expect(rule).toBeInstanceOf(events.Rule);
  });

  test('extra pattern fields narrow the rule; ours cannot be overridden', () => {
    const { stack, hooks } = synth();
    hooks.onCompletionEvent('Long', {
      statuses: ['succeeded'],
      eventPattern: { source: ['someone-else'], detail: { metrics: { predict_time: [{ numeric: ['>', 60] }] } } },
    });
    Template.fromStack(stack).hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: [COMPLETION_EVENT_SOURCE],
        'detail-type': ['Replicate Prediction Succeeded', 'Replicate Training Succeeded'],
        detail: { metrics: { predict_time: [{ numeric: ['>', 60] }] } },
      },
    });
  });

  test('kinds select trainings alone (detail-type), and both when absent', () => {
    const { stack, hooks } = synth();
    hooks.onCompletionEvent('Trained', { kinds: [CompletionKind.TRAINING], statuses: ['succeeded'] });
    Template.fromStack(stack).hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { source: [COMPLETION_EVENT_SOURCE], 'detail-type': ['Replicate Training Succeeded'] },
    });
    expect(() => hooks.onCompletionEvent('Odd', { kinds: ['batch' as CompletionKind] })).toThrow(/kinds holds "batch"/);
  });

  test('a status that is never announced is refused at synth', () => {
    const { hooks } = synth();
    expect(() => hooks.onCompletionEvent('Bad', { statuses: ['processing'] })).toThrow(/terminal statuses/);
  });

  test('an alarm on failed puts, sent to the alarm topic', () => {
    const { stack, hooks } = synth();
    Template.fromStack(stack).hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'CompletionEventPutFailures',
      Statistic: 'Sum',
      Threshold: 1,
      AlarmActions: [stack.resolve(hooks.alarmTopic.topicArn)],
    });
  });

  test('cdk-nag: no unacknowledged findings in what the construct creates', () => {
    const { app, stack, hooks } = synth();
    // The target is the user's, set up as nag asks: a DLQ for events the target could not take.
    const deadLetters = new sqs.Queue(stack, 'TargetDeadLetters', { enforceSSL: true });
    for (const id of ['AwsSolutions-SQS3', 'Serverless-SQSRedrivePolicy']) {
      Validations.of(deadLetters).acknowledge({
        id,
        reason: 'This queue is the dead-letter queue of the rule target; nothing consumes it automatically.',
      });
    }
    const queue = new sqs.Queue(stack, 'Target', {
      enforceSSL: true,
      deadLetterQueue: { queue: deadLetters, maxReceiveCount: 3 },
    });
    hooks.onCompletionEvent('Everything', { target: new eventsTargets.SqsQueue(queue, { deadLetterQueue: deadLetters }) });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
    expect(() => app.synth()).not.toThrow();
  });
});

describe('without an event bus', () => {
  test('no permission, no setting, no alarm; onCompletionEvent says what is missing', () => {
    const { stack, hooks } = synth(false);
    const template = JSON.stringify(Template.fromStack(stack).toJSON());
    expect(template).not.toMatch(/events:PutEvents|EVENT_BUS_NAME|CompletionEventPutFailures/);
    expect(hooks.completionEventBus).toBeUndefined();
    expect(() => hooks.onCompletionEvent('Rule')).toThrow(/needs the eventBus prop/);
  });
});
