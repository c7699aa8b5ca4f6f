/**
 * Figures as the estimate prints them: fixed and locale-independent, so the README can quote the
 * output and a test compare the two.
 */

const withSeparators = (whole: string) => whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/** Thousands separators and at most `decimals` decimals, trailing zeros dropped. */
export function num(value: number, decimals = 2): string {
  const [whole, fraction = ''] = value.toFixed(decimals).split('.');
  const trimmed = fraction.replace(/0+$/, '');
  return `${withSeparators(whole)}${trimmed ? `.${trimmed}` : ''}`;
}

export const count = (value: number) => num(Math.round(value), 0);

export function usd(value: number): string {
  const [whole, fraction] = value.toFixed(2).split('.');
  return `$${withSeparators(whole)}.${fraction}`;
}

/** A unit price as written on the pricing page: cents always, more decimals when it has them. */
export function price(value: number): string {
  const [whole, fraction = ''] = num(value, 10).split('.');
  return `$${whole}.${fraction.padEnd(2, '0')}`;
}

/** Rows are rounded to the cent, so the printed rows add up to the printed totals. */
export const cents = (value: number) => Math.round(value * 100) / 100;
