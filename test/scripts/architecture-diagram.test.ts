/**
 * docs/architecture.svg tells the truth about the construct, and docs/architecture-domain.svg
 * about the construct with a custom domain and a hosted zone. Each picture is read back from the
 * committed file (its boxes, their titles, where each arrow starts and ends), and compared with
 * what the synthesized template says: which resources exist, what role each plays, and which
 * one feeds which. The diagram's own model is never consulted, so a picture drawn from a stale
 * model fails here even when it is exactly what the script draws.
 */
import { readFileSync } from 'node:fs';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as route53 from 'aws-cdk-lib/aws-route53';
import { ReplicateWebhooks, type ReplicateWebhooksProps } from '../../lib';
import { DIAGRAM_PATH, DOMAIN_DIAGRAM_PATH, renderDiagram, type DiagramOptions } from '../../scripts/architecture-diagram';

// ── The picture, read back from SVG ───────────────────────────────────────────────────────────

interface Rect {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

interface Box extends Rect {
  readonly title: string;
  readonly details: string;
}

interface Arrow {
  readonly points: ReadonlyArray<readonly [number, number]>;
  readonly label: string;
  readonly labelRects: readonly Rect[];
  readonly dashed: boolean;
}

const unescape = (text: string) => text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
const attribute = (element: string, name: string) => new RegExp(`\\s${name}="([^"]*)"`).exec(element)?.[1];
const numberAttribute = (element: string, name: string) => Number(attribute(element, name));

function firstRect(group: string): Rect {
  const rect = /<rect[^>]*>/.exec(group)![0];
  return {
    x: numberAttribute(rect, 'x'),
    y: numberAttribute(rect, 'y'),
    w: numberAttribute(rect, 'width'),
    h: numberAttribute(rect, 'height'),
  };
}

function texts(group: string, className: string): Array<{ text: string; element: string }> {
  return [...group.matchAll(/<text([^>]*)>([^<]*)<\/text>/g)]
    .filter(([, attributes]) => attribute(attributes, 'class') === className)
    .map(([, element, text]) => ({ element, text: unescape(text) }));
}

/** Rough extent of a line of 12 px text; wide enough for the sans-serif fonts the SVG names. */
function textRect(element: string, text: string): Rect {
  const width = text.length * 6.6;
  const x = numberAttribute(element, 'x');
  const anchorMiddle = attribute(element, 'text-anchor') === 'middle';
  return { x: anchorMiddle ? x - width / 2 : x, y: numberAttribute(element, 'y') - 10, w: width, h: 13 };
}

function readPicture(svg: string): { boxes: Box[]; arrows: Arrow[]; panels: Rect[] } {
  const boxes: Box[] = [];
  const arrows: Arrow[] = [];
  const panels: Rect[] = [];
  for (const [, id, group] of svg.matchAll(/<g id="([^"]+)">([\s\S]*?)<\/g>/g)) {
    if (id === 'legend' || id === 'notes') {
      panels.push(firstRect(group));
      continue;
    }
    if (id.startsWith('node-')) {
      boxes.push({
        ...firstRect(group),
        title: texts(group, 'label')
          .map(({ text }) => text)
          .join(' '),
        details: texts(group, 'detail')
          .map(({ text }) => text)
          .join(' '),
      });
      continue;
    }
    for (const [path] of group.matchAll(/<path[^>]*marker-end[^>]*>/g)) {
      const labels = texts(group, 'edge-label');
      arrows.push({
        points: [...attribute(path, 'd')!.matchAll(/[ML](-?[\d.]+),(-?[\d.]+)/g)].map(
          ([, x, y]) => [Number(x), Number(y)] as const,
        ),
        label: labels.map(({ text }) => text).join(' '),
        labelRects: labels.map(({ element, text }) => textRect(element, text)),
        dashed: /\bdashed\b/.test(attribute(path, 'class') ?? ''),
      });
    }
  }
  return { boxes, arrows, panels };
}

const onBorder = ([x, y]: readonly [number, number], box: Rect) =>
  x >= box.x - 1 && x <= box.x + box.w + 1 && y >= box.y - 1 && y <= box.y + box.h + 1;

