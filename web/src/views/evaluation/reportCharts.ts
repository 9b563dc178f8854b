// The charts of an evaluation report, on the app's ECharts setup: means with their 95% intervals as bars with
// error whiskers, win rates of a pair as stacked bars, pairwise judges' verdicts. Target names are user-written:
// every tooltip formatter escapes them (ECharts shows what a formatter returns as HTML).
import '@/views/gateway/charts'
import { use } from 'echarts/core'
import { CustomChart } from 'echarts/charts'
import type { Comparison, Interval } from '@/api/eval'
import { escapeHtml } from '@/format'
import { PALETTE } from '@/views/gateway/charts'

use([CustomChart])

export const targetColor = (i: number) => PALETTE[i % PALETTE.length]!
const fixed = (v: number | null | undefined, digits = 3) =>
  v === null || v === undefined || Number.isNaN(v) ? '—' : v.toFixed(digits)

export interface Named {
  key: string
  name: string
}

/** The I-beam drawn over a bar: a vertical line from `lo` to `hi` with short caps (custom series). */
interface WhiskerApi {
  value(dim: number): number
  coord(point: [number, number]): [number, number]
  size(size: [number, number]): [number, number]
  style(extra: object): object
}
function whisker(_params: unknown, api: WhiskerApi) {
  const x = api.value(0)
  const low = api.coord([x, api.value(1)])
  const high = api.coord([x, api.value(2)])
  const half = api.size([1, 0])[0] * 0.12
  const style = api.style({ stroke: '#37474f', lineWidth: 1.5, fill: null })
  return {
    type: 'group',
    children: [
      { type: 'line', shape: { x1: low[0], y1: low[1], x2: high[0], y2: high[1] }, style },
      { type: 'line', shape: { x1: low[0] - half, y1: low[1], x2: low[0] + half, y2: low[1] }, style },
      { type: 'line', shape: { x1: high[0] - half, y1: high[1], x2: high[0] + half, y2: high[1] }, style },
    ],
  }
}

/**
 * One metric: a bar per target at its mean, with a whisker over its bootstrap 95% interval. Scores are fractions,
 * so the axis runs 0..1 unless a value is outside it.
 */
export function meansOption(
  targets: Named[],
  byTarget: Record<string, Interval>,
  labels: { mean: string; ci: string },
) {
  const rows = targets.map((x, i) => ({ ...x, i, ci: byTarget[x.key] ?? { mean: null, lo: null, hi: null } }))
  const values = rows.flatMap((r) => [r.ci.mean, r.ci.lo, r.ci.hi]).filter((v): v is number => typeof v === 'number')
  const inUnit = values.every((v) => v >= 0 && v <= 1)
  return {
    animation: false,
    grid: { left: 48, right: 16, top: 16, bottom: 28 },
    tooltip: {
      trigger: 'item',
      formatter: (p: { dataIndex: number }) => {
        const r = rows[p.dataIndex]
        if (!r) return ''
        const n = r.ci.n === undefined ? '' : ` (n=${r.ci.n})`
        return (
          `<b>${escapeHtml(`${r.key} · ${r.name}`)}</b><br>${escapeHtml(labels.mean)}: ${fixed(r.ci.mean)}${n}` +
          `<br>${escapeHtml(labels.ci)}: ${fixed(r.ci.lo)} – ${fixed(r.ci.hi)}`
        )
      },
    },
    xAxis: { type: 'category', data: rows.map((r) => r.key) },
    yAxis: inUnit ? { type: 'value', min: 0, max: 1 } : { type: 'value', scale: true },
    series: [
      {
        type: 'bar',
        name: labels.mean,
        barMaxWidth: 48,
        data: rows.map((r) => ({ value: r.ci.mean, itemStyle: { color: targetColor(r.i), opacity: 0.85 } })),
      },
      {
        type: 'custom',
        name: labels.ci,
        silent: true,
        tooltip: { show: false },
        renderItem: whisker,
        encode: { x: 0, y: [1, 2] },
        z: 3,
        data: rows
          .filter((r) => typeof r.ci.lo === 'number' && typeof r.ci.hi === 'number')
          .map((r) => [r.i, r.ci.lo, r.ci.hi]),
      },
    ],
  }
}

