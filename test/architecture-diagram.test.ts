import { readFileSync } from 'node:fs';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { ReplicateWebhooks } from '../lib';
import { DIAGRAM_NODES, DIAGRAM_PATH, renderDiagram } from '../scripts/architecture-diagram';

/** Plumbing the picture leaves out on purpose: it would crowd the boxes that carry the flow. */
const NOT_DRAWN = new Set([
  'AWS::IAM::Role',
  'AWS::IAM::Policy',
  'AWS::Logs::LogGroup',
  'AWS::Lambda::Permission',
  'AWS::S3::BucketPolicy',
  'AWS::SNS::TopicPolicy',
  'AWS::SQS::QueuePolicy',
  'AWS::ApiGatewayV2::Stage',
  'AWS::ApiGatewayV2::Route',
  'AWS::ApiGatewayV2::Integration',
  'AWS::CDK::Metadata',
  'AWS::SNS::Subscription',
]);

function resourceTypeCounts(): Map<string, number> {
  const stack = new Stack(new App(), 'Diagram');
  new ReplicateWebhooks(stack, 'Hooks');
  const resources = Template.fromStack(stack).toJSON().Resources as Record<string, { Type: string }>;
  const counts = new Map<string, number>();
  for (const { Type } of Object.values(resources)) counts.set(Type, (counts.get(Type) ?? 0) + 1);
  return counts;
}

describe('docs/architecture.svg', () => {
  const counts = resourceTypeCounts();
  const drawn = new Set(DIAGRAM_NODES.flatMap((node) => node.resourceTypes));

  test('every significant resource the construct creates has a box', () => {
    const significant = [...counts.keys()].filter((type) => !NOT_DRAWN.has(type)).sort();
    expect(significant.filter((type) => !drawn.has(type))).toEqual([]);
  });

  test('every box stands for resources the construct creates', () => {
    expect([...drawn].filter((type) => !counts.has(type)).sort()).toEqual([]);
  });

  test('resources of one type that play different roles get a box each', () => {
    for (const type of ['AWS::Lambda::Function', 'AWS::SNS::Topic']) {
      const roles = DIAGRAM_NODES.filter((node) => node.resourceTypes.includes(type)).map((node) => node.role);
      expect(new Set(roles).size).toBe(roles.length);
      expect(roles).not.toContain(undefined);
      expect(roles).toHaveLength(counts.get(type) ?? 0);
    }
  });

  test('the committed picture is what the script draws now (run npx tsx scripts/architecture-diagram.ts)', () => {
    expect(readFileSync(DIAGRAM_PATH, 'utf8')).toBe(renderDiagram());
  });
});