const overlaps = (a: Rect, b: Rect) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

/** Whether a horizontal or vertical segment runs through the inside of a box. */
function crosses([[x1, y1], [x2, y2]]: ReadonlyArray<readonly [number, number]>, box: Rect): boolean {
  const inset = { x: box.x + 1, y: box.y + 1, w: box.w - 2, h: box.h - 2 };
  return overlaps(
    { x: Math.min(x1, x2), y: Math.min(y1, y2), w: Math.abs(x2 - x1) || 0.01, h: Math.abs(y2 - y1) || 0.01 },
    inset,
  );
}

// ── What the picture must show, from the template ─────────────────────────────────────────────

interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, any>;
}

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
  'AWS::Lambda::EventSourceMapping',
  'AWS::CDK::Metadata',
  'AWS::SNS::Subscription',
]);

/** How a reader recognises each role in the picture: by the box's title. */
const TITLE: Record<string, RegExp> = {
  domain: /^Custom domain$/,
  api: /HTTP API/,
  verifier: /^Verifier Lambda$/,
  archiver: /^Archiver Lambda$/,
  secret: /Secrets Manager/,
  table: /DynamoDB/,
  forwarder: /^Forwarder Lambda$/,
  archiveQueue: /^Archive queue$/,
  archiveDeadLetters: /dead-letter queue$/,
  failureQueue: /^Forwarder failure queue$/,
  bucket: /^S3 /,
  kms: /^KMS key/,
  completionTopic: /^SNS completion topic$/,
  alarmTopic: /^SNS alarm topic$/,
  cloudwatch: /^CloudWatch$/,
  // Outside the stack: no template says they exist, but the story needs them.
  replicate: /^Replicate$/,
  delivery: /^replicate\.delivery$/,
  subscribers: /^Subscribers$/,
  operators: /^Operators$/,
};

/** Replicate calls the stack's entry: the custom domain when there is one, else the API. */
const outsideTheStack = (entry: string): ReadonlyArray<readonly [string, string]> => [
  ['replicate', entry],
  ['delivery', 'archiver'],
  ['completionTopic', 'subscribers'],
  ['alarmTopic', 'operators'],
];

interface Expected {
  /** logical id → role, for every resource the picture must show. */
  readonly roles: Map<string, string>;
  /** What Replicate calls: `domain` or `api`. */
  readonly entry: string;
  readonly domain?: CfnResource;
  readonly records: readonly CfnResource[];
  /** [from role, to role, dashed]: data flows, or (dashed) a key or secret is used. */
  readonly edges: ReadonlyArray<readonly [string, string, boolean]>;
  readonly streamEventSource: CfnResource;
  readonly archiveQueue: CfnResource;
  readonly archiveEventSource: CfnResource;
}

function must(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`template: ${message}`);
}

/** The logical id a Ref or Fn::GetAtt points at. */
const target = (value: unknown): string | undefined =>
  (value as { Ref?: string })?.Ref ?? (value as { 'Fn::GetAtt'?: [string, string] })?.['Fn::GetAtt']?.[0];

