/** Small timing helpers. Figures are reported as ratios against a baseline measured in the same run. */

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index];
}

export const median = (values: readonly number[]): number => percentile(values, 50);

export type Operation = () => unknown;

/** Nanoseconds per call of each operation: batches interleaved across rounds, median per operation. */
export async function compareOperations(
  operations: Record<string, Operation>,
  options: { rounds?: number; batchMs?: number } = {},
): Promise<Record<string, number>> {
  const rounds = options.rounds ?? 15;
  const batchMs = options.batchMs ?? 40;
  const batchSizes: Record<string, number> = {};
  for (const [name, operation] of Object.entries(operations)) {
    // Calibrate (and warm up) so that one batch takes about batchMs.
    let size = 1;
    for (;;) {
      const started = process.hrtime.bigint();
      for (let i = 0; i < size; i++) await operation();
      const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
      if (elapsedMs >= batchMs / 4) {
        batchSizes[name] = Math.max(1, Math.round((size * batchMs) / elapsedMs));
        break;
      }
      size *= 2;
    }
  }
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(operations).map((name) => [name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const [name, operation] of Object.entries(operations)) {
      const size = batchSizes[name];
      const started = process.hrtime.bigint();
      for (let i = 0; i < size; i++) await operation();
      samples[name].push(Number(process.hrtime.bigint() - started) / size);
    }
  }
  return Object.fromEntries(Object.entries(samples).map(([name, values]) => [name, median(values)]));
}

export const formatNs = (ns: number): string =>
  ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1e3 ? `${(ns / 1e3).toFixed(2)} µs` : `${ns.toFixed(0)} ns`;

export const ratio = (value: number, baseline: number): string => `${(value / baseline).toFixed(2)}×`;

export function table(rows: ReadonlyArray<ReadonlyArray<string>>): string {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column])).join('  ')).join('\n');
}
