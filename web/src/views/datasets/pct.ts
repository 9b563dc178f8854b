/** 0.1234 → "12.3%" */
export const pct = (ratio: number | null | undefined, digits = 1) =>
  ratio === null || ratio === undefined ? '—' : `${(ratio * 100).toFixed(digits)}%`

/** A statistic for a table: short, with thousands separators, at most 3 decimals. */
export function stat(n: number | null | undefined): string {
  if (n === null || n === undefined || Number.isNaN(n)) return '—'
  return n.toLocaleString(undefined, { maximumFractionDigits: Math.abs(n) >= 100 ? 1 : 3 })
}