function expectedPicture(resources: Record<string, CfnResource>): Expected {
  const ofType = (type: string) => Object.entries(resources).filter(([, resource]) => resource.Type === type);
  const single = (type: string) => {
    const found = ofType(type);
    must(found.length === 1, `expected one ${type}, found ${found.length}`);
    return found[0];
  };
  const roles = new Map<string, string>();
  const edges: Array<readonly [string, string, boolean]> = [];
  const role = (logicalId: string | undefined, name: string) => {
    must(logicalId && resources[logicalId], `the ${name} is not a resource of this stack`);
    roles.set(logicalId, name);
    return name;
  };
  const environment = (logicalId: string) => resources[logicalId].Properties?.Environment?.Variables ?? {};

  const [apiId] = single('AWS::ApiGatewayV2::Api');
  role(apiId, 'api');

  // A custom domain: its name, the mapping that points it at the API, and the records that point at it.
  const domains = ofType('AWS::ApiGatewayV2::DomainName');
  must(domains.length <= 1, `expected at most one custom domain, found ${domains.length}`);
  for (const [domainId] of domains) role(domainId, 'domain');
  for (const [mappingId, mapping] of ofType('AWS::ApiGatewayV2::ApiMapping')) {
    must(target(mapping.Properties?.ApiId) === apiId, 'an API mapping maps another API');
    must(target(mapping.Properties?.DomainName) === domains[0]?.[0], 'an API mapping of another domain');
    role(mappingId, 'domain');
    edges.push(['domain', 'api', false]);
  }
  const records = ofType('AWS::Route53::RecordSet');
  for (const [recordId, record] of records) {
    const alias = record.Properties?.AliasTarget?.DNSName?.['Fn::GetAtt'];
    must(
      alias?.[1] === 'RegionalDomainName' && roles.get(alias[0]) === 'domain',
      'a record that is no alias to the custom domain',
    );
    role(recordId, 'domain');
  }
  const verifierId = target(single('AWS::ApiGatewayV2::Integration')[1].Properties?.IntegrationUri)!;
  edges.push([role(apiId, 'api'), role(verifierId, 'verifier'), false]);
  edges.push([role(target(environment(verifierId).SIGNING_SECRET_ID), 'secret'), 'verifier', true]);
  edges.push(['verifier', role(target(environment(verifierId).TABLE_NAME), 'table'), false]);

  const eventSources = ofType('AWS::Lambda::EventSourceMapping');
  const streamSources = eventSources.filter(
    ([, mapping]) => mapping.Properties?.EventSourceArn?.['Fn::GetAtt']?.[1] === 'StreamArn',
  );
  must(streamSources.length === 1, `expected one event source on a table stream, found ${streamSources.length}`);
  const [, streamEventSource] = streamSources[0];
  const forwarderId = target(streamEventSource.Properties?.FunctionName)!;
  edges.push([role(target(streamEventSource.Properties?.EventSourceArn), 'table'), role(forwarderId, 'forwarder'), false]);
  const archiveQueueId = target(environment(forwarderId).ARCHIVE_QUEUE_URL)!;
  edges.push(['forwarder', role(archiveQueueId, 'archiveQueue'), false]);
  const streamFailures = streamEventSource.Properties?.DestinationConfig?.OnFailure?.Destination;
  edges.push(['forwarder', role(target(streamFailures), 'failureQueue'), false]);
  const archiveQueue = resources[archiveQueueId];
  edges.push([
    'archiveQueue',
    role(target(archiveQueue.Properties?.RedrivePolicy?.deadLetterTargetArn), 'archiveDeadLetters'),
    false,
  ]);

  const queueSources = eventSources.filter(([, mapping]) => mapping !== streamEventSource);
  must(queueSources.length === 1, `expected one event source besides the stream's, found ${queueSources.length}`);
  const [, archiveEventSource] = queueSources[0];
  must(
    target(archiveEventSource.Properties?.EventSourceArn) === archiveQueueId,
    'the archiver does not consume the archive queue',
  );
  const archiverId = target(archiveEventSource.Properties?.FunctionName)!;
  edges.push(['archiveQueue', role(archiverId, 'archiver'), false]);
  edges.push(['archiver', role(target(environment(archiverId).BUCKET_NAME), 'bucket'), false]);
  const completionTopicId = target(environment(archiverId).COMPLETION_TOPIC_ARN)!;
  edges.push(['archiver', role(completionTopicId, 'completionTopic'), false]);

  const alarms = ofType('AWS::CloudWatch::Alarm');
  const alarmTopicIds = new Set(alarms.flatMap(([, alarm]) => (alarm.Properties?.AlarmActions ?? []).map(target)));
  must(alarmTopicIds.size === 1, `alarms act on ${alarmTopicIds.size} topics`);
  const [alarmTopicId] = alarmTopicIds as Set<string>;
  for (const [id] of [...alarms, ...ofType('AWS::CloudWatch::Dashboard')]) role(id, 'cloudwatch');
  edges.push(['cloudwatch', role(alarmTopicId, 'alarmTopic'), false]);

  for (const [topicId, topic] of ofType('AWS::SNS::Topic')) {
    const keyId = target(topic.Properties?.KmsMasterKeyId);
    if (keyId && resources[keyId]?.Type === 'AWS::KMS::Key') edges.push([role(keyId, 'kms'), roles.get(topicId)!, true]);
  }
  return {
    roles,
    entry: domains.length > 0 ? 'domain' : 'api',
    domain: domains[0]?.[1],
    records: records.map(([, record]) => record),
    edges,
    streamEventSource,
    archiveQueue,
    archiveEventSource,
  };
}

