/**
 * The two example apps (examples/), synthesized in-process as `cdk synth` would run them: their
 * rules' patterns, targets, input transformers and the functions' permissions. The chain app's
 * function is really bundled, with the local esbuild (no Docker, no network).
 */
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChainModelsStack, chainModelsApp, DEFAULT_CHAIN } from '../../examples/chain-models/app';
import { CHAIN_ENV } from '../../examples/chain-models/settings';
import { NotifyStack, notifyApp } from '../../examples/notify/app';
import { CHAT_WEBHOOK_SECRET_ENV } from '../../examples/notify/settings';
import { COMPLETION_EVENT_SOURCE, completionEventDetailType } from '../../lambda/shared/completion-event';
import { buildCompletionMessage, objectLocation, type CompletionMessage } from '../../lambda/shared/completion-message';
import { CompletionKind } from '../../lambda/shared/prediction';
import { matchesPattern } from '../../local/aws/event-filter';

const stackOf = <T>(app: App, type: new (...args: never[]) => T): T =>
  app.node.children.find((child) => child instanceof type) as T;

type Statement = { Action: string | string[]; Resource: unknown; Effect: string };

/** Every statement of every policy attached to the function's role, and the role's managed policies. */
function permissions(template: Template, functionLogicalId: string) {
  const fn = Object.values(template.findResources('AWS::Lambda::Function')).length
    ? template.findResources('AWS::Lambda::Function')[functionLogicalId]
    : undefined;
  const roleId = (fn!.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
  const statements = Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((policy) => (policy.Properties.Roles as Array<{ Ref: string }>).some((role) => role.Ref === roleId))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Statement[]);
  const managed = template.findResources('AWS::IAM::Role')[roleId].Properties.ManagedPolicyArns as unknown[];
  return { statements, managed: JSON.stringify(managed) };
}

const logicalId = (stack: Stack, construct: { node: { defaultChild?: unknown } }) =>
  stack.getLogicalId(construct.node.defaultChild as never);

/** A completion event as the archiver puts it, its detail built by the archiver's own function. */
function completionEvent(status: 'succeeded' | 'failed', fields: { predictTime?: number; error?: string } = {}) {
  const at = (key: string) => objectLocation('archive-bucket', key);
  const { message } = buildCompletionMessage(
    {
      id: 'q7rm2d5ah5rj00cmzjkrxqg3a4',
      status,
      model: 'black-forest-labs/flux-schnell',
      version: 'hidden',
      completedAt: '2026-11-30T10:15:02.345Z',
      output: ['https://replicate.delivery/xezq/abc/out-0.webp'],
      error: fields.error ?? null,
      metrics: { predict_time: fields.predictTime ?? 1.5 },
    },
    {
      predictionId: 'q7rm2d5ah5rj00cmzjkrxqg3a4',
      status,
      archivedAt: '2026-11-30T10:15:04.000Z',
      files:
        status === 'succeeded'
          ? [
              {
                source: 'https://replicate.delivery/xezq/abc/out-0.webp',
                paths: ['[0]'],
                ...at('predictions/q7rm2d5ah5rj00cmzjkrxqg3a4/outputs/0-out-0.webp'),
                bytes: 1234,
                sha256: '00'.repeat(32),
                contentType: 'image/webp',
              },
            ]
          : [],
      failures: [],
    },
    at('predictions/q7rm2d5ah5rj00cmzjkrxqg3a4/manifest.json'),
  );
  return { source: COMPLETION_EVENT_SOURCE, 'detail-type': completionEventDetailType(status), detail: message };
}

