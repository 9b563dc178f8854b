// The chart parts the experiment pages use, on top of the app's bar charts: lines, legends, zoom and parallel coordinates;
// and the pages' chart options. Run names and metric and param keys are user-written: they go only where ECharts
// escapes them (series, axis and legend names with its default tooltips) — a custom tooltip formatter must use escapeHtml.
import '@/plugins/echarts'
import { use } from 'echarts/core'
import { LineChart, ParallelChart, ScatterChart } from 'echarts/charts'
import { DataZoomComponent, LegendComponent, ParallelComponent } from 'echarts/components'
import { escapeHtml } from '@/format'
import { PALETTE } from '@/views/gateway/charts'
import { fmt, points, type Run, type Series } from './runs'

use([LineChart, ParallelChart, ScatterChart, LegendComponent, DataZoomComponent, ParallelComponent])

export { PALETTE }

const color = (i: number) => PALETTE[i % PALETTE.length]

/** One metric's history in a run (`stepLabel`: the x axis's name in the reader's language). */
export function metricChart(key: string, history: Series & { count: number }, i: number, stepLabel = 'step') {
  return {
    animation: false,
    grid: { left: 56, right: 16, top: 16, bottom: 48 },
    tooltip: { trigger: 'axis' },
    xAxis: { type: 'value', name: stepLabel, nameLocation: 'middle', nameGap: 22 },
    yAxis: { type: 'value', scale: true },
    dataZoom: [{ type: 'inside' }, { type: 'slider', height: 14, bottom: 4 }],
    series: [
      {
        type: 'line',
        name: key,
        data: points(history),
        showSymbol: history.count < 50,
        sampling: 'lttb',
        itemStyle: { color: color(i) },
      },
    ],
  }
}

/** One metric across the compared runs: a line per run. */
export function compareChart(runs: Run[], byRun: Record<string, Series>, stepLabel = 'step') {
  return {
    animation: false,
    grid: { left: 56, right: 16, top: 36, bottom: 56 },
    tooltip: { trigger: 'axis' },
    legend: { type: 'scroll', top: 0, textStyle: { fontSize: 11 } },
    xAxis: { type: 'value', name: stepLabel, nameLocation: 'middle', nameGap: 22 },
    yAxis: { type: 'value', scale: true },
    dataZoom: [{ type: 'inside' }, { type: 'slider', height: 14, bottom: 4 }],
    series: runs.map((r, i) => ({
      type: 'line',
      name: r.name,
      data: byRun[r.id] ? points(byRun[r.id]) : [],
      showSymbol: false,
      itemStyle: { color: color(i) },
    })),
  }
}

/** Parallel coordinates: the numeric params that differ, then the latest value of each metric. */
export function parallelChart(runs: Run[], paramKeys: string[], differs: Set<string>, metricKeys: string[]) {
  const numeric = (v: unknown) => v !== undefined && v !== null && v !== '' && !Number.isNaN(Number(v))
  const params = paramKeys.filter((k) => differs.has(k) && runs.every((r) => numeric(r.params[k])))
  const metrics = metricKeys.filter((k) => runs.some((r) => typeof r.metrics[k]?.value === 'number'))
  const dims = [
    ...params.map((k) => ({ name: `params.${k}`, get: (r: Run) => Number(r.params[k]) })),
    ...metrics.map((k) => ({
      name: `metrics.${k}`,
      get: (r: Run) => (typeof r.metrics[k]?.value === 'number' ? r.metrics[k]!.value : null),
    })),
  ]
  return {
    dims: dims.length,
    option: {
      animation: false,
      tooltip: {},
      legend: { type: 'scroll', top: 0, textStyle: { fontSize: 11 } },
      parallel: { left: 48, right: 72, top: 48, bottom: 24 },
      parallelAxis: dims.map((d, i) => ({ dim: i, name: d.name, scale: true, nameTextStyle: { fontSize: 10 } })),
      series: runs.map((r, i) => ({
        type: 'parallel',
        name: r.name,
        data: [dims.map((d) => d.get(r))],
        lineStyle: { width: 2, color: color(i) },
      })),
    },
  }
}

const metricValue = (r: Run, key: string) => {
  const v = r.metrics[key]?.value
  return typeof v === 'number' && Number.isFinite(v) ? v : null
}

/** A tooltip line: the run's name (user-written, so escaped) and its values. */
function runTooltip(run: Run, lines: [string, string][]): string {
  const rows = lines.map(([k, v]) => `${escapeHtml(k)}: <b>${escapeHtml(v)}</b>`).join('<br>')
  return `<b>${escapeHtml(run.name)}</b><br>${rows}`
}

/** MLflow's scatter: a metric (y) against a numeric param (x), one point per run that has both. */
export function scatterChart(runs: Run[], metric: string, param: string) {
  const data = runs
    .map((r) => ({ run: r, x: Number(r.params[param]), y: metricValue(r, metric) }))
    .filter(
      (p) => Number.isFinite(p.x) && p.y !== null && p.run.params[param] !== undefined && p.run.params[param] !== '',
    )
  return {
    points: data.length,
    option: {
      animation: false,
      grid: { left: 64, right: 24, top: 24, bottom: 48 },
      tooltip: {
        trigger: 'item',
        formatter: (p: { dataIndex: number }) => {
          const d = data[p.dataIndex]!
          return runTooltip(d.run, [
            [`params.${param}`, String(d.run.params[param])],
            [`metrics.${metric}`, fmt(d.y)],
          ])
        },
      },
      xAxis: { type: 'value', scale: true, name: `params.${param}`, nameLocation: 'middle', nameGap: 28 },
      yAxis: { type: 'value', scale: true, name: `metrics.${metric}` },
      series: [
        {
          type: 'scatter',
          name: metric,
          symbolSize: 10,
          itemStyle: { color: color(0) },
          data: data.map((d) => [d.x, d.y]),
        },
      ],
    },
  }
}

/** A metric per run as bars, best first (lowest first unless `descending`), at most `limit` runs. */
export function barsChart(runs: Run[], metric: string, descending = false, limit = 50) {
  const data = runs
    .map((r) => ({ run: r, y: metricValue(r, metric) }))
    .filter((d): d is { run: Run; y: number } => d.y !== null)
    .sort((a, b) => (descending ? b.y - a.y : a.y - b.y))
    .slice(0, limit)
  return {
    bars: data.length,
    option: {
      animation: false,
      grid: { left: 64, right: 24, top: 24, bottom: 96 },
      tooltip: {
        trigger: 'item',
        formatter: (p: { dataIndex: number }) => {
          const d = data[p.dataIndex]!
          return runTooltip(d.run, [[`metrics.${metric}`, fmt(d.y)]])
        },
      },
      xAxis: {
        type: 'category',
        data: data.map((d) => d.run.name),
        axisLabel: { rotate: 40, fontSize: 10, width: 90, overflow: 'truncate' },
      },
      yAxis: { type: 'value', name: `metrics.${metric}` }, // from 0: a bar's length is its value
      series: [{ type: 'bar', name: metric, itemStyle: { color: color(1) }, data: data.map((d) => d.y) }],
    },
  }
}
