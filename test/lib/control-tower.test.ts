/**
 * AWS Control Tower's proactive controls, as `@cdklabs/cdk-validator-cfnguard` bundles them: CDK's
 * policy validation runs cfn-guard on each synthesized template, offline. Which controls the
 * construct meets by default, which the strict props satisfy, and that nothing fails with them but
 * the controls `CONTROL_TOWER_NOT_APPLICABLE` names, each with its reason.
 */
import { CfnGuardValidator } from '@cdklabs/cdk-validator-cfnguard';
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CONTROL_TOWER_NOT_APPLICABLE, ReplicateWebhooks, type ReplicateWebhooksProps } from '../../lib';
import { TEMPLATE_RULES_AS_ERRORS } from '../support/cdk';
import { composeConsumerStack } from '../support/composition';

const README = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
const RULES = join(
  dirname(require.resolve('@cdklabs/cdk-validator-cfnguard/package.json')),
  'rules',
  'control-tower',
  'cfn-guard',
);
const ENV = { account: '111111111111', region: 'eu-west-1' };

const NOT_APPLICABLE = CONTROL_TOWER_NOT_APPLICABLE.map((control) => control.id).sort();

/** Met by the defaults: each was a finding once, fixed where everyone benefits and it costs nothing. */
const FIXED_BY_DEFAULT = {
  'ct-kms-pr-3': "the topic key's policy denies kms:CreateGrant but to AWS services acting for a resource",
  'ct-lambda-pr-2': "the verifier's invoke permission names the account as well as the API",
  'ct-s3-pr-11': 'the archive bucket is versioned, noncurrent versions expire after 30 days',
  'ct-sqs-pr-1': 'the two dead-letter destinations say so in a redrive allow policy',
};

/** Met with a prop, for accounts that require them: what the strict props set. */
const OPT_IN = {
  'ct-cloudwatch-pr-2': 'logRetention',
  'ct-cloudwatch-pr-3': 'logEncryptionKey',
  'ct-s3-pr-2': 'serverAccessLogsBucket',
  'ct-s3-pr-10': 'encryptionKey',
};

/** The props of the README's "Compliance" section, for a stack in a strict account. */
function strictProps(stack: Stack): ReplicateWebhooksProps {
  const key = new kms.Key(stack, 'Key', { enableKeyRotation: true });
  // CT.KMS.PR.3 holds for the consumer's own key too: only AWS services may create grants on it.
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: ['kms:CreateGrant'],
      resources: ['*'],
      conditions: { BoolIfExists: { 'kms:GrantIsForAWSResource': 'false', 'aws:PrincipalIsAWSService': 'false' } },
    }),
  );
  return {
    encryptionKey: key,
    logEncryptionKey: key,
    logRetention: logs.RetentionDays.ONE_YEAR,
    // The account's access log bucket, made elsewhere (log delivery needs SSE-S3 on it).
    bucketProps: { serverAccessLogsBucket: s3.Bucket.fromBucketName(stack, 'AccessLogs', 'access-logs-111111111111-eu-west-1') },
  };
}

const outdirs: string[] = [];
afterAll(() => {
  for (const directory of outdirs) rmSync(directory, { recursive: true, force: true });
});

function newApp(): { app: App; outdir: string } {
  const outdir = mkdtempSync(join(tmpdir(), 'control-tower-'));
  outdirs.push(outdir);
  return { app: new App({ outdir, context: TEMPLATE_RULES_AS_ERRORS }), outdir };
}

/** `[CT.S3.PR.10]: Require …` → `ct-s3-pr-10`, the rule's file name (what `disabledRules` takes). */
function controlId(description: string): string {
  const control = /^\[(CT\.[A-Z0-9]+\.PR\.\d+)\]/.exec(description)?.[1];
  if (!control) throw new Error(`not a Control Tower finding: ${description}`);
  return control.toLowerCase().replace(/\./g, '-');
}

/** Findings by control: each control's violating construct paths, below the stack. */
type Findings = Record<string, string[]>;

