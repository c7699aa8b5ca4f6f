/**
 * How `--stack` recognises the construct: by the logical ids CDK gives its archiver function and
 * dead-letter queue, read here from a real synthesis (one construct, nested in another: its id is
 * the path's; local-mode.test.ts has two in a stack).
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Construct } from 'constructs';
import { findConstructs, type StackResource } from '../../../cli/operate/stack';
import { ReplicateWebhooks } from '../../../lib';

test('a ReplicateWebhooks in a stack, by its path-made id, with its archiver and dead-letter queue', () => {
  const app = new App();
  const stack = new Stack(app, 'Operated', { env: { account: '111111111111', region: 'eu-west-1' } });
  new ReplicateWebhooks(new Construct(stack, 'Team'), 'Webhooks');
  const resources: StackResource[] = Object.entries(
    Template.fromStack(stack).toJSON().Resources as Record<string, { Type: string }>,
  ).map(([logicalId, resource]) => ({ logicalId, physicalId: `physical-${logicalId}`, type: resource.Type }));

  const found = findConstructs(resources);
  expect(found.map((construct) => construct.id)).toEqual(['TeamWebhooks']);
  for (const construct of found) {
    expect(construct.archiverFunction).toMatch(new RegExp(`^physical-${construct.id}Archiver[0-9A-F]{8}$`));
    expect(construct.deadLetterQueueUrl).toMatch(new RegExp(`^physical-${construct.id}ArchiveDeadLetterQueue[0-9A-F]{8}$`));
  }
});

test('a stack without one: nothing found, whatever else it holds', () => {
  expect(
    findConstructs([
      { logicalId: 'ArchiverBucket1A2B3C4D', physicalId: 'b', type: 'AWS::S3::Bucket' },
      { logicalId: 'MyArchiverServiceRole1A2B3C4D', physicalId: 'r', type: 'AWS::IAM::Role' },
      { logicalId: 'MyArchiver', physicalId: 'f', type: 'AWS::Lambda::Function' },
    ]),
  ).toEqual([]);
});
