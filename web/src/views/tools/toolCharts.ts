// ECharts options of the tool analytics page (pure: the page and the tests share them).
import '@/plugins/echarts'
import type { ToolStats } from '@/api/tools'
import { escapeHtml } from '@/format'

/** The fields of a tool's stats the charts read (the hand-written and the generated types both fit). */
type StatsRow = Pick<ToolStats, 'name' | 'calls' | 'success_rate' | 'p50_ms' | 'p95_ms' | 'error_kinds'>

export interface ChartLabels {
  p50: string
  p95: string
  successRate: string
}

/** Latency p50 / p95 bars per tool (left axis, ms) with each tool's success rate as a label. */
export function latencyOption(stats: StatsRow[], labels: ChartLabels) {
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
export function errorKindTotals(stats: StatsRow[]): [string, number][] {
  const totals = new Map<string, number>()
  for (const s of stats)
    for (const [k, v] of Object.entries(s.error_kinds ?? {})) totals.set(k, (totals.get(k) ?? 0) + v)
  return [...totals].sort((a, b) => b[1] - a[1])
}

export interface CostLabels {
  own: string
  model: string
  share: string
}

interface CostRow {
  name: string
  cost: number
  model_cost: number
  cost_share: number
}

/** Cost per tool as stacked horizontal bars (the tool's own price, then the model cost attributed to it),
 * the biggest first, each labelled with its share of the total. */
export function costShareOption(stats: CostRow[], labels: CostLabels) {
  const rows = stats
    .filter((r) => r.cost + r.model_cost > 0)
    .sort((a, b) => b.cost + b.model_cost - (a.cost + a.model_cost))
    .slice(0, 15)
    .reverse() // the category axis draws bottom-up: the biggest ends on top
  const pct = (v: number) => `${Math.round(v * 1000) / 10}%`
  return {
    animation: false,
    grid: { left: 120, right: 64, top: 12, bottom: 24 },
    tooltip: {
      trigger: 'axis',
      axisPointer: { type: 'shadow' },
      formatter: (items: { dataIndex: number }[]) => {
        const row = rows[items[0]?.dataIndex ?? 0]
        if (!row) return ''
        return `${escapeHtml(row.name)}<br/>${escapeHtml(labels.own)}: ${row.cost}<br/>${escapeHtml(labels.model)}: ${
          row.model_cost
        }<br/>${escapeHtml(labels.share)}: ${pct(row.cost_share)}`
      },
    },
    xAxis: { type: 'value' },
    yAxis: { type: 'category', data: rows.map((r) => r.name), axisLabel: { fontSize: 10, width: 110 } },
    series: [
      { name: labels.own, type: 'bar', stack: 'cost', barMaxWidth: 24, data: rows.map((r) => r.cost) },
      {
        name: labels.model,
        type: 'bar',
        stack: 'cost',
        barMaxWidth: 24,
        data: rows.map((r) => r.model_cost),
        label: {
          show: true,
          position: 'right',
          formatter: (p: { dataIndex: number }) => pct(rows[p.dataIndex].cost_share),
        },
      },
    ],
  }
}

export interface MatrixCell {
  agent_id: string
  agent_name: string
  tool_id: string
  tool_name: string
  calls: number
  success_rate: number
}

export interface Matrix {
  agents: { id: string; name: string; calls: number }[]
  tools: { id: string; name: string; calls: number }[]
  cell: (agentId: string, toolId: string) => MatrixCell | undefined
}

/** The agent × tool matrix: rows are agents, columns tools, both by their calls (most first, then name). */
export function agentToolMatrix(cells: MatrixCell[]): Matrix {
  const agents = new Map<string, { id: string; name: string; calls: number }>()
  const tools = new Map<string, { id: string; name: string; calls: number }>()
  const byKey = new Map<string, MatrixCell>()
  for (const c of cells) {
    const a = agents.get(c.agent_id) ?? { id: c.agent_id, name: c.agent_name, calls: 0 }
    a.calls += c.calls
    agents.set(c.agent_id, a)
    const t = tools.get(c.tool_id) ?? { id: c.tool_id, name: c.tool_name, calls: 0 }
    t.calls += c.calls
    tools.set(c.tool_id, t)
    byKey.set(`${c.agent_id}|${c.tool_id}`, c)
  }
  const order = (x: { name: string; calls: number }, y: { name: string; calls: number }) =>
    y.calls - x.calls || x.name.localeCompare(y.name)
  return {
    agents: [...agents.values()].sort(order),
    tools: [...tools.values()].sort(order),
    cell: (agentId, toolId) => byKey.get(`${agentId}|${toolId}`),
  }
}

/** A cell's colour by its success rate: green from 95 %, amber from 70 %, else red. */
export function rateColor(rate: number): string {
  return rate >= 0.95 ? 'success' : rate >= 0.7 ? 'warning' : 'error'
}
