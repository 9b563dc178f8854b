// Chart options of the training and data dashboards. Every tooltip is ours and escapes what it shows: team, job,
// dataset and model names and PII entity types come from users.
import '@/views/gateway/charts'
import { use } from 'echarts/core'
import { BarChart, LineChart, PieChart, SankeyChart } from 'echarts/charts'
import { LegendComponent } from 'echarts/components'
import type { GrowthDay, LineageLink, OutcomeDay, Waits } from '@/api/dashboards'
import { escapeHtml, human } from '@/format'
import { PALETTE } from '@/views/gateway/charts'

use([BarChart, LineChart, PieChart, SankeyChart, LegendComponent])

export const OUTCOME_COLORS: Record<string, string> = { succeeded: '#2e9d6a', failed: '#c0392b', cancelled: '#9e9e9e' }
const OUTCOMES = ['succeeded', 'failed', 'cancelled'] as const

/** Seconds as people read a wait: "45 s", "12 min", "3.5 h", "2.1 d". */
export function duration(seconds: number | null | undefined, units = { s: 's', m: 'min', h: 'h', d: 'd' }): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—'
  if (seconds < 60) return `${Math.round(seconds)} ${units.s}`
  if (seconds < 3600) return `${Math.round(seconds / 60)} ${units.m}`
  if (seconds < 86400) return `${Number((seconds / 3600).toFixed(1))} ${units.h}`
  return `${Number((seconds / 86400).toFixed(1))} ${units.d}`
}

/** A ratio as a percentage with one decimal ("12.5%"), or "—". */
export function percent(ratio: number | null | undefined): string {
  return ratio === null || ratio === undefined || !Number.isFinite(ratio) ? '—' : `${(ratio * 100).toFixed(1)}%`
}

/** A UTC day ("2026-12-01") as a short date in the reader's language. */
export function dayLabel(day: string, locale: string): string {
  const d = new Date(`${day}T00:00:00Z`)
  return d.toLocaleDateString(locale === 'ko' ? 'ko-KR' : 'en-GB', { month: 'short', day: 'numeric', timeZone: 'UTC' })
}

interface TipParam {
  seriesName?: string
  name?: string
  value?: unknown
  color?: string
  marker?: string
  data?: unknown
}

const dot = (color: unknown) => `<span style="color:${escapeHtml(color)}">●</span>`

function axisTip(unit: (v: number) => string) {
  return (params: TipParam[]) => {
    if (!params.length) return ''
    const head = `<b>${escapeHtml(params[0]!.name)}</b>`
    const rows = params.map(
      (p) => `${dot(p.color)} ${escapeHtml(p.seriesName)}: <b>${escapeHtml(unit(Number(p.value)))}</b>`,
    )
    return [head, ...rows].join('<br>')
  }
}

/** Outcomes of the finished jobs as a donut; `labels` names each state in the reader's language. */
export function outcomeDonut(counts: Record<(typeof OUTCOMES)[number], number>, labels: Record<string, string>) {
  return {
    animation: false,
    tooltip: {
      trigger: 'item',
      formatter: (p: TipParam & { percent?: number }) =>
        `${dot(p.color)} ${escapeHtml(p.name)}: <b>${escapeHtml(p.value)}</b> (${escapeHtml(p.percent)}%)`,
    },
    legend: { bottom: 0, textStyle: { fontSize: 11 } },
    series: [
      {
        type: 'pie',
        radius: ['45%', '70%'],
        center: ['50%', '45%'],
        label: { show: false },
        data: OUTCOMES.map((k) => ({
          name: labels[k] ?? k,
          value: counts[k] ?? 0,
          itemStyle: { color: OUTCOME_COLORS[k] },
        })),
      },
    ],
  }
}

/** Finished jobs per day, stacked by their final state. */
export function outcomeBars(days: OutcomeDay[], labels: Record<string, string>, locale: string) {
  return {
    animation: false,
    grid: { left: 40, right: 16, top: 32, bottom: 28 },
    legend: { top: 0, textStyle: { fontSize: 11 } },
    tooltip: { trigger: 'axis', formatter: axisTip((v) => String(v)) },
    xAxis: { type: 'category', data: days.map((d) => dayLabel(d.day, locale)), axisLabel: { fontSize: 10 } },
    yAxis: { type: 'value', minInterval: 1, axisLabel: { fontSize: 10 } },
    series: OUTCOMES.map((k) => ({
      type: 'bar',
      stack: 'jobs',
      name: labels[k] ?? k,
      itemStyle: { color: OUTCOME_COLORS[k] },
      data: days.map((d) => d[k]),
    })),
  }
}

/** Horizontal bars: a value per name (GPU-hours per team or job), largest on top. */
export function namedBars(items: { name: string; value: number }[], unit: string) {
  const rows = [...items].reverse()
  return {
    animation: false,
    color: PALETTE,
    grid: { left: 8, right: 56, top: 8, bottom: 8, containLabel: true },
    tooltip: {
      trigger: 'item',
      formatter: (p: TipParam) =>
        `${escapeHtml(p.name)}: <b>${escapeHtml(`${Number(p.value).toFixed(2)} ${unit}`)}</b>`,
    },
    xAxis: { type: 'value', axisLabel: { fontSize: 10 } },
    yAxis: {
      type: 'category',
      data: rows.map((r) => r.name),
      axisLabel: { fontSize: 11, width: 140, overflow: 'truncate' },
    },
    series: [
      {
        type: 'bar',
        barMaxWidth: 28,
        data: rows.map((r) => r.value),
        label: { show: true, position: 'right', fontSize: 10, formatter: (p: { value: number }) => p.value.toFixed(1) },
      },
    ],
  }
}

