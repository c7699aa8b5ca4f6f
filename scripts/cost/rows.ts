/** The estimate's lines and what it returns. */
import { cents, usd } from './format';
import type { TemplateSettings } from './template';

export type CostSection = 'perMillionWebhooks' | 'fixedMonthly' | 'storage';

export interface CostRow {
  /** Stable name of the line, for tests and readers of `rows`. */
  readonly id: string;
  readonly section: CostSection;
  readonly service: string;
  readonly item: string;
  /** How the cost follows from the settings, assumptions and prices, ending in `= $cost`. */
  readonly arithmetic: string;
  /** Rounded to the cent, so the printed rows add up to the printed totals. */
  readonly cost: number;
}

export interface CostEstimate {
  readonly settings: TemplateSettings;
  readonly rows: readonly CostRow[];
  /** Per million webhooks. */
  readonly total: number;
  /** Per month, whatever the traffic. */
  readonly fixed: number;
  /** Per month, for the outputs of a million predictions. */
  readonly storage: number;
  readonly markdown: string;
}

export function row(id: string, section: CostSection, service: string, item: string, arithmetic: string, cost: number): CostRow {
  return { id, section, service, item, arithmetic: `${arithmetic} = ${usd(cents(cost))}`, cost: cents(cost) };
}

export const perMillionWebhooks = (id: string, service: string, item: string, arithmetic: string, cost: number): CostRow =>
  row(id, 'perMillionWebhooks', service, item, arithmetic, cost);

export const fixedMonthly = (id: string, service: string, item: string, arithmetic: string, cost: number): CostRow =>
  row(id, 'fixedMonthly', service, item, arithmetic, cost);

/** What the printed rows add up to: their rounded costs, rounded again. */
export const totalOf = (rows: readonly CostRow[]): number => cents(rows.reduce((sum, r) => sum + r.cost, 0));