/** A finished training's event, as the archiver puts it: its weights archived under trainings/. */
function trainingEvent(status: 'succeeded' | 'failed') {
  const at = (key: string) => objectLocation('archive-bucket', key);
  const weights = 'https://replicate.delivery/xezq/w/trained_model.tar';
  const { message } = buildCompletionMessage(
    {
      id: 'zt4mbcxp2hrj00cmzk0rq8pv6c',
      kind: CompletionKind.TRAINING,
      status,
      model: 'ostris/flux-dev-lora-trainer',
      version: 'e440909d3512c31646ee2e0c7d6f6f4923224863a6a10c494606e79fb5844497',
      output: status === 'succeeded' ? { version: 'alice/my-flux:4f2b1c', weights } : null,
      error: null,
    },
    {
      predictionId: 'zt4mbcxp2hrj00cmzk0rq8pv6c',
      kind: 'training',
      status,
      archivedAt: '2026-11-30T11:15:04.000Z',
      files:
        status === 'succeeded'
          ? [
              {
                source: weights,
                paths: ['.weights'],
                ...at('trainings/zt4mbcxp2hrj00cmzk0rq8pv6c/outputs/0-trained_model.tar'),
                bytes: 186_000_000,
                sha256: '00'.repeat(32),
                contentType: 'application/x-tar',
              },
            ]
          : [],
      failures: [],
    },
    at('trainings/zt4mbcxp2hrj00cmzk0rq8pv6c/manifest.json'),
  );
  return { source: COMPLETION_EVENT_SOURCE, 'detail-type': completionEventDetailType(status, 'training'), detail: message };
}

/**
 * What a target receives, at worst: each `<name>` replaced by the value at its path, inserted as it
 * is inside a string (no escaping), and as its JSON where it stands for a whole JSON value.
 */
function render(
  transformer: { InputPathsMap: Record<string, string>; InputTemplate: string },
  event: { detail: CompletionMessage },
) {
  const valueAt = (path: string) =>
    path
      .replace(/^\$\./, '')
      .split(/\.|\[(\d+)\]/)
      .filter((part) => part !== undefined && part !== '')
      .reduce<unknown>((value, part) => (value as Record<string, unknown> | undefined)?.[part], event);
  let output = '';
  let inString = false;
  const template = transformer.InputTemplate;
  for (let index = 0; index < template.length; index++) {
    const character = template[index];
    const placeholder = /^<([^>]+)>/.exec(template.slice(index));
    if (placeholder) {
      expect(transformer.InputPathsMap).toHaveProperty([placeholder[1]]);
      const value = valueAt(transformer.InputPathsMap[placeholder[1]]);
      output += inString ? String(value) : JSON.stringify(value);
      index += placeholder[0].length - 1;
      continue;
    }
    if (character === '\\') {
      output += template.slice(index, index + 2);
      index++;
      continue;
    }
    if (character === '"') inString = !inString;
    output += character;
  }
  return JSON.parse(output) as unknown;
}