export interface WinLabels {
  wins: string
  ties: string
  losses: string
}

/**
 * One pair (a vs b): per metric, the share of rows where a scores better, the ties and where b does, as one
 * stacked horizontal bar of 100%.
 */
export function winRateOption(comparison: Comparison, metrics: { key: string; name: string }[], labels: WinLabels) {
  const rows = metrics.filter((m) => comparison.metrics[m.key])
  const share = (pick: (c: { wins: number; ties: number; losses: number; n: number }) => number) =>
    rows.map((m) => {
      const c = comparison.metrics[m.key]!
      return c.n ? Math.round((pick(c) / c.n) * 1000) / 10 : 0
    })
  const counts = rows.map((m) => comparison.metrics[m.key]!)
  const part = (name: string, data: number[], color: string, field: 'wins' | 'ties' | 'losses') => ({
    type: 'bar',
    name,
    stack: 'share',
    barMaxWidth: 22,
    itemStyle: { color },
    label: { show: true, formatter: (p: { value: number }) => (p.value >= 8 ? `${p.value}%` : ''), fontSize: 10 },
    data,
    tooltip: {
      formatter: (p: { dataIndex: number; value: number }) =>
        `${escapeHtml(rows[p.dataIndex]?.name ?? '')}<br>${escapeHtml(name)}: ${p.value}% ` +
        `(${counts[p.dataIndex]?.[field] ?? 0} / ${counts[p.dataIndex]?.n ?? 0})`,
    },
  })
  return {
    animation: false,
    grid: { left: 120, right: 16, top: 28, bottom: 24 },
    tooltip: { trigger: 'item' },
    legend: { top: 0, textStyle: { fontSize: 11 } },
    xAxis: { type: 'value', min: 0, max: 100, axisLabel: { formatter: '{value}%' } },
    yAxis: {
      type: 'category',
      inverse: true,
      data: rows.map((m) => m.name),
      axisLabel: { width: 110, overflow: 'truncate' },
    },
    series: [
      part(
        labels.wins,
        share((c) => c.wins),
        PALETTE[0]!,
        'wins',
      ),
      part(
        labels.ties,
        share((c) => c.ties),
        PALETTE[8]!,
        'ties',
      ),
      part(
        labels.losses,
        share((c) => c.losses),
        PALETTE[2]!,
        'losses',
      ),
    ],
  }
}

export interface PairwiseLabels {
  aWins: string
  bWins: string
  ties: string
  inconsistent: string
}

/** One pair's pairwise judges: per judge, how often each answer won, tied, or the two orders disagreed. */
export function pairwiseOption(
  comparison: Comparison,
  judges: { key: string; name: string }[],
  labels: PairwiseLabels,
) {
  const rows = judges.filter((j) => comparison.pairwise?.[j.key])
  const summary = rows.map((j) => comparison.pairwise![j.key]!)
  const part = (name: string, pick: (s: (typeof summary)[number]) => number, color: string) => ({
    type: 'bar',
    name,
    stack: 'verdicts',
    barMaxWidth: 22,
    itemStyle: { color },
    data: summary.map(pick),
    tooltip: {
      formatter: (p: { dataIndex: number; value: number }) =>
        `${escapeHtml(rows[p.dataIndex]?.name ?? '')}<br>${escapeHtml(name)}: ${p.value} / ${summary[p.dataIndex]?.n ?? 0}`,
    },
  })
  return {
    animation: false,
    grid: { left: 120, right: 16, top: 28, bottom: 24 },
    tooltip: { trigger: 'item' },
    legend: { top: 0, textStyle: { fontSize: 11 } },
    xAxis: { type: 'value', minInterval: 1 },
    yAxis: {
      type: 'category',
      inverse: true,
      data: rows.map((j) => j.name),
      axisLabel: { width: 110, overflow: 'truncate' },
    },
    series: [
      part(labels.aWins, (s) => s.a_wins, PALETTE[0]!),
      part(labels.ties, (s) => s.ties, PALETTE[8]!),
      part(labels.bWins, (s) => s.b_wins, PALETTE[2]!),
      part(labels.inconsistent, (s) => s.inconsistent, PALETTE[3]!),
    ],
  }
}
