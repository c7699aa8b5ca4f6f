/** `--since` and `--until`: an ISO 8601 time, or a duration back from now (`90m`, `6h`, `2d`). */
const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseTime(text: string, flag: string, now: Date = new Date()): Date {
  const relative = /^(\d+(?:\.\d+)?)([smhd])$/.exec(text.trim());
  if (relative) return new Date(now.getTime() - Number(relative[1]) * UNIT_MS[relative[2]]);
  // Only full dates: Date.parse would take "5" or "June" too.
  if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text.trim())) {
    const parsed = new Date(text.trim());
    if (!Number.isNaN(parsed.getTime())) return parsed;
  }
  throw new Error(
    `${flag} takes an ISO 8601 time (2026-05-01T12:00:00Z) or a duration back from now (90m, 6h, 2d), got "${text}"`,
  );
}
