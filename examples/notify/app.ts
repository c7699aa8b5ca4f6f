/**
 * Tell people when a prediction fails, or succeeds after a long run, and when a training (a
 * fine-tune) finishes with its new version: by email (an SNS topic) and
 * in a chat channel (an incoming-webhook URL held in a secret), through EventBridge rules whose
 * input transformers write a message a person can read.
 *
 *   npx cdk synth --app 'npx tsx examples/notify/app.ts' \
 *     -c notifyEmail=ml-team@example.com -c chatWebhookSecret=replicate/chat-webhook -c longPredictionSeconds=300
 */
import { App, Duration, Stack, type AppProps, type StackProps } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { join } from 'node:path';
import { CompletionKind, ReplicateWebhooks } from 'replicate-webhooks-cdk';
import { CHAT_WEBHOOK_SECRET_ENV } from './settings';

export const DEFAULT_LONG_PREDICTION_SECONDS = 300;

export interface NotifyStackProps extends StackProps {
  /** Who gets the emails (they confirm the subscription once). */
  readonly email: string;
  /** A secret holding the chat service's incoming-webhook URL (plain, or JSON `{"url": "..."}`). */
  readonly chatWebhookSecretName: string;
  /** A succeeded prediction whose `metrics.predict_time` is above this is "long". @default 300 */
  readonly longPredictionSeconds?: number;
}

// Values from the event. Text around them only: `<` and `>` cannot be escaped in an input template.
const field = (path: string) => events.EventField.fromPath(path);
const predictionId = field('$.detail.predictionId');
const model = field('$.detail.model');
const completedAt = field('$.detail.completedAt');
const predictTime = field('$.detail.metrics.predict_time');
const error = field('$.detail.error');
// The manifest: the payload as Replicate sent it, and every archived file (always there, unlike
// `archive.prediction`, which only the construct's `predictionDocument` writes).
const manifest = field('$.detail.archive.manifest.s3Uri');
const firstOutput = field('$.detail.outputs[0].s3Uri');
const trainedVersion = field('$.detail.trainedVersion');

export class NotifyStack extends Stack {
  readonly webhooks: ReplicateWebhooks;
  readonly emailTopic: sns.Topic;
  readonly postToChat: nodejs.NodejsFunction;
  readonly failedRule: events.Rule;
  readonly longRule: events.Rule;
  readonly trainedRule: events.Rule;

  constructor(scope: Construct, id: string, props: NotifyStackProps) {
    super(scope, id, props);
    const longSeconds = props.longPredictionSeconds ?? DEFAULT_LONG_PREDICTION_SECONDS;
    if (!Number.isFinite(longSeconds) || longSeconds <= 0) {
      throw new Error(`longPredictionSeconds must be a positive number of seconds, got ${longSeconds}`);
    }
    const bus = new events.EventBus(this, 'Completions');
    this.webhooks = new ReplicateWebhooks(this, 'Hooks', { eventBus: bus });

    // Events EventBridge could not deliver, and chat posts that failed every retry.
    const deadLetters = new sqs.Queue(this, 'NotifyDeadLetters', { retentionPeriod: Duration.days(14), enforceSSL: true });

    const emails = (this.emailTopic = new sns.Topic(this, 'PredictionEmails', {
      displayName: 'Replicate predictions',
      enforceSSL: true,
    }));
    emails.addSubscription(new subscriptions.EmailSubscription(props.email));

    const chatWebhook = secretsmanager.Secret.fromSecretNameV2(this, 'ChatWebhookUrl', props.chatWebhookSecretName);
    const postToChat = (this.postToChat = new nodejs.NodejsFunction(this, 'PostToChat', {
      entry: join(__dirname, 'post-to-chat.ts'),
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      timeout: Duration.seconds(15),
      memorySize: 128,
      environment: { [CHAT_WEBHOOK_SECRET_ENV]: chatWebhook.secretName },
      retryAttempts: 2,
      deadLetterQueue: deadLetters,
      // Only the Secrets Manager client, which the Node.js runtime provides: nothing to bundle but this file.
      bundling: { minify: true },
    }));
    chatWebhook.grantRead(postToChat);

    const delivery = { retryAttempts: 24, maxEventAge: Duration.hours(6), deadLetterQueue: deadLetters };
    const notify = (rule: events.Rule, email: string, chat: Record<string, unknown>) => {
      rule.addTarget(new targets.SnsTopic(emails, { ...delivery, message: events.RuleTargetInput.fromText(email) }));
      // Slack's incoming-webhook body; Discord wants `content`, Google Chat `text` too.
      rule.addTarget(new targets.LambdaFunction(postToChat, { ...delivery, event: events.RuleTargetInput.fromObject(chat) }));
    };

    this.failedRule = this.webhooks.onCompletionEvent('FailedPredictions', {
      description: 'Tells people when a Replicate prediction fails',
      statuses: ['failed'],
      kinds: [CompletionKind.PREDICTION],
    });
    notify(
      this.failedRule,
      [
        `Replicate prediction ${predictionId} (${model}) failed at ${completedAt}.`,
        '',
        `Error: ${error}`,
        '',
        `The prediction as Replicate sent it, with its archived files: ${manifest}`,
      ].join('\n'),
      {
        text: `:x: Prediction ${predictionId} (${model}) failed`,
        // A whole JSON value, not text inside a string: inserted as JSON, it stays valid whatever the error holds.
        attachments: [{ color: 'danger', text: error }],
      },
    );

    this.longRule = this.webhooks.onCompletionEvent('LongPredictions', {
      description: `Tells people when a Replicate prediction succeeds after more than ${longSeconds} s`,
      statuses: ['succeeded'],
      kinds: [CompletionKind.PREDICTION],
      eventPattern: { detail: { metrics: { predict_time: events.Match.greaterThan(longSeconds) } } },
    });
    notify(
      this.longRule,
      [
        `Replicate prediction ${predictionId} (${model}) is done: it ran ${predictTime} s.`,
        '',
        `Its first output, archived: ${firstOutput}`,
        `The prediction as Replicate sent it, with its archived files: ${manifest}`,
      ].join('\n'),
      { text: `:hourglass: Prediction ${predictionId} (${model}) is done after ${predictTime} s: ${firstOutput}` },
    );

    // A finished fine-tune: its new version is ready to run, its weights are in the archive.
    this.trainedRule = this.webhooks.onCompletionEvent('FinishedTrainings', {
      description: 'Tells people when a Replicate training succeeds, with the version it made',
      statuses: ['succeeded'],
      kinds: [CompletionKind.TRAINING],
    });
    notify(
      this.trainedRule,
      [
        `Replicate training ${predictionId} (${model}) is done: the new version is ${trainedVersion}.`,
        '',
        `Its weights, archived: ${firstOutput}`,
        `The training as Replicate sent it, with its archived files: ${manifest}`,
      ].join('\n'),
      { text: `:tada: Training ${predictionId} is done: run ${trainedVersion} (weights: ${firstOutput})` },
    );
  }
}

export function notifyApp(props?: AppProps): App {
  const app = new App(props);
  const context = (name: string) => app.node.tryGetContext(name) as string | undefined;
  const email = context('notifyEmail');
  if (!email) throw new Error('Set the address to notify: -c notifyEmail=you@example.com');
  const longSeconds = context('longPredictionSeconds');
  new NotifyStack(app, 'ReplicateNotify', {
    email,
    chatWebhookSecretName: context('chatWebhookSecret') ?? 'replicate/chat-webhook',
    longPredictionSeconds: longSeconds === undefined ? undefined : Number(longSeconds),
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });
  return app;
}

if (require.main === module) notifyApp();
