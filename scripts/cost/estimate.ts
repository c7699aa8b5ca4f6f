/**
 * Estimates what the construct costs to run, from its synthesized template: the settings that
 * drive cost are read from the template (template.ts), the requests and write units of each
 * webhook and archival are measured, traffic is a list of stated assumptions (assumptions.ts), and
 * prices are us-east-1 list prices (prices.ts). Each part of the flow prices its own rows; the
 * output has no dates or locale-dependent formatting, so the README can quote it and a test can
 * compare the two.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { archivalMonthly, archivalPerMillionWebhooks, archiveStorage } from './archival';
import { encryptionMonthly } from './encryption';
import { describeFlow } from './flow';
import { logsPerMillionWebhooks, yearOfLogStorage } from './logs';
import { renderMarkdown } from './markdown';
import { monitoringMonthly } from './monitoring';
import { reconcilerMonthly, reconcilerPerMillionWebhooks } from './reconciler';
import { totalOf, type CostEstimate, type CostSection } from './rows';
import { readSettings, type CfnTemplate, type TemplateSettings } from './template';
import { signingKeyMonthly, webhookPerMillionWebhooks } from './webhook';

export type { CostEstimate, CostRow, CostSection } from './rows';

/** Refuses settings the price list has nothing for, rather than pricing them as something else. */
function assertPriced(settings: TemplateSettings): void {
  if (settings.apiProtocol !== 'HTTP') throw new Error(`cost estimate: only HTTP APIs are priced, not ${settings.apiProtocol}`);
  if (settings.tableBillingMode !== 'PAY_PER_REQUEST') {
    throw new Error(`cost estimate: only on-demand tables are priced, not ${settings.tableBillingMode}`);
  }
  if (!settings.forwarder.filtered) {
    throw new Error('cost estimate: only a forwarder whose event source passes finished predictions alone is priced');
  }
}

export function estimate(input: Template | CfnTemplate): CostEstimate {
  const settings = readSettings(input);
  assertPriced(settings);
  const flow = describeFlow(settings);
  const rows = [
    ...webhookPerMillionWebhooks(flow),
    ...archivalPerMillionWebhooks(flow),
    ...reconcilerPerMillionWebhooks(flow),
    ...logsPerMillionWebhooks(flow),
    ...archivalMonthly(flow),
    ...monitoringMonthly(flow),
    ...encryptionMonthly(flow),
    ...signingKeyMonthly(flow),
    ...reconcilerMonthly(flow),
    ...archiveStorage(),
  ];
  const sum = (section: CostSection) => totalOf(rows.filter((r) => r.section === section));
  const result = { settings, rows, total: sum('perMillionWebhooks'), fixed: sum('fixedMonthly'), storage: sum('storage') };
  return { ...result, markdown: renderMarkdown(result, flow, yearOfLogStorage(flow)) };
}
