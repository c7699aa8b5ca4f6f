/**
 * Draws docs/architecture.svg, and docs/architecture-domain.svg (the same with the `domain` prop
 * and a hosted zone): `npx tsx scripts/architecture-diagram.ts`.
 *
 * The picture is laid out by hand on a grid so it stays readable without a layout engine.
 * test/scripts/architecture-diagram.test.ts reads the committed SVGs, not this model: every resource and
 * every connection the synthesized construct has must be drawn there, nothing it lacks may be,
 * and each file must be what renderDiagram() draws now.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ARCHIVE_QUEUE_DEFAULTS } from '../lambda/shared/archive-queue';
import { FORWARDER_EVENT_SOURCE_DEFAULTS } from '../lambda/shared/stream-filter';
import { WEBHOOK_THROTTLE_DEFAULTS } from '../lambda/verifier/settings';

type Category = 'external' | 'network' | 'compute' | 'database' | 'storage' | 'integration' | 'security' | 'management';

export interface DiagramNode {
  readonly id: string;
  readonly label: string;
  readonly details: readonly string[];
  readonly category: Category;
  readonly column: number;
  readonly row: number;
}

interface DiagramEdge {
  readonly from: string;
  readonly to: string;
  readonly label: readonly string[];
  /** Dashed: a key or secret is used, nothing flows through. */
  readonly dashed?: boolean;
  /** Bends for an edge whose ends share neither a column nor a row, with where its label goes. */
  readonly route?: { readonly points: ReadonlyArray<readonly [number, number]>; readonly labelAt: readonly [number, number] };
}

const { batchSize, maxReceiveCount } = ARCHIVE_QUEUE_DEFAULTS;
const { batchSize: streamBatchSize, retryAttempts: streamRetryAttempts } = FORWARDER_EVENT_SOURCE_DEFAULTS;

export const DIAGRAM_NODES: readonly DiagramNode[] = [
  {
    id: 'replicate',
    label: 'Replicate',
    details: ['prediction webhooks:', 'start, output, logs, completed'],
    category: 'external',
    column: 1,
    row: 0,
  },
  {
    id: 'api',
    label: 'API Gateway HTTP API',
    details: [
      `throttled (default ${WEBHOOK_THROTTLE_DEFAULTS.rateLimit.toLocaleString('en-US')} rps,`,
      `burst ${WEBHOOK_THROTTLE_DEFAULTS.burstLimit.toLocaleString('en-US')}) · access logs`,
    ],
    category: 'network',
    column: 1,
    row: 1,
  },
  {
    id: 'verifier',
    label: 'Verifier Lambda',
    details: ['signature, timestamp, size', 'answers 2xx / 4xx / 5xx'],
    category: 'compute',
    column: 1,
    row: 2,
  },
  {
    id: 'secret',
    label: 'Secrets Manager',
    details: ['Replicate signing key', '(whsec_…)'],
    category: 'security',
    column: 2,
    row: 2,
  },
  {
    id: 'table',
    label: 'DynamoDB state table',
    details: ['on-demand · point-in-time recovery', 'stream: NEW_AND_OLD_IMAGES'],
    category: 'database',
    column: 1,
    row: 3,
  },
  {
    id: 'forwarder',
    label: 'Forwarder Lambda',
    details: ['filter: became terminal', `batches of ${streamBatchSize} · ${streamRetryAttempts} retries, bisect`],
    category: 'compute',
    column: 1,
    row: 4,
  },
  {
    id: 'failureQueue',
    label: 'Forwarder failure queue',
    details: ['SQS · stream batches not queued', '(metadata only) · alarmed'],
    category: 'integration',
    column: 2,
    row: 4,
  },
  {
    id: 'archiveQueue',
    label: 'Archive queue',
    details: ['SQS · one message per prediction', 'a failed one returns with backoff'],
    category: 'integration',
    column: 1,
    row: 5,
  },
  {
    id: 'deadLetterQueue',
    label: 'Archive dead-letter queue',
    details: ['SQS · predictions that failed', 'every try · alarmed · redrive'],
    category: 'integration',
    column: 2,
    row: 5,
  },
  {
    id: 'delivery',
    label: 'replicate.delivery',
    details: ['output files', '(expire about an hour in)'],
    category: 'external',
    column: 0,
    row: 6,
  },
  {
    id: 'archiver',
    label: 'Archiver Lambda',
    details: ['claims the item, copies outputs,', 'writes the archive, announces once'],
    category: 'compute',
    column: 1,
    row: 6,
  },
  {
    id: 'bucket',
    label: 'S3 archive bucket',
    details: ['predictions/<id>/manifest.json', '(the payload in it), outputs/'],
    category: 'storage',
    column: 2,
    row: 6,
  },
  {
    id: 'kms',
    label: 'KMS key',
    details: ['encrypts both topics', 'yearly rotation'],
    category: 'security',
    column: 0,
    row: 7,
  },
  {
    id: 'completionTopic',
    label: 'SNS completion topic',
    details: ['message attributes:', 'status, model'],
    category: 'integration',
    column: 1,
    row: 7,
  },
  {
    id: 'subscribers',
    label: 'Subscribers',
    details: ['Lambda · SQS · email · HTTPS'],
    category: 'external',
    column: 2,
    row: 7,
  },
  {
    id: 'cloudwatch',
    label: 'CloudWatch',
    details: ['alarms + dashboard: API, Lambdas,', 'queues, archive backlog age'],
    category: 'management',
    column: 0,
    row: 8,
  },
  {
    id: 'alarmTopic',
    label: 'SNS alarm topic',
    details: ['ALARM and OK', 'notifications'],
    category: 'integration',
    column: 1,
    row: 8,
  },
  {
    id: 'operators',
    label: 'Operators',
    details: ['email · chat · pager'],
    category: 'external',
    column: 2,
    row: 8,
  },
];