describe('chain-models', () => {
  let stack: ChainModelsStack;
  let template: Template;
  let assemblyDirectory: string;

  beforeAll(() => {
    // Asset metadata, as the CDK CLI asks for it, says where the bundle went.
    assemblyDirectory = mkdtempSync(join(tmpdir(), 'chain-models-'));
    const app = chainModelsApp({
      outdir: assemblyDirectory,
      context: { replicateApiTokenSecret: 'team/replicate-token', 'aws:cdk:enable-asset-metadata': true },
    });
    app.synth();
    stack = stackOf(app, ChainModelsStack);
    template = Template.fromStack(stack);
  });
  afterAll(() => rmSync(assemblyDirectory, { recursive: true, force: true }));

  test('a rule on the completion bus matches succeeded predictions of the first model, and starts the function', () => {
    const rules = template.findResources('AWS::Events::Rule', { Properties: { EventBusName: Match.anyValue() } });
    expect(Object.values(rules)).toHaveLength(1);
    const [rule] = Object.values(rules);
    expect(rule.Properties.EventBusName).toEqual({ Ref: logicalId(stack, stack.webhooks.completionEventBus as never) });
    expect(rule.Properties.EventPattern).toEqual({
      source: [COMPLETION_EVENT_SOURCE],
      'detail-type': [completionEventDetailType('succeeded')],
      detail: { model: [DEFAULT_CHAIN.from] },
    });
    expect(rule.Properties.Targets).toEqual([
      expect.objectContaining({
        Arn: { 'Fn::GetAtt': [logicalId(stack, stack.startNextModel), 'Arn'] },
        RetryPolicy: { MaximumEventAgeInSeconds: 86_400, MaximumRetryAttempts: 185 },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [expect.stringMatching(/^ChainDeadLetters/), 'Arn'] } },
      }),
    ]);
    // Evaluated as local mode evaluates rules: the first model's successes only.
    const pattern = rule.Properties.EventPattern as Record<string, unknown>;
    const succeeded = completionEvent('succeeded');
    expect(matchesPattern(succeeded, pattern)).toBe(true);
    expect(matchesPattern({ ...succeeded, detail: { ...succeeded.detail, model: 'owner/other-model' } }, pattern)).toBe(false);
    expect(matchesPattern(completionEvent('failed'), pattern)).toBe(false);
    // A training of that model is no prediction to chain from.
    expect(
      matchesPattern(
        { ...trainingEvent('succeeded'), detail: { ...trainingEvent('succeeded').detail, model: DEFAULT_CHAIN.from } },
        pattern,
      ),
    ).toBe(false);
    // The whole event goes to the function: it needs the detail as the archiver wrote it.
    expect(rule.Properties.Targets[0]).not.toHaveProperty('InputTransformer');
    expect(rule.Properties.Targets[0]).not.toHaveProperty('Input');
  });

  test("the function gets this deployment's webhook URL, the next model and the token secret's name", () => {
    const fn = template.findResources('AWS::Lambda::Function')[logicalId(stack, stack.startNextModel)];
    expect(fn.Properties.Environment.Variables).toEqual({
      [CHAIN_ENV.tokenSecretId]: 'team/replicate-token',
      [CHAIN_ENV.nextModel]: DEFAULT_CHAIN.next,
      [CHAIN_ENV.nextInputField]: DEFAULT_CHAIN.fileInput,
      [CHAIN_ENV.nextInput]: JSON.stringify(DEFAULT_CHAIN.input),
      [CHAIN_ENV.webhookUrl]: stack.resolve(stack.webhooks.webhookUrl),
      [CHAIN_ENV.claimsTable]: { Ref: expect.stringMatching(/^ChainClaims/) },
    });
    expect(fn.Properties).toMatchObject({ Runtime: 'nodejs24.x', Architectures: ['arm64'], Timeout: 30 });
  });

  test('the function may read the archive and the token secret, write its claims and park failures: nothing else', () => {
    const { statements, managed } = permissions(template, logicalId(stack, stack.startNextModel));
    const actions = (statement: Statement) => [statement.Action].flat().sort();
    expect(statements.every((statement) => statement.Effect === 'Allow')).toBe(true);
    expect(statements.map(actions)).toEqual(
      expect.arrayContaining([
        ['s3:GetBucket*', 's3:GetObject*', 's3:List*'],
        ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
        ['dynamodb:DeleteItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
        ['sqs:SendMessage'],
      ]),
    );
    // grantReadArchive: one statement per archive folder (predictions/, trainings/).
    expect(statements).toHaveLength(5);
    const resources = (prefix: string) =>
      JSON.stringify(
        statements.filter((statement) => actions(statement).some((action) => action.startsWith(prefix))).map((s) => s.Resource),
      );
    const bucket = logicalId(stack, stack.webhooks.bucket);
    expect(resources('s3:')).toContain(bucket);
    expect(resources('s3:')).toContain(`"/${stack.webhooks.archivePrefix}predictions/*"`);
    expect(resources('secretsmanager:')).toContain(':secret:team/replicate-token-??????');
    expect(resources('dynamodb:')).toMatch(/"ChainClaims[A-Z0-9]+","Arn"/);
    expect(resources('sqs:')).toMatch(/"ChainDeadLetters[A-Z0-9]+","Arn"/);
    expect(managed).toContain('AWSLambdaBasicExecutionRole');
    expect(managed.match(/arn:/g)).toHaveLength(1);
  });

  test('the handler was bundled with the local esbuild, SDK included, and nothing else in the asset', () => {
    const fn = template.findResources('AWS::Lambda::Function')[logicalId(stack, stack.startNextModel)];
    const assetPath = fn.Metadata['aws:asset:path'] as string;
    const bundle = join(assemblyDirectory, assetPath, 'index.js');
    expect(existsSync(bundle)).toBe(true);
    const code = readFileSync(bundle, 'utf8');
    expect(code).toContain('sourcePredictionId');
    expect(code).toContain('webhook_events_filter');
    // The clients are inside: nothing resolves from the runtime's copy (only the SDK's optional CRT signers are left out).
    expect(code).toContain('X-Amz-Signature');
    expect(code).not.toMatch(/require\(["']@aws-sdk\/(client-|s3-request-presigner)/);
  });
});

test('a chain naming a model wrongly, or looping on one, fails the synth, not the first chained prediction', () => {
  const chain = (step: Partial<typeof DEFAULT_CHAIN>) => () =>
    new ChainModelsStack(new App(), 'Chain', { tokenSecretName: 'token', chain: { ...DEFAULT_CHAIN, ...step } });
  expect(chain({ next: 'flux-kontext-pro' })).toThrow(/owner\/name or owner\/name:version/);
  expect(chain({ next: 'owner/name:' })).toThrow(/owner\/name or owner\/name:version/);
  expect(chain({ from: 'black-forest-labs/flux-schnell:abc123' })).toThrow(/matched on the model's name/);
  expect(chain({ next: `${DEFAULT_CHAIN.from}:abc123` })).toThrow(/would loop/);
});

describe('notify', () => {
  const context = { notifyEmail: 'ml-team@example.com', chatWebhookSecret: 'team/slack-webhook', 'aws:cdk:bundling-stacks': [] };
  let stack: NotifyStack;
  let template: Template;

  beforeAll(() => {
    const app = notifyApp({ context });
    stack = stackOf(app, NotifyStack);
    template = Template.fromStack(stack);
  });

  const targetsOf = (rule: { node: { defaultChild?: unknown } }) =>
    template.findResources('AWS::Events::Rule')[logicalId(stack, rule)].Properties.Targets as Array<{
      Arn: unknown;
      InputTransformer: { InputPathsMap: Record<string, string>; InputTemplate: string };
      DeadLetterConfig?: unknown;
      RetryPolicy?: unknown;
    }>;
  const topicRef = () => ({ Ref: logicalId(stack, stack.emailTopic) });
  const chatArn = () => ({ 'Fn::GetAtt': [logicalId(stack, stack.postToChat), 'Arn'] });

  test('failed predictions: a rule matching only the failed detail-type', () => {
    const rule = template.findResources('AWS::Events::Rule')[logicalId(stack, stack.failedRule)];
    expect(rule.Properties.EventPattern).toEqual({
      source: [COMPLETION_EVENT_SOURCE],
      'detail-type': [completionEventDetailType('failed')],
    });
    expect(matchesPattern(completionEvent('failed'), rule.Properties.EventPattern)).toBe(true);
    expect(matchesPattern(completionEvent('succeeded'), rule.Properties.EventPattern)).toBe(false);
  });

  test('long predictions: succeeded ones whose predict_time is above the threshold, 300 s unless the context says', () => {
    const rule = template.findResources('AWS::Events::Rule')[logicalId(stack, stack.longRule)];
    expect(rule.Properties.EventPattern).toEqual({
      source: [COMPLETION_EVENT_SOURCE],
      'detail-type': [completionEventDetailType('succeeded')],
      detail: { metrics: { predict_time: [{ numeric: ['>', 300] }] } },
    });
    const matches = (event: unknown) => matchesPattern(event, rule.Properties.EventPattern);
    expect(matches(completionEvent('succeeded', { predictTime: 301.2 }))).toBe(true);
    expect(matches(completionEvent('succeeded', { predictTime: 300 }))).toBe(false);
    expect(matches(completionEvent('failed', { predictTime: 900 }))).toBe(false);
    // The rule's own resource, resolved without synthesizing the whole app again.
    const shorter = stackOf(notifyApp({ context: { ...context, longPredictionSeconds: '90' } }), NotifyStack);
    expect(shorter.resolve((shorter.longRule.node.defaultChild as events.CfnRule).eventPattern).detail).toEqual({
      metrics: { predict_time: [{ numeric: ['>', 90] }] },
    });
    expect(() => notifyApp({ context: { ...context, longPredictionSeconds: 'soon' } })).toThrow(/longPredictionSeconds/);
  });

  test('a failed prediction reads well by email and in chat', () => {
    const event = completionEvent('failed', { error: 'CUDA out of memory' });
    const [email, chat] = targetsOf(stack.failedRule);
    expect(email.Arn).toEqual(topicRef());
    expect(render(email.InputTransformer, event)).toBe(
      [
        'Replicate prediction q7rm2d5ah5rj00cmzjkrxqg3a4 (black-forest-labs/flux-schnell) failed at 2026-11-30T10:15:02.345Z.',
        '',
        'Error: CUDA out of memory',
        '',
        'The prediction as Replicate sent it, with its archived files: s3://archive-bucket/predictions/q7rm2d5ah5rj00cmzjkrxqg3a4/manifest.json',
      ].join('\n'),
    );
    expect(chat.Arn).toEqual(chatArn());
    expect(render(chat.InputTransformer, event)).toEqual({
      text: ':x: Prediction q7rm2d5ah5rj00cmzjkrxqg3a4 (black-forest-labs/flux-schnell) failed',
      attachments: [{ color: 'danger', text: 'CUDA out of memory' }],
    });
  });

  test('an error with quotes and line breaks still makes a valid chat message, carried exactly', () => {
    const traceback = 'Traceback (most recent call last):\n  File "predict.py", line 3\nValueError: bad "prompt" \\ value';
    const [, chat] = targetsOf(stack.failedRule);
    expect(render(chat.InputTransformer, completionEvent('failed', { error: traceback }))).toMatchObject({
      attachments: [{ text: traceback }],
    });
  });

  test('a long prediction reads well by email and in chat, with its archived output', () => {
    const event = completionEvent('succeeded', { predictTime: 412.7 });
    const [email, chat] = targetsOf(stack.longRule);
    expect(email.Arn).toEqual(topicRef());
    expect(render(email.InputTransformer, event)).toBe(
      [
        'Replicate prediction q7rm2d5ah5rj00cmzjkrxqg3a4 (black-forest-labs/flux-schnell) is done: it ran 412.7 s.',
        '',
        'Its first output, archived: s3://archive-bucket/predictions/q7rm2d5ah5rj00cmzjkrxqg3a4/outputs/0-out-0.webp',
        'The prediction as Replicate sent it, with its archived files: s3://archive-bucket/predictions/q7rm2d5ah5rj00cmzjkrxqg3a4/manifest.json',
      ].join('\n'),
    );
    expect(chat.Arn).toEqual(chatArn());
    expect(render(chat.InputTransformer, event)).toEqual({
      text: ':hourglass: Prediction q7rm2d5ah5rj00cmzjkrxqg3a4 (black-forest-labs/flux-schnell) is done after 412.7 s: s3://archive-bucket/predictions/q7rm2d5ah5rj00cmzjkrxqg3a4/outputs/0-out-0.webp',
    });
  });

  test('finished trainings: a rule matching succeeded trainings only, telling the new version and where the weights are', () => {
    const rule = template.findResources('AWS::Events::Rule')[logicalId(stack, stack.trainedRule)];
    expect(rule.Properties.EventPattern).toEqual({
      source: [COMPLETION_EVENT_SOURCE],
      'detail-type': [completionEventDetailType('succeeded', 'training')],
    });
    expect(matchesPattern(trainingEvent('succeeded'), rule.Properties.EventPattern)).toBe(true);
    expect(matchesPattern(trainingEvent('failed'), rule.Properties.EventPattern)).toBe(false);
    expect(matchesPattern(completionEvent('succeeded'), rule.Properties.EventPattern)).toBe(false);
    // And the predictions' rules leave trainings alone.
    for (const predictionsRule of [stack.failedRule, stack.longRule]) {
      const pattern = template.findResources('AWS::Events::Rule')[logicalId(stack, predictionsRule)].Properties.EventPattern;
      expect(matchesPattern(trainingEvent('failed'), pattern)).toBe(false);
    }
    const [email, chat] = targetsOf(stack.trainedRule);
    expect(email.Arn).toEqual(topicRef());
    expect(render(email.InputTransformer, trainingEvent('succeeded'))).toBe(
      [
        'Replicate training zt4mbcxp2hrj00cmzk0rq8pv6c (ostris/flux-dev-lora-trainer) is done: the new version is alice/my-flux:4f2b1c.',
        '',
        'Its weights, archived: s3://archive-bucket/trainings/zt4mbcxp2hrj00cmzk0rq8pv6c/outputs/0-trained_model.tar',
        'The training as Replicate sent it, with its archived files: s3://archive-bucket/trainings/zt4mbcxp2hrj00cmzk0rq8pv6c/manifest.json',
      ].join('\n'),
    );
    expect(render(chat.InputTransformer, trainingEvent('succeeded'))).toEqual({
      text: ':tada: Training zt4mbcxp2hrj00cmzk0rq8pv6c is done: run alice/my-flux:4f2b1c (weights: s3://archive-bucket/trainings/zt4mbcxp2hrj00cmzk0rq8pv6c/outputs/0-trained_model.tar)',
    });
  });

  test('every target retries and parks what it cannot deliver', () => {
    for (const target of [...targetsOf(stack.failedRule), ...targetsOf(stack.longRule), ...targetsOf(stack.trainedRule)]) {
      expect(target.RetryPolicy).toEqual({ MaximumEventAgeInSeconds: 21_600, MaximumRetryAttempts: 24 });
      expect(target.DeadLetterConfig).toEqual({ Arn: { 'Fn::GetAtt': [expect.stringMatching(/^NotifyDeadLetters/), 'Arn'] } });
    }
  });

  test('the email address is subscribed to the topic', () => {
    template.resourceCountIs('AWS::SNS::Subscription', 1);
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ml-team@example.com',
      TopicArn: topicRef(),
    });
  });

  test('the chat function may read the webhook secret and park failures: nothing else', () => {
    const chatId = chatArn()['Fn::GetAtt'][0];
    const fn = template.findResources('AWS::Lambda::Function')[chatId];
    expect(fn.Properties.Environment.Variables).toEqual({ [CHAT_WEBHOOK_SECRET_ENV]: 'team/slack-webhook' });
    const { statements } = permissions(template, chatId);
    expect(statements.map((statement) => [statement.Action].flat().sort())).toEqual([
      ['sqs:SendMessage'],
      ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
    ]);
    expect(JSON.stringify(statements[1].Resource)).toContain(':secret:team/slack-webhook-??????');
  });

  test('without an address to notify, the app says what to set', () => {
    expect(() => notifyApp({ context: { chatWebhookSecret: 'x' } })).toThrow(/-c notifyEmail=/);
  });
});
