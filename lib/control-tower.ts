/**
 * AWS Control Tower proactive controls (the rules `@cdklabs/cdk-validator-cfnguard` bundles) that
 * cannot apply to this construct, each with the reason, in one place: the test suite holds the
 * construct to exactly this list and the README renders it.
 */

/** A Control Tower proactive control that the construct does not meet by design, and why. */
export interface ControlTowerException {
  /** The control's rule id, as `CfnGuardValidator`'s `disabledRules` takes it (e.g. `ct-lambda-pr-3`). */
  readonly id: string;
  /** What the control requires, in Control Tower's words. */
  readonly requirement: string;
  /** Which of the construct's resources it reports. */
  readonly resources: string;
  /** Why it cannot apply, and what to do if an account enforces it all the same. */
  readonly reason: string;
}

/**
 * The controls the construct fails with every prop set for a strict account, and the reason for
 * each. An account that enforces one of these as a proactive control cannot deploy the construct
 * as it is: the reasons say what that would take.
 */
export const CONTROL_TOWER_NOT_APPLICABLE: readonly ControlTowerException[] = [
  {
    id: 'ct-apigateway-pr-5',
    requirement: 'HTTP API routes use an IAM, JWT or Lambda authorizer',
    resources: 'the webhook route',
    reason:
      'Replicate sends no AWS credentials or tokens: it signs each webhook with an HMAC over the body (Standard Webhooks), ' +
      'and a Lambda authorizer never sees the body, so the verifier checks the signature and refuses everything else with 401.',
  },
  {
    id: 'ct-lambda-pr-3',
    requirement: 'Lambda functions run in a customer-managed VPC',
    resources: 'the verifier, forwarder and archiver functions',
    reason:
      'The functions reach no private resource: only AWS APIs and, for the archiver, replicate.delivery on the internet. ' +
      'In a VPC they would need a NAT gateway (from about $33 a month per zone) and endpoints for the same traffic, with no address to protect.',
  },
  {
    id: 'ct-s3-pr-4',
    requirement: 'S3 buckets have event notifications configured',
    resources: 'the archive bucket',
    reason:
      'Nothing consumes object events: the completion topic announces each prediction once all its files are written, which no object event can say. ' +
      'CDK configures bucket notifications through a custom-resource Lambda of its own; add them to the bucket (or pass existingBucket) if you want them.',
  },
  {
    id: 'ct-s3-pr-9',
    requirement: 'S3 buckets have Object Lock turned on',
    resources: 'the archive bucket',
    reason:
      'Object Lock is a retention policy (a mode and a period during which no one can delete an archived file) that only you can choose; ' +
      'it cannot be turned off again. Set bucketProps.objectLockEnabled and objectLockDefaultRetention to turn it on.',
  },
];