/** Which picture: the default construct, or one with a custom domain in front of the API. */
export interface DiagramOptions {
  /** The `domain` prop with a hosted zone: Replicate calls the domain, which maps to the API. */
  readonly customDomain?: boolean;
}

/** Drawn between Replicate and the API, which moves down a row with everything below it. */
const CUSTOM_DOMAIN_NODE: DiagramNode = {
  id: 'domain',
  label: 'Custom domain',
  details: ['API Gateway domain name · TLS 1.2', 'Route 53 alias records: A, AAAA'],
  category: 'network',
  column: 1,
  row: 1,
};

const COLUMN_X = [40, 470, 900];
const BOX_WIDTH = 260;
const BOX_HEIGHT = 80;
const FIRST_ROW_Y = 80;
const ROW_PITCH = 150;
const WIDTH = 1200;

const rowY = (row: number) => FIRST_ROW_Y + row * ROW_PITCH;

/** One picture's boxes and arrows. */
interface Layout {
  readonly options: DiagramOptions;
  readonly nodes: readonly DiagramNode[];
  readonly edges: readonly DiagramEdge[];
  /** Rows added above the verifier's (the custom domain's). */
  readonly rowsInserted: number;
}

function layout(options: DiagramOptions): Layout {
  const rowsInserted = options.customDomain ? 1 : 0;
  const nodes = options.customDomain
    ? DIAGRAM_NODES.flatMap((node) =>
        node.id === 'replicate' ? [node, CUSTOM_DOMAIN_NODE] : [node.row >= 1 ? { ...node, row: node.row + 1 } : node],
      )
    : DIAGRAM_NODES;
  return { options, nodes, edges: edges(nodes, options), rowsInserted };
}

function edges(nodes: readonly DiagramNode[], options: DiagramOptions): DiagramEdge[] {
  const kmsRow = nodes.find((node) => node.id === 'kms')!.row;
  /** The KMS key reaches the alarm topic through the channel between the last two rows. */
  const kmsToAlarmTopicY = rowY(kmsRow) + BOX_HEIGHT + 35;
  const intake: DiagramEdge[] = options.customDomain
    ? [
        { from: 'replicate', to: 'domain', label: ['POST https://<domain>/webhook,', 'Standard Webhooks signature'] },
        { from: 'domain', to: 'api', label: ['API mapping:', 'the $default stage'] },
      ]
    : [{ from: 'replicate', to: 'api', label: ['POST /webhook,', 'Standard Webhooks signature'] }];
  return [
    ...intake,
    ...EDGES_AFTER_INTAKE,
    {
      from: 'kms',
      to: 'alarmTopic',
      label: ['encrypts'],
      dashed: true,
      route: {
        points: [
          [170, rowY(kmsRow) + BOX_HEIGHT],
          [170, kmsToAlarmTopicY],
          [COLUMN_X[1] + 60, kmsToAlarmTopicY],
          [COLUMN_X[1] + 60, rowY(kmsRow + 1)],
        ],
        labelAt: [385, kmsToAlarmTopicY - 7],
      },
    },
    { from: 'cloudwatch', to: 'alarmTopic', label: ['alarm actions'] },
    { from: 'alarmTopic', to: 'operators', label: ['subscriptions'] },
  ];
}

