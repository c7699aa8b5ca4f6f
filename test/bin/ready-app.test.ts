/**
 * The ready app synthesizes as `cdk synth` runs it: with cdk.json's context (every currently
 * recommended feature flag, CloudFormation's own template rules as errors) and the cdk-nag packs.
 */
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import * as cxapi from 'aws-cdk-lib/cx-api';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ReplicateWebhooksStack, readyApp } from '../../bin/ready-app';

const cdkJson = JSON.parse(readFileSync(join(__dirname, '..', '..', 'cdk.json'), 'utf8')) as { context: Record<string, unknown> };

test('cdk.json sets every currently recommended feature flag, and template validation', () => {
  expect(cdkJson.context).toMatchObject(cxapi.CURRENTLY_RECOMMENDED_FLAGS);
  expect(cdkJson.context['@aws-cdk/core:validateAgainstDefaultRules']).toBe(true);
});

test('the ready stack synthesizes with that context: no error, the one warning that no token means no reconciler, the outputs an operator needs', () => {
  const app = readyApp({ context: cdkJson.context });
  // The synth prints its warnings, as `cdk deploy` shows them to the operator.
  const printed = jest.spyOn(console, 'error').mockImplementation(() => undefined);
  const assembly = app.synth();
  expect(printed.mock.calls.flat().join('\n')).toContain('replicate-webhooks:noReconciler');
  const stack = app.node.children.find((child) => child instanceof ReplicateWebhooksStack) as ReplicateWebhooksStack;
  // Reading the annotations synthesizes again, and prints again.
  const annotations = Annotations.fromStack(stack);
  printed.mockRestore();
  expect(annotations.findError('*', Match.anyValue())).toEqual([]);
  // Left for the operator to read: without a token, missed deliveries stay missed.
  expect(annotations.findWarning('*', Match.anyValue()).map((warning) => String(warning.entry.data))).toEqual([
    expect.stringMatching(/^No replicateApiToken: .* \[ack: replicate-webhooks:noReconciler\]$/),
  ]);
  const outputs = Object.keys(assembly.getStackByName(stack.stackName).template.Outputs);
  expect(outputs).toEqual(
    expect.arrayContaining([
      'WebhookUrl',
      'SigningSecretArn',
      'ArchiveBucketName',
      'StateTableName',
      'ArchiveDeadLetterQueueUrl',
    ]),
  );
});

test('CloudFormation template rules are enforced: a template that breaks one fails the synth', () => {
  // With the flag, aws-cdk-lib reports a rule failure as an error instead of a warning.
  const app = readyApp({ context: cdkJson.context });
  const stack = app.node.children.find((child) => child instanceof ReplicateWebhooksStack) as ReplicateWebhooksStack;
  const archiver = stack.node.findAll().find((c) => c.node.path.endsWith('Hooks/Archiver/Resource'))!;
  (archiver as unknown as { addPropertyOverride(path: string, value: unknown): void }).addPropertyOverride('Timeout', 1200);
  expect(() => app.synth()).toThrow();
});

test('with a token secret named in the context, the reconciler is there, and still no error or warning', () => {
  const app = readyApp({ context: { ...cdkJson.context, replicateApiTokenSecret: 'replicate/api-token' } });
  app.synth();
  const stack = app.node.children.find((child) => child instanceof ReplicateWebhooksStack) as ReplicateWebhooksStack;
  const annotations = Annotations.fromStack(stack);
  expect(annotations.findError('*', Match.anyValue())).toEqual([]);
  expect(annotations.findWarning('*', Match.anyValue())).toEqual([]);
  expect(stack.node.findAll().some((child) => child.node.path.endsWith('Hooks/Reconciler'))).toBe(true);
});

describe('a custom domain from the context', () => {
  const DOMAIN = {
    domainName: 'hooks.example.com',
    certificateArn: 'arn:aws:acm:eu-west-1:111111111111:certificate/0f3e8c7a',
  };
  const synthesize = (context: Record<string, string>) => {
    const app = readyApp({ context: { ...cdkJson.context, replicateApiTokenSecret: 'replicate/api-token', ...context } });
    const assembly = app.synth();
    const stack = app.node.children.find((child) => child instanceof ReplicateWebhooksStack) as ReplicateWebhooksStack;
    const template = assembly.getStackByName(stack.stackName).template as {
      Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
      Outputs: Record<string, { Value: unknown }>;
    };
    const annotations = Annotations.fromStack(stack);
    expect(annotations.findError('*', Match.anyValue())).toEqual([]);
    expect(annotations.findWarning('*', Match.anyValue())).toEqual([]);
    const ofType = (type: string) => Object.values(template.Resources).filter((resource) => resource.Type === type);
    return { template, ofType };
  };

  test('with a zone: the domain, its records, the domain URL as WebhookUrl and the API URL beside it; cdk-nag passes', () => {
    const { template, ofType } = synthesize({ ...DOMAIN, hostedZoneId: 'Z0123456789ABC', hostedZoneName: 'example.com' });
    expect(ofType('AWS::ApiGatewayV2::DomainName')).toHaveLength(1);
    expect(
      ofType('AWS::Route53::RecordSet')
        .map((record) => record.Properties.Type)
        .sort(),
    ).toEqual(['A', 'AAAA']);
    expect(template.Outputs.WebhookUrl.Value).toBe('https://hooks.example.com/webhook');
    expect(JSON.stringify(template.Outputs.ExecuteApiWebhookUrl.Value)).toContain('ApiEndpoint');
    expect(template.Outputs).not.toHaveProperty('CustomDomainTarget');
    expect(ofType('AWS::ApiGatewayV2::Api')[0].Properties.DisableExecuteApiEndpoint).toBe(false);
  });

  test('without a zone: no records, and the name to point the domain at; the endpoint disabled on request', () => {
    const { template, ofType } = synthesize({ ...DOMAIN, disableExecuteApiEndpoint: 'true' });
    expect(ofType('AWS::Route53::RecordSet')).toEqual([]);
    expect(JSON.stringify(template.Outputs.CustomDomainTarget.Value)).toContain('RegionalDomainName');
    expect(ofType('AWS::ApiGatewayV2::Api')[0].Properties.DisableExecuteApiEndpoint).toBe(true);
  });

  test.each([
    [
      'a domain without its certificate',
      { domainName: DOMAIN.domainName },
      /needs both -c domainName=<host> and -c certificateArn/,
    ],
    [
      'a certificate without its domain',
      { certificateArn: DOMAIN.certificateArn },
      /needs both -c domainName=<host> and -c certificateArn/,
    ],
    [
      'a zone id without its name',
      { ...DOMAIN, hostedZoneId: 'Z0123456789ABC' },
      /give -c hostedZoneId and -c hostedZoneName together/,
    ],
  ])('%s is refused', (_name, context, message) => {
    expect(() => readyApp({ context: { ...cdkJson.context, ...context } })).toThrow(message);
  });
});
