// The chart parts the experiment pages use, on top of the app's bar charts: lines, legends, zoom and parallel coordinates;
// and the pages' chart options. Run names and metric and param keys are user-written: they go only where ECharts
// escapes them (series, axis and legend names with its default tooltips) — a custom tooltip formatter must use escapeHtml.
import '@/plugins/echarts'
import { use } from 'echarts/core'
import { LineChart, ParallelChart } from 'echarts/charts'
import { DataZoomComponent, LegendComponent, ParallelComponent } from 'echarts/components'
import { PALETTE } from '@/views/gateway/charts'
import { points, type Run, type Series } from './runs'

use([LineChart, ParallelChart, LegendComponent, DataZoomComponent, ParallelComponent])

export { PALETTE }

const color = (i: number) => PALETTE[i % PALETTE.length]

/** One metric's history in a run. */
export function metricChart(key: string, history: Series & { count: number }, i: number) {
  return {
    animation: false,
    grid: { left: 56, right: 16, top: 16, bottom: 48 },
    tooltip: { trigger: 'axis' },
    xAxis: { type: 'value', name: 'step', nameLocation: 'middle', nameGap: 22 },
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
export function compareChart(runs: Run[], byRun: Record<string, Series>) {
  return {
    animation: false,
    grid: { left: 56, right: 16, top: 36, bottom: 56 },
    tooltip: { trigger: 'axis' },
    legend: { type: 'scroll', top: 0, textStyle: { fontSize: 11 } },
    xAxis: { type: 'value', name: 'step', nameLocation: 'middle', nameGap: 22 },
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