const EDGES_AFTER_INTAKE: readonly DiagramEdge[] = [
  { from: 'api', to: 'verifier', label: ['Lambda proxy, payload 2.0'] },
  { from: 'secret', to: 'verifier', label: ['signing key,', 'cached 5 min'], dashed: true },
  { from: 'verifier', to: 'table', label: ['one transaction:', 'dedup + order + terminal guard'] },
  { from: 'table', to: 'forwarder', label: ['stream event source', '(Lambda reads it free)'] },
  { from: 'forwarder', to: 'failureQueue', label: ['batches not queued,', `after ${streamRetryAttempts} retries`] },
  { from: 'forwarder', to: 'archiveQueue', label: ['one {"predictionId"} message', 'per finished prediction'] },
  { from: 'archiveQueue', to: 'deadLetterQueue', label: [`after ${maxReceiveCount} tries`] },
  { from: 'archiveQueue', to: 'archiver', label: [`SQS event source: batches of ${batchSize},`, 'partial batch failures'] },
  { from: 'delivery', to: 'archiver', label: ['fetch over https,', 'allow-listed hosts'] },
  { from: 'archiver', to: 'bucket', label: ['streamed multipart,', 'sha256'] },
  { from: 'archiver', to: 'completionTopic', label: ['one message per prediction'] },
  { from: 'completionTopic', to: 'subscribers', label: ['filter by status, model'] },
  { from: 'kms', to: 'completionTopic', label: ['encrypts'], dashed: true },
];

const COLORS: Record<Category, string> = {
  external: '#5f6b7a',
  network: '#8c4fff',
  compute: '#ed7100',
  database: '#c925d1',
  storage: '#7aa116',
  integration: '#e7157b',
  security: '#dd344c',
  management: '#3b48cc',
};

const LEGEND: ReadonlyArray<{ readonly category: Category; readonly text: string }> = [
  { category: 'external', text: 'outside the stack' },
  { category: 'network', text: 'API Gateway' },
  { category: 'compute', text: 'Lambda' },
  { category: 'database', text: 'DynamoDB' },
  { category: 'storage', text: 'S3' },
  { category: 'integration', text: 'SNS / SQS' },
  { category: 'security', text: 'Secrets Manager / KMS' },
  { category: 'management', text: 'CloudWatch' },
];