// ── The checks ────────────────────────────────────────────────────────────────────────────────

/** The domain prop with a hosted zone: everything the custom domain can create. */
const withDomain = (stack: Stack): ReplicateWebhooksProps => ({
  domain: {
    domainName: 'hooks.example.com',
    certificate: acm.Certificate.fromCertificateArn(stack, 'Certificate', 'arn:aws:acm:eu-west-1:111111111111:certificate/abc'),
    hostedZone: route53.HostedZone.fromHostedZoneAttributes(stack, 'Zone', {
      hostedZoneId: 'Z0123456789ABC',
      zoneName: 'example.com',
    }),
  },
});

describe.each<[string, string, DiagramOptions, (stack: Stack) => ReplicateWebhooksProps]>([
  ['docs/architecture.svg, the default construct', DIAGRAM_PATH, {}, () => ({})],
  ['docs/architecture-domain.svg, with a custom domain and zone', DOMAIN_DIAGRAM_PATH, { customDomain: true }, withDomain],
])('%s', (_name, path, options, props) => {
  const stack = new Stack(new App(), 'Diagram');
  new ReplicateWebhooks(stack, 'Hooks', props(stack));
  const resources = Template.fromStack(stack).toJSON().Resources as Record<string, CfnResource>;
  const expected = expectedPicture(resources);
  const picture = readPicture(readFileSync(path, 'utf8'));
  const OUTSIDE_THE_STACK = outsideTheStack(expected.entry);

  const boxFor = (roleName: string): Box => {
    const matching = picture.boxes.filter((box) => TITLE[roleName].test(box.title));
    if (matching.length !== 1) throw new Error(`${matching.length} boxes look like "${roleName}" (${TITLE[roleName]})`);
    return matching[0];
  };
  const roleOf = (box: Box) => Object.keys(TITLE).find((name) => TITLE[name].test(box.title));
  const arrowBetween = (from: string, to: string) =>
    picture.arrows.filter((arrow) => onBorder(arrow.points[0], boxFor(from)) && onBorder(arrow.points.at(-1)!, boxFor(to)));

  test('every resource the construct creates has a role the picture can show', () => {
    const unplaced = Object.entries(resources)
      .filter(([id, resource]) => !NOT_DRAWN.has(resource.Type) && !expected.roles.has(id))
      .map(([id, resource]) => `${resource.Type} ${id}`);
    expect(unplaced).toEqual([]);
  });

  test('each role in the template has exactly one box, titled for what it is', () => {
    const roles = new Set([...expected.roles.values(), ...OUTSIDE_THE_STACK.flat()]);
    const missing = [...roles].filter((name) => picture.boxes.filter((box) => TITLE[name].test(box.title)).length !== 1);
    expect(missing).toEqual([]);
  });

  test('no box stands for something the construct does not have', () => {
    const roles = new Set([...expected.roles.values(), ...OUTSIDE_THE_STACK.flat()]);
    const extra = picture.boxes.filter((box) => !roles.has(roleOf(box) ?? '')).map((box) => box.title);
    expect(extra).toEqual([]);
  });

  test('every connection in the template is an arrow from the right box to the right box', () => {
    const missing = [...expected.edges, ...OUTSIDE_THE_STACK.map(([from, to]) => [from, to, false] as const)]
      .filter(([from, to, dashed]) => arrowBetween(from, to).filter((arrow) => arrow.dashed === dashed).length !== 1)
      .map(([from, to, dashed]) => `${from} ${dashed ? '⇢' : '→'} ${to}`);
    expect(missing).toEqual([]);
  });

  test('no arrow shows a connection the template lacks', () => {
    const allowed = new Set([...expected.edges, ...OUTSIDE_THE_STACK].map(([from, to]) => `${from} → ${to}`));
    const drawn = picture.arrows.map((arrow) => {
      const from = picture.boxes.find((box) => onBorder(arrow.points[0], box));
      const to = picture.boxes.find((box) => onBorder(arrow.points.at(-1)!, box));
      const name = (box: Box | undefined, at: readonly [number, number]) =>
        box ? (roleOf(box) ?? box.title) : `(nothing at ${at.join(',')})`;
      return `${name(from, arrow.points[0])} → ${name(to, arrow.points.at(-1)!)}`;
    });
    expect(drawn.filter((edge) => !allowed.has(edge))).toEqual([]);
  });

  test("the numbers and filter the picture quotes are the template's", () => {
    const streamSource = expected.streamEventSource.Properties!;
    const forwarder = boxFor('forwarder');
    expect(streamSource.FilterCriteria?.Filters?.length).toBeGreaterThan(0);
    expect(forwarder.details).toMatch(/became terminal/);
    expect(forwarder.details).toContain(`batches of ${streamSource.BatchSize}`);
    expect(forwarder.details).toContain(`${streamSource.MaximumRetryAttempts} retries`);
    if (streamSource.BisectBatchOnFunctionError) expect(forwarder.details).toMatch(/bisect/);
    expect(arrowBetween('forwarder', 'failureQueue')[0].label).toContain(`${streamSource.MaximumRetryAttempts} retries`);
    const maxReceiveCount = expected.archiveQueue.Properties?.RedrivePolicy?.maxReceiveCount;
    expect(arrowBetween('archiveQueue', 'archiveDeadLetters')[0].label).toContain(`after ${maxReceiveCount} tries`);
    const eventSource = expected.archiveEventSource.Properties!;
    const toArchiver = arrowBetween('archiveQueue', 'archiver')[0].label;
    expect(toArchiver).toContain(`batches of ${eventSource.BatchSize}`);
    if (eventSource.FunctionResponseTypes?.includes('ReportBatchItemFailures')) expect(toArchiver).toMatch(/partial batch/);
  });

  test('nothing overlaps: boxes, panels, arrows and their labels', () => {
    const problems: string[] = [];
    const boxes = picture.boxes;
    boxes.forEach((a, i) => {
      for (const b of boxes.slice(i + 1)) if (overlaps(a, b)) problems.push(`box ${a.title} overlaps box ${b.title}`);
      for (const panel of picture.panels) if (overlaps(a, panel)) problems.push(`box ${a.title} overlaps a panel`);
    });
    for (const arrow of picture.arrows) {
      const segments = arrow.points.slice(1).map((point, index) => [arrow.points[index], point] as const);
      for (const box of boxes) {
        if (segments.some((segment) => crosses(segment, box))) problems.push(`arrow "${arrow.label}" runs through ${box.title}`);
        if (arrow.labelRects.some((rect) => overlaps(rect, box))) problems.push(`label "${arrow.label}" overlaps ${box.title}`);
      }
    }
    expect(problems).toEqual([]);
  });

  if (expected.domain) {
    test('the custom domain box says what the template has: its TLS policy and the records', () => {
      const domain = boxFor('domain');
      const [configuration] = expected.domain!.Properties?.DomainNameConfigurations ?? [];
      expect(configuration.SecurityPolicy).toBe('TLS_1_2');
      expect(domain.details).toContain('TLS 1.2');
      const types = expected.records.map((record) => record.Properties?.Type).sort();
      expect(types).toEqual(['A', 'AAAA']);
      expect(domain.details).toContain(`Route 53 alias records: ${types.join(', ')}`);
    });
  }

  test('the committed picture is what the script draws now (run npx tsx scripts/architecture-diagram.ts)', () => {
    expect(readFileSync(path, 'utf8')).toBe(renderDiagram(options));
  });
});