/**
 * Synthesizes with the Control Tower rules as a validation plugin and reads its report. Synthesis
 * fails when a control fails; anything else that fails it is rethrown.
 */
function controlTowerFindings(app: App, outdir: string, stack: Stack): Findings {
  Validations.of(app).addPlugins(new CfnGuardValidator());
  let failure: unknown;
  try {
    app.synth();
  } catch (error) {
    failure = error;
  }
  const reportFile = join(outdir, 'validation-report.json');
  if (!existsSync(reportFile)) {
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- the synth's own failure, as it was
    if (failure) throw failure;
    return {};
  }
  const report = JSON.parse(readFileSync(reportFile, 'utf8')) as {
    pluginReports: Array<{
      violations: Array<{ description: string; violatingConstructs: Array<{ constructPath: string }> }>;
    }>;
  };
  const findings: Findings = {};
  for (const violation of report.pluginReports.flatMap((plugin) => plugin.violations)) {
    const paths = (findings[controlId(violation.description)] ??= []);
    for (const { constructPath } of violation.violatingConstructs) {
      // cfn-guard sometimes adds an entry with no resource beside the real one; it says nothing more.
      if (constructPath) paths.push(constructPath.slice(stack.node.path.length + 1));
    }
  }
  // eslint-disable-next-line @typescript-eslint/only-throw-error -- the synth's own failure, as it was
  if (failure && Object.keys(findings).length === 0) throw failure;
  return Object.fromEntries(
    Object.entries(findings)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([control, paths]) => [control, paths.sort()]),
  );
}

const controls = (findings: Findings) => Object.keys(findings).sort();
const within = (findings: Findings, prefix: string, inside: boolean): Findings =>
  Object.fromEntries(
    Object.entries(findings)
      .map(([control, paths]) => [control, paths.filter((path) => path.startsWith(prefix) === inside)] as const)
      .filter(([, paths]) => paths.length > 0),
  );

