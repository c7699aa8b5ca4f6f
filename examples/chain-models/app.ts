/**
 * Chain two models: when a `black-forest-labs/flux-schnell` prediction succeeds, start
 * `black-forest-labs/flux-kontext-pro` on its archived image, with this deployment's webhook URL,
 * so the second result is verified and archived like the first.
 *
 *   npx cdk synth --app 'npx tsx examples/chain-models/app.ts' \
 *     -c replicateApiTokenSecret=replicate/api-token
 */
import { App, CfnOutput, Duration, RemovalPolicy, Stack, type AppProps, type StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { join } from 'node:path';
import { CompletionKind, ReplicateWebhooks } from 'replicate-webhooks-cdk';
import { CHAIN_ENV, parseModelReference } from './settings';

/** The chain: which model's success starts which model, and with what input. */
export interface ChainStep {
  /** The model whose succeeded predictions start the next one (`owner/name`). */
  readonly from: string;
  /** `owner/name` (an official model, run by name) or `owner/name:version`. */
  readonly next: string;
  /** The next model's input field that receives the archived file's URL. */
  readonly fileInput: string;
  /** The rest of the next model's input. */
  readonly input?: Record<string, unknown>;
}

export const DEFAULT_CHAIN: ChainStep = {
  from: 'black-forest-labs/flux-schnell',
  next: 'black-forest-labs/flux-kontext-pro',
  fileInput: 'input_image',
  input: { prompt: 'Make it a watercolour painting', output_format: 'png' },
};

export interface ChainModelsStackProps extends StackProps {
  /** A secret holding the Replicate API token (plain, or JSON `{"token": "r8_..."}`). */
  readonly tokenSecretName: string;
  readonly chain?: ChainStep;
}

export class ChainModelsStack extends Stack {
  readonly webhooks: ReplicateWebhooks;
  readonly startNextModel: nodejs.NodejsFunction;

  constructor(scope: Construct, id: string, props: ChainModelsStackProps) {
    super(scope, id, props);
    const chain = props.chain ?? DEFAULT_CHAIN;
    // A typo fails the synth, not the first chained prediction.
    if (parseModelReference(chain.from).version) throw new Error(`chain.from is matched on the model's name: ${chain.from}`);
    const next = parseModelReference(chain.next);
    // The next model's successes would start it again, and again: a loop that bills every turn.
    if (`${next.owner}/${next.name}` === chain.from) throw new Error(`chain.next is chain.from (${chain.from}): that would loop`);
    const token = secretsmanager.Secret.fromSecretNameV2(this, 'ReplicateApiToken', props.tokenSecretName);
    const bus = new events.EventBus(this, 'Completions');
    // The token also turns on the reconciler: a chained prediction whose webhook is lost is still archived.
    this.webhooks = new ReplicateWebhooks(this, 'Hooks', { eventBus: bus, replicateApiToken: token });

    // EventBridge delivers at least once: a claim per source prediction keeps a duplicate from running the model twice.
    const claims = new dynamodb.TableV2(this, 'ChainClaims', {
      partitionKey: { name: 'sourcePredictionId', type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: 'expiresAt',
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const deadLetters = new sqs.Queue(this, 'ChainDeadLetters', { retentionPeriod: Duration.days(14), enforceSSL: true });

    this.startNextModel = new nodejs.NodejsFunction(this, 'StartNextModel', {
      entry: join(__dirname, 'handler.ts'),
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      timeout: Duration.seconds(30),
      memorySize: 256,
      environment: {
        [CHAIN_ENV.tokenSecretId]: token.secretName,
        [CHAIN_ENV.nextModel]: chain.next,
        [CHAIN_ENV.nextInputField]: chain.fileInput,
        [CHAIN_ENV.nextInput]: JSON.stringify(chain.input ?? {}),
        [CHAIN_ENV.webhookUrl]: this.webhooks.webhookUrl,
        [CHAIN_ENV.claimsTable]: claims.tableName,
      },
      // Function errors (Replicate down, a refused token) are retried twice, then parked here.
      retryAttempts: 2,
      deadLetterQueue: deadLetters,
      // esbuild from node_modules, no Docker. The SDK is bundled too: the version tested is the version run.
      bundling: { minify: true, externalModules: [] },
    });
    token.grantRead(this.startNextModel);
    this.webhooks.grantReadArchive(this.startNextModel);
    claims.grant(this.startNextModel, 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem');

    this.webhooks.onCompletionEvent('StartNextModelRule', {
      description: `Starts ${chain.next} when a ${chain.from} prediction succeeds`,
      statuses: ['succeeded'],
      models: [chain.from],
      // A training names its trainer as its model: only predictions start the next one.
      kinds: [CompletionKind.PREDICTION],
      // The archive keeps the file, so a late start is still a good start: retry delivery for a day.
      target: new targets.LambdaFunction(this.startNextModel, {
        retryAttempts: 185,
        maxEventAge: Duration.hours(24),
        deadLetterQueue: deadLetters,
      }),
    });

    new CfnOutput(this, 'WebhookUrl', { value: this.webhooks.webhookUrl });
    new CfnOutput(this, 'ChainDeadLetterQueueUrl', { value: deadLetters.queueUrl });
  }
}

export function chainModelsApp(props?: AppProps): App {
  const app = new App(props);
  new ChainModelsStack(app, 'ReplicateChainModels', {
    tokenSecretName: (app.node.tryGetContext('replicateApiTokenSecret') as string | undefined) ?? 'replicate/api-token',
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });
  return app;
}

if (require.main === module) chainModelsApp();
