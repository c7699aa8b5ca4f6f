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
