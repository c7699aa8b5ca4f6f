/**
 * cdk-nag acknowledgements, through CDK's own `Validations` API (no dependency on cdk-nag).
 * Each carries its reason in words; the test suite checks that.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

export function acknowledge(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

/**
 * Acknowledges the IAM5 finding cdk-nag reports for a wildcard resource. The finding id embeds
 * the resource as cdk-nag prints it (`<LogicalId.Attr>` for GetAtt, `<Name>` for Ref), so it is
 * derived from the resolved ARN rather than written by hand.
 */
export function acknowledgeWildcardResource(scope: IConstruct, arn: string, reason: string): void {
  acknowledge(scope, `AwsSolutions-IAM5[Resource::${printResource(Stack.of(scope).resolve(arn))}]`, reason);
}

function printResource(value: unknown): string {
  if (typeof value === 'string') return value;
  const intrinsic = value as { 'Fn::Join'?: [string, unknown[]]; 'Fn::GetAtt'?: string[]; Ref?: string };
  if (intrinsic['Fn::Join']) return intrinsic['Fn::Join'][1].map(printResource).join(intrinsic['Fn::Join'][0]);
  if (intrinsic['Fn::GetAtt']) return `<${intrinsic['Fn::GetAtt'].join('.')}>`;
  if (intrinsic.Ref) return `<${intrinsic.Ref}>`;
  return JSON.stringify(value);
}

/*
 * The findings this construct acknowledges, in one place, each with the reason it does not apply.
 * The construct calls these where it creates the resource.
 */

export function acknowledgeSigningSecret(secret: IConstruct): void {
  acknowledge(
    secret,
    'AwsSolutions-SMG4',
    'The signing key is issued by Replicate and can only be rotated there; the verifier picks up a new value without a restart.',
  );
}

export function acknowledgeArchiveBucketWithoutAccessLogs(bucket: IConstruct): void {
  acknowledge(
    bucket,
    'AwsSolutions-S1',
    "Only this construct's Lambdas write to the archive; pass bucketProps.serverAccessLogsBucket to turn on server access logs.",
  );
}

export function acknowledgeWebhookRoute(route: IConstruct): void {
  acknowledge(
    route,
    'AwsSolutions-APIG4',
    'Replicate cannot send AWS credentials or tokens; every request is authenticated by its Standard Webhooks HMAC signature in the verifier.',
  );
}

/** A queue that is itself where failures end up: a DLQ of its own would only move the problem. */
export function acknowledgeTerminalQueue(queue: IConstruct, reason: string): void {
  acknowledge(queue, 'AwsSolutions-SQS3', reason);
  acknowledge(queue, 'Serverless-SQSRedrivePolicy', reason);
}

export function acknowledgeVerifier(verifier: IConstruct, spillObjectsArn: string): void {
  acknowledge(
    verifier,
    'Serverless-LambdaDLQ',
    'API Gateway invokes the verifier synchronously, and a DLQ only receives asynchronous invocations; a failure answers 5xx and Replicate retries.',
  );
  acknowledgeSpillWrites(
    verifier,
    spillObjectsArn,
    'payloads too large for a table item are written under it, one object per webhook.',
  );
}

/** The one wildcard a writer of spilled payloads holds: put under the spill folder, nothing else. */
function acknowledgeSpillWrites(writer: IConstruct, spillObjectsArn: string, why: string): void {
  const reason = `grantPut on the spill folder only: ${why}`;
  acknowledge(writer, 'AwsSolutions-IAM5[Action::s3:Abort*]', reason);
  acknowledgeWildcardResource(writer, spillObjectsArn, reason);
}

export function acknowledgeArchiver(
  archiver: IConstruct,
  options: { readonly folderObjectArns: readonly string[]; readonly publishesToEncryptedTopic: boolean },
): void {
  if (options.publishesToEncryptedTopic) {
    acknowledge(
      archiver,
      'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
      "Publishing to an encrypted topic needs data keys from the topic's KMS key; the grant is on that one key only.",
    );
  }
  const reason =
    "Scoped to this construct's folders of the archive bucket: outputs are written under predictions/, spilled payloads are read from webhook-payloads/.";
  acknowledge(archiver, 'AwsSolutions-IAM5[Action::s3:Abort*]', reason);
  for (const arn of options.folderObjectArns) acknowledgeWildcardResource(archiver, arn, reason);
  acknowledge(
    archiver,
    'Serverless-LambdaEventSourceMappingDestination',
    "An SQS event source takes no on-failure destination; the archive queue's redrive policy sends predictions that failed every try to archiveDeadLetterQueue.",
  );
  acknowledge(
    archiver,
    'Serverless-LambdaDLQ',
    "The archive queue's redrive policy sends predictions that failed every try to archiveDeadLetterQueue; a function DLQ only serves asynchronous invocations.",
  );
}

const CUSTOMER_KEY_REASON =
  "CDK's KMS grants for the customer managed key of the table, bucket, queues or topics; scoped to that key, no other.";

export function acknowledgeArchiveForwarder(forwarder: IConstruct): void {
  acknowledge(
    forwarder,
    'Serverless-LambdaDLQ',
    "Its table stream event source invokes it synchronously, and a function DLQ only serves asynchronous invocations; batches that fail every retry are described in archiveFailureQueue, the event source's on-failure destination.",
  );
}

export function acknowledgeReconcileSchedule(rule: IConstruct): void {
  acknowledge(
    rule,
    'Serverless-EventBusDLQ',
    'The schedule carries no data: an invocation that could not be delivered is replaced by the next run, which does the same work.',
  );
}

export function acknowledgeReconciler(reconciler: IConstruct, spillObjectsArn: string): void {
  acknowledge(
    reconciler,
    'Serverless-LambdaDLQ',
    'A scheduled, idempotent run: the next run does the same work, so a failed invocation needs no dead-letter queue; failures are alarmed.',
  );
  acknowledgeSpillWrites(
    reconciler,
    spillObjectsArn,
    'a recovered terminal payload too large for a table item is written under it, as the verifier does.',
  );
}

/** What every function of the construct shares: the basic execution role, KMS grants, tracing. */
export function acknowledgeHandlerFunction(
  fn: IConstruct,
  options: { readonly customerManagedKey: boolean; readonly tracing: boolean },
): void {
  if (options.customerManagedKey) {
    acknowledge(fn, 'AwsSolutions-IAM5[Action::kms:ReEncrypt*]', CUSTOMER_KEY_REASON);
    acknowledge(fn, 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]', CUSTOMER_KEY_REASON);
  }
  acknowledge(
    fn,
    'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    "The AWS managed basic execution policy only allows writing the function's own CloudWatch logs.",
  );
  if (options.tracing) {
    acknowledge(
      fn,
      'AwsSolutions-IAM5[Resource::*]',
      'X-Ray PutTraceSegments and PutTelemetryRecords support no resource-level permissions; this is the policy Lambda adds for tracing.',
    );
  } else {
    acknowledge(
      fn,
      'Serverless-LambdaTracing',
      'X-Ray tracing costs money per trace and is off by default; set tracing: true to turn it on.',
    );
  }
}