describe('Control Tower proactive controls', () => {
  test('the list of controls that cannot apply names real controls, each with a reason in words', () => {
    for (const control of CONTROL_TOWER_NOT_APPLICABLE) {
      const service = control.id.split('-')[1];
      expect(existsSync(join(RULES, service === 'kms' ? 'keymanagementservice' : service, `${control.id}.guard`))).toBe(true);
      expect(control.reason.split(' ').length).toBeGreaterThanOrEqual(20);
    }
    for (const id of [...Object.keys(FIXED_BY_DEFAULT), ...Object.keys(OPT_IN)]) expect(NOT_APPLICABLE).not.toContain(id);
  });

  test('the README shows each of them with its reason, and the props of the strict account', () => {
    const section = README.slice(
      README.indexOf('\n## Compliance\n'),
      README.indexOf('\n## ', README.indexOf('\n## Compliance\n') + 1),
    );
    expect(section.length).toBeGreaterThan(20);
    for (const control of CONTROL_TOWER_NOT_APPLICABLE) {
      expect(section).toContain(`\`${control.id}\``);
      expect(section).toContain(control.reason);
    }
    for (const id of [...Object.keys(FIXED_BY_DEFAULT), ...Object.keys(OPT_IN)]) expect(section).toContain(`\`${id}\``);
    for (const prop of Object.values(OPT_IN)) expect(section).toContain(`${prop}:`);
  });

  describe('the default construct', () => {
    const { app, outdir } = newApp();
    const stack = new Stack(app, 'Defaults', { env: ENV });
    new ReplicateWebhooks(stack, 'Hooks');
    const findings = controlTowerFindings(app, outdir, stack);

    test('fails only the controls that cannot apply and those the strict props turn on', () => {
      expect(controls(findings)).toEqual([...NOT_APPLICABLE, ...Object.keys(OPT_IN)].sort());
      for (const id of Object.keys(FIXED_BY_DEFAULT)) expect(findings[id]).toBeUndefined();
    });

    test('each finding is on a resource of the construct', () => {
      expect(within(findings, 'Hooks/', false)).toEqual({});
      expect(findings['ct-lambda-pr-3']).toEqual(expect.arrayContaining(['Hooks/Archiver/Resource', 'Hooks/Verifier/Resource']));
    });
  });

  describe('a custom domain with a zone, the execute-api endpoint disabled', () => {
    const { app, outdir } = newApp();
    const stack = new Stack(app, 'Domain', { env: ENV });
    new ReplicateWebhooks(stack, 'Hooks', {
      ...strictProps(stack),
      domain: {
        domainName: 'hooks.example.com',
        certificate: acm.Certificate.fromCertificateArn(
          stack,
          'Certificate',
          `arn:aws:acm:${ENV.region}:${ENV.account}:certificate/abc`,
        ),
        hostedZone: route53.HostedZone.fromHostedZoneAttributes(stack, 'Zone', {
          hostedZoneId: 'Z0123456789ABC',
          zoneName: 'example.com',
        }),
        disableExecuteApiEndpoint: true,
      },
    });
    const findings = controlTowerFindings(app, outdir, stack);

    test('adds no finding: with the strict props, none but the ones that cannot apply', () => {
      expect(controls(findings)).toEqual(NOT_APPLICABLE);
      const onTheDomain = Object.values(findings)
        .flat()
        .filter((path) => path.startsWith('Hooks/CustomDomain'));
      expect(onTheDomain).toEqual([]);
    });
  });

  describe('the strict props', () => {
    const { app, outdir } = newApp();
    const stack = new Stack(app, 'Strict', { env: ENV });
    new ReplicateWebhooks(stack, 'Hooks', strictProps(stack));
    const findings = controlTowerFindings(app, outdir, stack);

    test('fail no control but the ones that cannot apply', () => {
      expect(controls(findings)).toEqual(NOT_APPLICABLE);
      expect(within(findings, 'Hooks/', false)).toEqual({});
    });
  });

  describe('the composition stack (test/lib/replicate-webhooks.composition.test.ts)', () => {
    const composed = composeConsumerStack({ nag: false });
    outdirs.push(composed.outdir);
    const findings = controlTowerFindings(composed.app, composed.outdir, composed.stack);
    const hooksPrefix = `${composed.hooks.node.id}/`;

    // It passes an encryption key and a versioned bucket with access logs, but keeps the default
    // log retention and CloudWatch Logs' own encryption.
    test("the construct's resources fail the controls that cannot apply and the log controls it did not opt into", () => {
      expect(controls(within(findings, hooksPrefix, true))).toEqual(
        [
          ...NOT_APPLICABLE.filter((id) => id !== 'ct-s3-pr-4' && id !== 'ct-s3-pr-9'),
          'ct-cloudwatch-pr-2',
          'ct-cloudwatch-pr-3',
        ].sort(),
      );
    });

    // The consumer's choices, not the construct's: the given bucket and key, its own function,
    // queues and log bucket. Listed so that a new finding anywhere in the stack fails the suite.
    test("the consumer's own resources fail these, no more", () => {
      expect(within(findings, hooksPrefix, false)).toEqual({
        'ct-cloudwatch-pr-2': ['NotifierLogs/Resource'],
        'ct-cloudwatch-pr-3': ['NotifierLogs/Resource'],
        'ct-kms-pr-3': ['AppKey/Resource'],
        'ct-lambda-pr-3': ['Notifier/Resource'],
        'ct-s3-pr-10': ['AccessLogs/Resource'],
        'ct-s3-pr-11': ['AccessLogs/Resource'],
        'ct-s3-pr-2': ['AccessLogs/Resource'],
        'ct-s3-pr-3': ['DataLake/Resource'],
        'ct-s3-pr-4': ['AccessLogs/Resource', 'DataLake/Resource'],
        'ct-s3-pr-6': ['DataLake/Resource'],
        'ct-s3-pr-9': ['AccessLogs/Resource', 'DataLake/Resource'],
        'ct-sqs-pr-1': ['ImagesDlq/Resource', 'NotifierDlq/Resource', 'UndeliveredNotifications/Resource'],
      });
    });
  });
});