interface Box {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

function box(node: DiagramNode): Box {
  return { x: COLUMN_X[node.column], y: rowY(node.row), w: BOX_WIDTH, h: BOX_HEIGHT };
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function nodeById(nodes: readonly DiagramNode[], id: string): DiagramNode {
  const node = nodes.find((candidate) => candidate.id === id);
  if (!node) throw new Error(`architecture diagram: no node "${id}"`);
  return node;
}

function renderNode(node: DiagramNode): string[] {
  const { x, y, w, h } = box(node);
  const color = COLORS[node.category];
  const external = node.category === 'external';
  const lines = [
    `<g id="node-${node.id}">`,
    `  <rect x="${x}" y="${y}" width="${w}" height="${h}" rx="8" fill="${external ? '#f5f6f7' : '#ffffff'}" stroke="${color}" stroke-width="2"${external ? ' stroke-dasharray="6 4"' : ''}/>`,
  ];
  if (!external) lines.push(`  <rect x="${x}" y="${y + 8}" width="6" height="${h - 16}" rx="3" fill="${color}"/>`);
  const textLines = [{ text: node.label, className: 'label' }, ...node.details.map((text) => ({ text, className: 'detail' }))];
  // Centre the block of text vertically: the label line is taller than the detail lines.
  const blockHeight = 18 + (textLines.length - 1) * 16;
  let baseline = y + (h - blockHeight) / 2 + 14;
  for (const [index, line] of textLines.entries()) {
    lines.push(`  <text x="${x + w / 2}" y="${baseline}" class="${line.className}">${escape(line.text)}</text>`);
    baseline += index === 0 ? 19 : 16;
  }
  lines.push('</g>');
  return lines;
}

function edgeGeometry(
  nodes: readonly DiagramNode[],
  edge: DiagramEdge,
): { points: Array<readonly [number, number]>; label: string[] } {
  const lineHeight = 15;
  const labelLines = (x: number, y: number, anchor: 'start' | 'middle') =>
    edge.label.map(
      (text, index) =>
        `<text x="${x}" y="${y + index * lineHeight}" class="edge-label" text-anchor="${anchor}">${escape(text)}</text>`,
    );
  if (edge.route) {
    const [x, y] = edge.route.labelAt;
    return { points: [...edge.route.points], label: labelLines(x, y - (edge.label.length - 1) * lineHeight, 'middle') };
  }
  const from = box(nodeById(nodes, edge.from));
  const to = box(nodeById(nodes, edge.to));
  if (from.x === to.x) {
    const x = from.x + from.w / 2;
    const [top, bottom] = from.y < to.y ? [from.y + from.h, to.y] : [from.y, to.y + to.h];
    const middle = (top + bottom) / 2;
    return {
      points: [
        [x, top],
        [x, bottom],
      ],
      label: labelLines(x + 10, middle + 4 - ((edge.label.length - 1) * lineHeight) / 2, 'start'),
    };
  }
  if (from.y !== to.y) throw new Error(`architecture diagram: edge ${edge.from} → ${edge.to} needs a route`);
  const y = from.y + from.h / 2;
  const [start, end] = from.x < to.x ? [from.x + from.w, to.x] : [from.x, to.x + to.w];
  return {
    points: [
      [start, y],
      [end, y],
    ],
    // Stacked above the arrow, the last line closest to it.
    label: labelLines((start + end) / 2, y - 8 - (edge.label.length - 1) * lineHeight, 'middle'),
  };
}

function renderEdge(nodes: readonly DiagramNode[], edge: DiagramEdge): string[] {
  const { points, label } = edgeGeometry(nodes, edge);
  const path = points.map(([x, y], index) => `${index === 0 ? 'M' : 'L'}${x},${y}`).join(' ');
  return [
    `<g id="edge-${edge.from}-${edge.to}">`,
    `  <path d="${path}" class="edge${edge.dashed ? ' dashed' : ''}" marker-end="url(#arrow)"/>`,
    ...label.map((line) => `  ${line}`),
    '</g>',
  ];
}

function renderLegend(): string[] {
  const x = COLUMN_X[0];
  const y = FIRST_ROW_Y;
  const rowHeight = 22;
  const height = 46 + LEGEND.length * rowHeight + 2 * rowHeight;
  const lines = [
    '<g id="legend">',
    `  <rect x="${x}" y="${y}" width="${BOX_WIDTH}" height="${height}" rx="8" fill="#ffffff" stroke="#d5dbdb"/>`,
    `  <text x="${x + 16}" y="${y + 26}" class="legend-title">Legend</text>`,
  ];
  LEGEND.forEach(({ category, text }, index) => {
    const rowY = y + 44 + index * rowHeight;
    const external = category === 'external';
    lines.push(
      `  <rect x="${x + 16}" y="${rowY - 11}" width="26" height="14" rx="3" fill="${external ? '#f5f6f7' : '#ffffff'}" stroke="${COLORS[category]}" stroke-width="2"${external ? ' stroke-dasharray="4 3"' : ''}/>`,
      `  <text x="${x + 54}" y="${rowY}" class="legend">${escape(text)}</text>`,
    );
  });
  const arrowsY = y + 44 + LEGEND.length * rowHeight;
  lines.push(
    `  <path d="M${x + 16},${arrowsY - 4} L${x + 42},${arrowsY - 4}" class="edge" marker-end="url(#arrow)"/>`,
    `  <text x="${x + 54}" y="${arrowsY}" class="legend">requests and data</text>`,
    `  <path d="M${x + 16},${arrowsY + rowHeight - 4} L${x + 42},${arrowsY + rowHeight - 4}" class="edge dashed" marker-end="url(#arrow)"/>`,
    `  <text x="${x + 54}" y="${arrowsY + rowHeight}" class="legend">key and secret use</text>`,
    '</g>',
  );
  return lines;
}

/** Fills the empty corner with what the arrows cannot say; lines are broken by hand to fit the box. */
const NOTES: readonly string[] = [
  'Duplicate, stale and after-terminal',
  'webhooks change nothing: one',
  'transaction decides, and a 200 means',
  'the webhook is recorded.',
  '',
  'The forwarder queues each prediction',
  'once it is finished; the archiver takes',
  `them ${batchSize} at a time, and one that fails`,
  'comes back alone, later, with backoff.',
  '',
  'Outputs stream through the archiver',
  'in parts, so its memory stays flat',
  'whatever the file size.',
  '',
  'Bring your own bucket, secret,',
  'topics or KMS key through props.',
];

/** Beside the verifier's row, whatever was inserted above it. */
function renderNotes(rowsInserted: number): string[] {
  const x = COLUMN_X[0];
  const y = rowY(2 + rowsInserted) + 10;
  const lineHeight = 17;
  return [
    '<g id="notes">',
    `  <rect x="${x}" y="${y}" width="${BOX_WIDTH}" height="${40 + NOTES.length * lineHeight}" rx="8" fill="#ffffff" stroke="#d5dbdb"/>`,
    `  <text x="${x + 16}" y="${y + 26}" class="legend-title">Notes</text>`,
    ...NOTES.map(
      (line, index) => `  <text x="${x + 16}" y="${y + 48 + index * lineHeight}" class="legend">${escape(line)}</text>`,
    ),
    '</g>',
  ];
}

const STYLE = `
  text { font-family: 'Helvetica Neue', Helvetica, Arial, 'DejaVu Sans', sans-serif; fill: #16191f; }
  .title { font-size: 20px; font-weight: bold; }
  .subtitle { font-size: 13px; fill: #545b64; }
  .label { font-size: 15px; font-weight: bold; text-anchor: middle; }
  .detail { font-size: 12px; fill: #545b64; text-anchor: middle; }
  .edge { fill: none; stroke: #545b64; stroke-width: 1.6; }
  .dashed { stroke-dasharray: 6 4; }
  .edge-label { font-size: 12px; fill: #232f3e; stroke: #ffffff; stroke-width: 4px; stroke-linejoin: round; paint-order: stroke; }
  .legend-title { font-size: 13px; font-weight: bold; }
  .legend { font-size: 12px; fill: #545b64; }
`;

/** The whole picture as SVG text; the same input always gives the same bytes. */
export function renderDiagram(options: DiagramOptions = {}): string {
  const { nodes, edges, rowsInserted } = layout(options);
  const lastRow = Math.max(...nodes.map((node) => node.row));
  const height = FIRST_ROW_Y + lastRow * ROW_PITCH + BOX_HEIGHT + 40;
  const variant = options.customDomain ? ', with a custom domain' : '';
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-labelledby="title">`,
    `<title id="title">replicate-webhooks-cdk architecture${variant}</title>`,
    `<style>${STYLE}</style>`,
    '<defs>',
    '  <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">',
    '    <path d="M0,0 L10,5 L0,10 z" fill="#545b64"/>',
    '  </marker>',
    '</defs>',
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="40" y="38" class="title">replicate-webhooks-cdk${variant}</text>`,
    '<text x="40" y="60" class="subtitle">Generated by scripts/architecture-diagram.ts: npx tsx scripts/architecture-diagram.ts</text>',
    ...renderLegend(),
    ...renderNotes(rowsInserted),
    ...edges.flatMap((edge) => renderEdge(nodes, edge)),
    ...nodes.flatMap(renderNode),
    '</svg>',
    '',
  ].join('\n');
}

export const DIAGRAM_PATH = join(__dirname, '..', 'docs', 'architecture.svg');
export const DOMAIN_DIAGRAM_PATH = join(__dirname, '..', 'docs', 'architecture-domain.svg');

function main(): void {
  mkdirSync(join(DIAGRAM_PATH, '..'), { recursive: true });
  for (const [path, options] of [
    [DIAGRAM_PATH, {}],
    [DOMAIN_DIAGRAM_PATH, { customDomain: true }],
  ] as const) {
    writeFileSync(path, renderDiagram(options));
    console.log(`wrote ${path}`);
  }
}

if (require.main === module) main();
