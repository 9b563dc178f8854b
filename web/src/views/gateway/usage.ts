// Usage figures shaped for the dashboard: the time window, the bucket timeline, series per group, the headline numbers.
import type { Bucket, UsagePoint, UsageTotals } from '@/api/gateway'

export type Window = '24h' | '7d' | '30d'
export const WINDOWS: Record<Window, { hours: number; bucket: Bucket }> = {
  '24h': { hours: 24, bucket: 'hour' },
  '7d': { hours: 24 * 7, bucket: 'hour' },
  '30d': { hours: 24 * 30, bucket: 'day' },
}
const STEP: Record<Bucket, number> = { hour: 3_600_000, day: 86_400_000 }

/** The query for a window ending now. */
export function windowQuery(window: Window, now = new Date()): { since: string; until: string; bucket: Bucket } {
  const { hours, bucket } = WINDOWS[window]
  return { since: new Date(now.getTime() - hours * 3_600_000).toISOString(), until: now.toISOString(), bucket }
}

/**
 * The buckets of the x axis (epoch ms, oldest first): every bucket of the window, so quiet hours
 * show as zero — unless the server's buckets don't fall on UTC boundaries, then just the ones it sent.
 */
export function timeline(series: Pick<UsagePoint, 'ts'>[], bucket: Bucket, since: string, until: string): number[] {
  const step = STEP[bucket]
  const seen = [...new Set(series.map((p) => Date.parse(p.ts)))].sort((a, b) => a - b)
  const start = Math.floor(Date.parse(since) / step) * step
  const end = Date.parse(until)
  const grid: number[] = []
  for (let ts = start; ts < end && grid.length <= 24 * 92; ts += step) grid.push(ts)
  const onGrid = new Set(grid)
  return seen.every((ts) => onGrid.has(ts)) ? grid : seen
}

/** The groups to draw separately (most requests first); the rest are summed as "other". */
export function topGroups(totals: UsageTotals[], n = 8): string[] {
  return [...totals]
    .sort((a, b) => b.requests - a.requests)
    .slice(0, n)
    .map((t) => t.group)
}

export const OTHER = '\u0000other'

/** A metric per group on the timeline (zero where a group had no traffic); groups beyond `groups` go to OTHER. */
export function pivot(
  series: UsagePoint[],
  keys: number[],
  metric: (p: UsagePoint) => number,
  groups: string[],
): Map<string, number[]> {
  const index = new Map(keys.map((k, i) => [k, i]))
  const out = new Map<string, number[]>(groups.map((g) => [g, keys.map(() => 0)]))
  for (const p of series) {
    const i = index.get(Date.parse(p.ts))
    if (i === undefined) continue
    const group = out.has(p.group) ? p.group : OTHER
    if (!out.has(group))
      out.set(
        group,
        keys.map(() => 0),
      )
    out.get(group)![i] += metric(p)
  }
  return out
}

/** A metric summed over all groups, per bucket. */
export function sumOver(series: UsagePoint[], keys: number[], metric: (p: UsagePoint) => number): number[] {
  const index = new Map(keys.map((k, i) => [k, i]))
  const out = keys.map(() => 0)
  for (const p of series) {
    const i = index.get(Date.parse(p.ts))
    if (i !== undefined) out[i] += metric(p)
  }
  return out
}

export interface Summary {
  requests: number
  errors: number
  errorRate: number
  promptTokens: number
  completionTokens: number
  cost: number
  /** Percentiles don't add up across groups: the slowest group's p95 (an upper bound of the overall p95). */
  p95: { ms: number; group: string } | null
}

export function summarize(totals: UsageTotals[]): Summary {
  const sum = (f: (t: UsageTotals) => number) => totals.reduce((s, t) => s + f(t), 0)
  const requests = sum((t) => t.requests)
  const errors = sum((t) => t.errors)
  const slowest = totals.filter((t) => t.p95_ms !== null).sort((a, b) => b.p95_ms! - a.p95_ms!)[0]
  return {
    requests,
    errors,
    errorRate: requests ? errors / requests : 0,
    promptTokens: sum((t) => t.prompt_tokens),
    completionTokens: sum((t) => t.completion_tokens),
    cost: sum((t) => t.cost),
    p95: slowest ? { ms: slowest.p95_ms!, group: slowest.group } : null,
  }
}

/** Cost in the price unit the admin set (per 1M tokens): small sums keep their cents. */
export function formatCost(cost: number): string {
  // A few requests cost fractions of a cent: three significant digits instead of a misleading 0.00.
  if (cost > 0 && cost < 0.01) return cost.toLocaleString(undefined, { maximumSignificantDigits: 3 })
  return cost.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: cost < 1 ? 4 : 2 })
}

export function formatMs(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '—' : `${Math.round(ms).toLocaleString()} ms`
}
