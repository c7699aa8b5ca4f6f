/** CloudWatch: the construct's alarms, its dashboard and the metrics its handlers publish. */
import { METRIC } from '../../lambda/shared/metrics';
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
  const baseMetrics = Object.keys(METRIC).length;
  rows.push(
    fixedMonthly(
      'custom-metrics',
      'CloudWatch',
      `custom metrics: ${baseMetrics} names + ${REASON_METRIC_SERIES} reason series`,
      `${baseMetrics + REASON_METRIC_SERIES} × ${price(CLOUDWATCH_METRIC_PER_MONTH)}`,
      (baseMetrics + REASON_METRIC_SERIES) * CLOUDWATCH_METRIC_PER_MONTH,
    ),
  );
  return rows;
}
