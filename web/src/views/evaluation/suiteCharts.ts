// The charts of evaluation suites: a metric's mean run after run with the suite's bar as a dashed line, and a metric
// across a model's versions. Drawn on the app's ECharts setup (the gateway's lines and legends, plus mark lines).
import '@/views/gateway/charts'
import { use } from 'echarts/core'
import { MarkLineComponent } from 'echarts/components'
import type { SuiteResult, Threshold } from '@/api/evalSuites'
import { PALETTE } from '@/views/gateway/charts'

use([MarkLineComponent])

const round = (v: number | null | undefined) => (v === null || v === undefined ? null : Math.round(v * 10000) / 10000)

export function runLabels(results: SuiteResult[], locale: string): string[] {
  const lang = locale === 'ko' ? 'ko-KR' : 'en-GB'
  return results.map((r) =>
    new Date(r.finished_at ?? r.created_at).toLocaleString(lang, {
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
    }),
  )
}

/**
 * One threshold's metric over the suite's finished runs, oldest first, with the bar as a dashed line. No custom
 * tooltip formatter: ECharts' own escapes the names (metric names are user input).
 */
export function thresholdOption(
  results: SuiteResult[],
  threshold: Threshold,
  locale: string,
  names: { series: string; bar: string },
  colorIndex = 0,
) {
  const ordered = [...results].reverse()
  const values = ordered.map((r) => round(r.scores?.[threshold.metric]))
  const all = [...values.filter((v): v is number => v !== null), threshold.value]
  const lo = Math.min(...all)
  const hi = Math.max(...all)
  const pad = Math.max((hi - lo) * 0.15, 0.02)
  return {
    animation: false,
    grid: { left: 52, right: 24, top: 36, bottom: 28 },
    tooltip: { trigger: 'axis' },
    legend: { type: 'scroll', top: 0, textStyle: { fontSize: 11 } },
    xAxis: { type: 'category', data: runLabels(ordered, locale), axisLabel: { fontSize: 10, hideOverlap: true } },
    yAxis: {
      type: 'value',
      // whole tenths around the values and the bar; scores in [0, 1] stay there
      min: Math.max(0, Math.floor((lo - pad) * 10) / 10),
      max: hi <= 1 ? Math.min(1, Math.ceil((hi + pad) * 10) / 10) : Math.ceil((hi + pad) * 10) / 10,
    },
    series: [
      {
        type: 'line',
        name: names.series,
        data: values,
        connectNulls: false,
        showSymbol: true,
        symbolSize: 7,
        itemStyle: { color: PALETTE[colorIndex % PALETTE.length] },
        markLine: {
          silent: true,
          symbol: 'none',
          lineStyle: { type: 'dashed', color: '#c0392b', width: 2 },
          label: { formatter: names.bar, position: 'insideEndTop', color: '#a93226' },
          data: [{ yAxis: threshold.value }],
        },
      },
    ],
  }
}

/** A metric's mean per version (v1, v2, …), one line; with the bar when a suite sets one for the metric. */
export function versionsOption(
  points: { version: number; value: number | null }[],
  name: string,
  threshold: Threshold | null,
  barName: string,
) {
  const values = points.map((p) => round(p.value))
  const series: Record<string, unknown> = {
    type: 'line',
    name,
    data: values,
    connectNulls: true,
    showSymbol: true,
    symbolSize: 8,
    itemStyle: { color: PALETTE[0] },
  }
  if (threshold)
    series.markLine = {
      silent: true,
      symbol: 'none',
      lineStyle: { type: 'dashed', color: '#c0392b', width: 2 },
      label: { formatter: barName, position: 'insideEndTop', color: '#a93226' },
      data: [{ yAxis: threshold.value }],
    }
  return {
    animation: false,
    grid: { left: 52, right: 24, top: 36, bottom: 28 },
    tooltip: { trigger: 'axis' },
    legend: { top: 0, textStyle: { fontSize: 11 } },
    xAxis: { type: 'category', data: points.map((p) => `v${p.version}`) },
    yAxis: { type: 'value', scale: true },
    series: [series],
  }
}
