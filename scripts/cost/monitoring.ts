/** CloudWatch: the construct's alarms, its dashboard and the metrics its handlers publish. */
import { ALARMED_SERIES, METRIC } from '../../lambda/shared/metrics';
import { REASON_METRIC_SERIES } from './assumptions';
import type { Flow } from './flow';
import { price } from './format';
import { CLOUDWATCH_ALARM_METRIC_PER_MONTH, CLOUDWATCH_DASHBOARD_PER_MONTH, CLOUDWATCH_METRIC_PER_MONTH } from './prices';
import { fixedMonthly, type CostRow } from './rows';

export function monitoringMonthly({ settings }: Flow): CostRow[] {
  const rows: CostRow[] = [];
  if (settings.alarms > 0) {
    rows.push(
      fixedMonthly(
        'alarms',
        'CloudWatch',
        `${settings.alarms} alarms reading ${settings.alarmMetrics} metrics (metric math is billed per metric)`,
        `${settings.alarmMetrics} × ${price(CLOUDWATCH_ALARM_METRIC_PER_MONTH)}`,
        settings.alarmMetrics * CLOUDWATCH_ALARM_METRIC_PER_MONTH,
      ),
    );
  }
  if (settings.dashboards > 0) {
    rows.push(
      fixedMonthly(
        'dashboards',
        'CloudWatch',
        `dashboard${settings.dashboards > 1 ? 's' : ''} (the account's 3 free ones assumed in use)`,
        `${settings.dashboards} × ${price(CLOUDWATCH_DASHBOARD_PER_MONTH)}`,
        settings.dashboards * CLOUDWATCH_DASHBOARD_PER_MONTH,
      ),
    );
  }
  rows.push(settings.detailedMetrics ? detailedMetrics() : alarmedMetrics(settings, false));
  return rows;
}

/** Every name the handlers publish, and the reason series a month sees. */
function detailedMetrics(): CostRow {
  const names = Object.keys(METRIC).length;
  return fixedMonthly(
    'custom-metrics',
    'CloudWatch',
    `custom metrics (\`detailedMetrics\`): ${names} names + ${REASON_METRIC_SERIES} reason series`,
    `${names + REASON_METRIC_SERIES} × ${price(CLOUDWATCH_METRIC_PER_MONTH)}`,
    (names + REASON_METRIC_SERIES) * CLOUDWATCH_METRIC_PER_MONTH,
  );
}

/**
 * Only the series the alarms read, for the parts this template has; `reconcilerOnly` counts the
 * reconciler's alone (what it adds).
 */
export function alarmedMetrics(settings: Flow['settings'], reconcilerOnly: boolean): CostRow {
  const series = ALARMED_SERIES.filter((one) =>
    reconcilerOnly
      ? one.with === 'reconciler' && settings.reconciler
      : one.with === undefined || (one.with === 'eventBus' && settings.completionEventBus),
  ).length;
  return fixedMonthly(
    reconcilerOnly ? 'reconciler-custom-metrics' : 'custom-metrics',
    'CloudWatch',
    reconcilerOnly
      ? `custom metrics the reconciler's alarms read`
      : `custom metrics: only the ${series} series the alarms read (\`detailedMetrics\` off)`,
    `${series} × ${price(CLOUDWATCH_METRIC_PER_MONTH)}`,
    series * CLOUDWATCH_METRIC_PER_MONTH,
  );
}
