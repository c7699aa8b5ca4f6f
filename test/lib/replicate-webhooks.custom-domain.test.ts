/** The construct, synthesized: a custom domain for the webhook API. */
import { Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { ReplicateWebhooks, type ReplicateWebhooksProps } from '../../lib';
import { synth } from '../support/construct';

describe('a custom domain', () => {
  const CERTIFICATE_ARN = 'arn:aws:acm:eu-west-1:111111111111:certificate/0f3e8c7a-1111-2222-3333-444455556666';
  const withDomain = (
    domain: { zone?: boolean; disableExecuteApiEndpoint?: boolean } = {},
    props: (stack: Stack) => ReplicateWebhooksProps = () => ({}),
  ) =>
    synth(undefined, (stack) => ({
      ...props(stack),
      domain: {
        domainName: 'hooks.example.com',
        certificate: acm.Certificate.fromCertificateArn(stack, 'Certificate', CERTIFICATE_ARN),
        hostedZone: domain.zone
          ? route53.HostedZone.fromHostedZoneAttributes(stack, 'Zone', {
              hostedZoneId: 'Z0123456789ABC',
              zoneName: 'example.com',
            })
          : undefined,
        disableExecuteApiEndpoint: domain.disableExecuteApiEndpoint,
      },
    }));
  /** `{"Fn::GetAtt": [<the API>, "ApiEndpoint"]}` followed by the path: the API's own URL. */
  const executeApiUrl = (stack: Stack, hooks: ReplicateWebhooks, path = '/webhook') => ({
    'Fn::Join': ['', [{ 'Fn::GetAtt': [stack.getLogicalId(hooks.httpApi.node.defaultChild as never), 'ApiEndpoint'] }, path]],
  });

  test("without one: no domain, and the webhook URL is the API's own", () => {
    const { template, hooks, stack } = synth();
    expect(hooks.customDomain).toBeUndefined();
    template.resourceCountIs('AWS::ApiGatewayV2::DomainName', 0);
    template.resourceCountIs('AWS::ApiGatewayV2::ApiMapping', 0);
    expect(stack.resolve(hooks.webhookUrl)).toEqual(executeApiUrl(stack, hooks));
    expect(stack.resolve(hooks.executeApiWebhookUrl)).toEqual(executeApiUrl(stack, hooks));
    expect(
      template.findResources('AWS::ApiGatewayV2::Api')[stack.getLogicalId(hooks.httpApi.node.defaultChild as never)].Properties,
    ).not.toHaveProperty('DisableExecuteApiEndpoint');
  });

  test('with a zone: a regional TLS 1.2 domain mapped to the $default stage, A and AAAA aliases to it, and the webhook URL on it', () => {
    const { template, hooks, stack } = withDomain({ zone: true }, () => ({ webhookPath: '/hooks/replicate' }));
    const domainId = stack.getLogicalId(hooks.customDomain!.node.defaultChild as never);
    template.hasResourceProperties('AWS::ApiGatewayV2::DomainName', {
      DomainName: 'hooks.example.com',
      DomainNameConfigurations: [
        { CertificateArn: CERTIFICATE_ARN, EndpointType: 'REGIONAL', SecurityPolicy: 'TLS_1_2', IpAddressType: 'dualstack' },
      ],
    });
    template.resourceCountIs('AWS::ApiGatewayV2::ApiMapping', 1);
    template.hasResource('AWS::ApiGatewayV2::ApiMapping', {
      Properties: {
        ApiId: { Ref: stack.getLogicalId(hooks.httpApi.node.defaultChild as never) },
        DomainName: { Ref: domainId },
        Stage: '$default',
      },
      DependsOn: [stack.getLogicalId(hooks.stage.node.defaultChild as never)],
    });
    const records = Object.values(template.findResources('AWS::Route53::RecordSet')).map((record) => record.Properties);
    expect(records.map((record) => record.Type).sort()).toEqual(['A', 'AAAA']);
    for (const record of records) {
      expect(record).toEqual({
        Type: record.Type,
        HostedZoneId: 'Z0123456789ABC',
        Name: 'hooks.example.com.',
        AliasTarget: {
          DNSName: { 'Fn::GetAtt': [domainId, 'RegionalDomainName'] },
          HostedZoneId: { 'Fn::GetAtt': [domainId, 'RegionalHostedZoneId'] },
        },
      });
    }
    expect(hooks.webhookUrl).toBe('https://hooks.example.com/hooks/replicate');
    expect(stack.resolve(hooks.executeApiWebhookUrl)).toEqual(executeApiUrl(stack, hooks, '/hooks/replicate'));
    // Both answer until the execute-api endpoint is turned off on purpose.
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', { DisableExecuteApiEndpoint: Match.absent() });
  });

  test("the records name the domain itself, whatever the case of the zone's name", () => {
    for (const [domainName, zoneName] of [
      ['Hooks.Example.com', 'example.com'],
      ['hooks.eu.example.com', 'Example.COM.'],
    ]) {
      const { template } = synth(undefined, (stack) => ({
        domain: {
          domainName,
          certificate: acm.Certificate.fromCertificateArn(stack, 'Certificate', CERTIFICATE_ARN),
          hostedZone: route53.HostedZone.fromHostedZoneAttributes(stack, 'Zone', { hostedZoneId: 'Z0123456789ABC', zoneName }),
        },
      }));
      const names = Object.values(template.findResources('AWS::Route53::RecordSet')).map((record) => record.Properties.Name);
      expect(names).toEqual([`${domainName}.`, `${domainName}.`]);
    }
  });

  test('without a zone: the domain and its mapping, no records (DNS is yours)', () => {
    const { template, hooks } = withDomain();
    expect(hooks.customDomain).toBeDefined();
    template.resourceCountIs('AWS::ApiGatewayV2::DomainName', 1);
    template.resourceCountIs('AWS::ApiGatewayV2::ApiMapping', 1);
    template.resourceCountIs('AWS::Route53::RecordSet', 0);
    expect(hooks.webhookUrl).toBe('https://hooks.example.com/webhook');
  });

  test("disableExecuteApiEndpoint turns the API's own endpoint off; its URL is still known", () => {
    const { template, hooks, stack } = withDomain({ zone: true, disableExecuteApiEndpoint: true });
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', { DisableExecuteApiEndpoint: true });
    expect(stack.resolve(hooks.executeApiWebhookUrl)).toEqual(executeApiUrl(stack, hooks));
  });

  test.each([
    ['with the execute-api endpoint on', false],
    ['with it disabled', true],
  ])(
    "the reconciler's scope: the domain's URL, the execute-api URL and any more URLs (%s)",
    (_name, disableExecuteApiEndpoint) => {
      const { template, hooks, stack } = withDomain({ zone: true, disableExecuteApiEndpoint }, (scope) => ({
        replicateApiToken: secretsmanager.Secret.fromSecretNameV2(scope, 'Token', 'replicate/api-token'),
        reconciliation: { webhookUrls: ['https://old-proxy.example.org/webhook'] },
      }));
      const id = stack.getLogicalId(hooks.reconciler!.node.defaultChild as never);
      const variables = template.findResources('AWS::Lambda::Function')[id].Properties.Environment.Variables;
      expect(variables.WEBHOOK_URL).toBe('https://hooks.example.com/webhook');
      const apiEndpoint = { 'Fn::GetAtt': [stack.getLogicalId(hooks.httpApi.node.defaultChild as never), 'ApiEndpoint'] };
      expect(variables.WEBHOOK_URLS).toEqual({
        'Fn::Join': ['', [apiEndpoint, '/webhook,https://old-proxy.example.org/webhook']],
      });
    },
  );

  test('with the reconciler and no more URLs, the list holds the execute-api URL alone', () => {
    const { template, hooks, stack } = withDomain({}, (scope) => ({
      replicateApiToken: secretsmanager.Secret.fromSecretNameV2(scope, 'Token', 'replicate/api-token'),
    }));
    const id = stack.getLogicalId(hooks.reconciler!.node.defaultChild as never);
    const variables = template.findResources('AWS::Lambda::Function')[id].Properties.Environment.Variables;
    expect(variables.WEBHOOK_URL).toBe('https://hooks.example.com/webhook');
    expect(variables.WEBHOOK_URLS).toEqual(executeApiUrl(stack, hooks));
  });
});
