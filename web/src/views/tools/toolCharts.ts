// ECharts options of the tool analytics page (pure: the page and the tests share them).
import '@/plugins/echarts'
import type { ToolStats } from '@/api/tools'
import { escapeHtml } from '@/format'

export interface ChartLabels {
  p50: string
  p95: string
  successRate: string
}

/** Latency p50 / p95 bars per tool (left axis, ms) with each tool's success rate as a label. */
export function latencyOption(stats: ToolStats[], labels: ChartLabels) {
  const rows = [...stats].sort((a, b) => b.calls - a.calls).slice(0, 20)
  return {
    animation: false,
    grid: { left: 56, right: 16, top: 28, bottom: 56 },
    tooltip: {
      trigger: 'axis',
      formatter: (items: { dataIndex: number }[]) => {
        const row = rows[items[0]?.dataIndex ?? 0]
        if (!row) return ''
        const rate = row.success_rate === null ? '—' : `${Math.round(row.success_rate * 100)}%`
        return `${escapeHtml(row.name)}<br/>${escapeHtml(labels.successRate)}: ${rate}<br/>${escapeHtml(labels.p50)}: ${
          row.p50_ms ?? '—'
        } ms<br/>${escapeHtml(labels.p95)}: ${row.p95_ms ?? '—'} ms`
      },
    },
    xAxis: {
      type: 'category',
      data: rows.map((r) => r.name),
      axisLabel: { fontSize: 10, rotate: 30, hideOverlap: true },
    },
    yAxis: { type: 'value', name: 'ms' },
    series: [
      { name: labels.p50, type: 'bar', barMaxWidth: 48, data: rows.map((r) => r.p50_ms ?? 0) },
      { name: labels.p95, type: 'bar', barMaxWidth: 48, data: rows.map((r) => r.p95_ms ?? 0) },
    ],
  }
}

/** Error kinds across tools: kind → count, most frequent first. */
export function errorKindTotals(stats: ToolStats[]): [string, number][] {
  const totals = new Map<string, number>()
  for (const s of stats)
    for (const [k, v] of Object.entries(s.error_kinds ?? {})) totals.set(k, (totals.get(k) ?? 0) + v)
  return [...totals].sort((a, b) => b[1] - a[1])
}
