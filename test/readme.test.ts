/** The README tells a new user the truth: its cost table, props, alarms and metrics follow the code. */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { METRIC } from '../lambda/shared/metrics';
import { AlarmName, ReplicateWebhooks } from '../lib';
import { estimate } from '../scripts/cost/estimate';

const README = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');

test('the cost section is what scripts/cost-estimate.ts prints for the default construct', () => {
  const stack = new Stack(new App(), 'CostEstimate');
  new ReplicateWebhooks(stack, 'Hooks');
  const section = /<!-- cost-estimate:start -->\n([\s\S]*?)\n<!-- cost-estimate:end -->/.exec(README)?.[1];
  expect(section).toBe(estimate(Template.fromStack(stack)).markdown.trim());
});

/** The rows of the Markdown table that follows `heading`: first cell (without backticks) → the row. */
function tableRows(heading: string): Map<string, string> {
  const start = README.indexOf(`\n${heading}\n`);
  expect(start).toBeGreaterThan(-1);
  const lines = README.slice(start + heading.length + 2).split('\n');
  const first = lines.findIndex((line) => line.startsWith('|'));
  const rows = new Map<string, string>();
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break;
    const cell = line.split('|')[1].trim();
    for (const name of cell.split('/')) rows.set(name.trim().replace(/^`|`$/g, ''), line);
  }
  return rows;
}

test('the props table names only props that exist, and links API.md, which has every prop', () => {
  const source = readFileSync(join(__dirname, '..', 'lib', 'props.ts'), 'utf8');
  const body = /export interface ReplicateWebhooksProps \{([\s\S]*?)\n\}/.exec(source)![1];
  const props = [...body.matchAll(/readonly (\w+)\??:/g)].map((match) => match[1]);
  const rows = tableRows('### Props');
  expect(rows.size).toBeGreaterThan(0);
  expect([...rows.keys()].filter((name) => !props.includes(name))).toEqual([]);
  expect(README).toContain('](API.md#replicate-webhooks-cdk.ReplicateWebhooksProps)');
  const api = readFileSync(join(__dirname, '..', 'API.md'), 'utf8');
  const missing = props.filter((prop) => !api.includes(`id="replicate-webhooks-cdk.ReplicateWebhooksProps.property.${prop}"`));
  expect(missing).toEqual([]);
});

test('every alarm and metric is documented', () => {
  const alarms = Object.values(AlarmName);
  expect(alarms.length).toBeGreaterThan(0);
  for (const alarm of alarms) expect(README).toContain(`\`${alarm}\``);
  for (const metric of Object.values(METRIC)) expect(README).toContain(`\`${metric}\``);
});