/** Queue waits per day: p50 and p95 as bars, the longest as a line (seconds on the axis, read as durations). */
export function waitChart(
  days: (Waits & { day: string })[],
  labels: { p50: string; p95: string; max: string },
  locale: string,
  units?: { s: string; m: string; h: string; d: string },
) {
  const fmt = (v: number) => duration(v, units)
  return {
    animation: false,
    color: ['#1f5fbf', '#e0a100', '#c0392b'],
    grid: { left: 56, right: 16, top: 32, bottom: 28 },
    legend: { top: 0, textStyle: { fontSize: 11 } },
    tooltip: { trigger: 'axis', formatter: axisTip(fmt) },
    xAxis: { type: 'category', data: days.map((d) => dayLabel(d.day, locale)), axisLabel: { fontSize: 10 } },
    yAxis: { type: 'value', axisLabel: { fontSize: 10, formatter: fmt } },
    series: [
      { type: 'bar', name: labels.p50, data: days.map((d) => d.p50_s) },
      { type: 'bar', name: labels.p95, data: days.map((d) => d.p95_s) },
      { type: 'line', name: labels.max, data: days.map((d) => d.max_s), symbolSize: 5 },
    ],
  }
}

/** PII findings per day, stacked by entity type (the types with the most findings first). */
export function piiBars(days: { day: string; entities: Record<string, number> }[], types: string[], locale: string) {
  return {
    animation: false,
    color: PALETTE,
    grid: { left: 48, right: 16, top: 36, bottom: 28 },
    legend: { top: 0, type: 'scroll', textStyle: { fontSize: 11 } },
    tooltip: { trigger: 'axis', formatter: axisTip((v) => v.toLocaleString()) },
    xAxis: { type: 'category', data: days.map((d) => dayLabel(d.day, locale)), axisLabel: { fontSize: 10 } },
    yAxis: { type: 'value', minInterval: 1, axisLabel: { fontSize: 10, formatter: (v: number) => human(v) } },
    series: types.map((type) => ({
      type: 'bar',
      stack: 'pii',
      name: type,
      data: days.map((d) => d.entities[type] ?? 0),
    })),
  }
}

/** Version growth: versions added per day (bars) and the running totals of versions and rows (lines). */
export function growthChart(
  days: GrowthDay[],
  labels: { added: string; versions: string; rows: string },
  locale: string,
) {
  return {
    animation: false,
    color: ['#90caf9', '#1f5fbf', '#2e9d6a'],
    grid: { left: 48, right: 56, top: 32, bottom: 28 },
    legend: { top: 0, textStyle: { fontSize: 11 } },
    tooltip: { trigger: 'axis', formatter: axisTip((v) => v.toLocaleString()) },
    xAxis: { type: 'category', data: days.map((d) => dayLabel(d.day, locale)), axisLabel: { fontSize: 10 } },
    yAxis: [
      { type: 'value', minInterval: 1, axisLabel: { fontSize: 10 } },
      { type: 'value', axisLabel: { fontSize: 10, formatter: (v: number) => human(v) }, splitLine: { show: false } },
    ],
    series: [
      { type: 'bar', name: labels.added, data: days.map((d) => d.versions) },
      { type: 'line', name: labels.versions, data: days.map((d) => d.total_versions), symbolSize: 5 },
      { type: 'line', name: labels.rows, yAxisIndex: 1, data: days.map((d) => d.total_rows), symbolSize: 5 },
    ],
  }
}

/** Which dataset versions trained which models: a sankey of dataset version → model version (or "none yet"). */
export function lineageSankey(links: LineageLink[], noModel: string) {
  const node = (kind: 'd' | 'm', label: string) => ({ id: `${kind}:${label}`, label })
  const nodes = new Map<string, { id: string; label: string }>()
  const weights = new Map<string, { source: string; target: string; value: number; jobs: string[] }>()
  for (const l of links) {
    const d = node('d', `${l.dataset} v${l.dataset_version}`)
    const m = node('m', l.model ? `${l.model} v${l.model_version}` : noModel)
    nodes.set(d.id, d)
    nodes.set(m.id, m)
    const key = `${d.id}→${m.id}`
    const w = weights.get(key) ?? { source: d.id, target: m.id, value: 0, jobs: [] }
    w.value += 1
    w.jobs.push(l.job)
    weights.set(key, w)
  }
  const label = (id: string) => nodes.get(id)?.label ?? id
  return {
    animation: false,
    color: PALETTE,
    tooltip: {
      trigger: 'item',
      formatter: (p: {
        dataType?: string
        data: { id?: string; source?: string; target?: string; jobs?: string[] }
      }) => {
        if (p.dataType === 'edge') {
          const d = p.data
          const jobs = (d.jobs ?? []).slice(0, 5).map((j) => escapeHtml(j))
          return `${escapeHtml(label(d.source ?? ''))} → ${escapeHtml(label(d.target ?? ''))}<br>${jobs.join('<br>')}`
        }
        return escapeHtml(label(p.data.id ?? ''))
      },
    },
    series: [
      {
        type: 'sankey',
        left: 8,
        right: 160,
        top: 8,
        bottom: 8,
        nodeGap: 10,
        emphasis: { focus: 'adjacency' },
        label: { fontSize: 11, formatter: (p: { data: { display: string } }) => p.data.display },
        lineStyle: { color: 'gradient', opacity: 0.35 },
        data: [...nodes.values()].map((n) => ({ name: n.id, id: n.id, display: n.label })),
        links: [...weights.values()],
      },
    ],
  }
}
