// The charts of an A/B test's results, on the app's ECharts setup (bars) with the gateway's lines and legends.
import '@/views/gateway/charts'
import { use } from 'echarts/core'
import { ScatterChart } from 'echarts/charts'
import type { SeriesPoint, VariantResult } from '@/api/promptExperiments'
import { PALETTE } from '@/views/gateway/charts'
import { escapeHtml } from '@/format'
import { hourly } from './abTest'

use([ScatterChart])

const color = (i: number) => PALETTE[i % PALETTE.length]

export function hourLabels(hours: string[], locale: string): string[] {
  const lang = locale === 'ko' ? 'ko-KR' : 'en-GB'
  return hours.map((h) =>
    new Date(h).toLocaleString(lang, { month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' }),
  )
}

const base = (labels: string[]) => ({
  animation: false,
  grid: { left: 56, right: 16, top: 36, bottom: 28 },
  tooltip: { trigger: 'axis' },
  legend: { type: 'scroll', top: 0, textStyle: { fontSize: 11 } },
  xAxis: { type: 'category', data: labels, axisLabel: { fontSize: 10, hideOverlap: true } },
})

/** Requests per hour, one bar series per variant (named "A · v2"). */
export function requestsOption(series: SeriesPoint[], names: Map<number, string>, locale: string) {
  const versions = [...names.keys()]
  const { hours, data } = hourly(series, versions, (p) => p.requests)
  return {
    ...base(hourLabels(hours, locale)),
    yAxis: { type: 'value', minInterval: 1 },
    series: versions.map((v, i) => ({
      type: 'bar',
      name: names.get(v),
      data: data.get(v)!.map((x) => x ?? 0),
      itemStyle: { color: color(i) },
      barMaxWidth: 18,
    })),
  }
}

/** The error rate per hour (in %), one line per variant; hours without requests are gaps. */
export function errorRateOption(series: SeriesPoint[], names: Map<number, string>, locale: string) {
  const versions = [...names.keys()]
  const { hours, data } = hourly(series, versions, (p) =>
    p.requests > 0 ? Math.round((p.errors / p.requests) * 10000) / 100 : null,
  )
  return {
    ...base(hourLabels(hours, locale)),
    yAxis: { type: 'value', min: 0, axisLabel: { formatter: '{value}%' } },
    series: versions.map((v, i) => ({
      type: 'line',
      name: names.get(v),
      data: data.get(v),
      connectNulls: false,
      showSymbol: true,
      symbolSize: 5,
      itemStyle: { color: color(i) },
    })),
  }
}

/**
 * The mean feedback score per variant with its 95% confidence interval as an error bar: a floating bar from the
 * interval's low end to its high end (a transparent bar stacked under it lifts it) and a point at the mean.
 */
export function feedbackOption(
  variants: VariantResult[],
  names: Map<number, string>,
  labels: { mean: string; ci: string },
) {
  const rows = variants.filter((v) => v.feedback_mean !== null)
  const categories = rows.map((v) => names.get(v.version) ?? `v${v.version}`)
  const lo = rows.map((v) => v.feedback_ci?.[0] ?? v.feedback_mean!)
  const hi = rows.map((v) => v.feedback_ci?.[1] ?? v.feedback_mean!)
  const min = Math.max(0, Math.floor((Math.min(...lo, 1) - 0.05) * 10) / 10)
  return {
    animation: false,
    grid: { left: 72, right: 24, top: 28, bottom: 28 },
    tooltip: { trigger: 'item' },
    legend: { top: 0, textStyle: { fontSize: 11 }, data: [labels.mean, labels.ci] },
    xAxis: { type: 'value', min, max: 1 },
    yAxis: { type: 'category', inverse: true, data: categories },
    series: [
      {
        type: 'bar',
        stack: 'ci',
        silent: true,
        itemStyle: { color: 'transparent' },
        data: lo,
        barWidth: 10,
        tooltip: { show: false },
      },
      {
        type: 'bar',
        stack: 'ci',
        name: labels.ci,
        data: rows.map((_, i) => ({
          value: Math.max(0, hi[i]! - lo[i]!),
          itemStyle: { color: color(i), opacity: 0.35 },
          tooltip: { formatter: `${escapeHtml(labels.ci)}: ${lo[i]!.toFixed(3)} – ${hi[i]!.toFixed(3)}` },
        })),
        itemStyle: { color: PALETTE[8] },
        barWidth: 10,
      },
      {
        type: 'scatter',
        name: labels.mean,
        symbolSize: 12,
        data: rows.map((v, i) => ({
          value: [v.feedback_mean, i],
          itemStyle: { color: color(i) },
        })),
        itemStyle: { color: PALETTE[0] },
        tooltip: {
          formatter: (p: { value: [number, number] }) => `${escapeHtml(labels.mean)}: ${p.value[0].toFixed(3)}`,
        },
        z: 3,
      },
    ],
  }
}

/** Latency p50 and p95 (ms) per variant, as grouped bars. */
export function latencyOption(variants: VariantResult[], names: Map<number, string>) {
  const categories = variants.map((v) => names.get(v.version) ?? `v${v.version}`)
  const round = (x: number | null) => (x === null ? null : Math.round(x))
  return {
    animation: false,
    grid: { left: 56, right: 16, top: 36, bottom: 28 },
    tooltip: { trigger: 'axis', valueFormatter: (v: number | null) => (v === null ? '—' : `${v} ms`) },
    legend: { top: 0, textStyle: { fontSize: 11 } },
    xAxis: { type: 'category', data: categories },
    yAxis: { type: 'value', axisLabel: { formatter: '{value} ms' } },
    series: [
      {
        type: 'bar',
        name: 'p50',
        data: variants.map((v) => round(v.latency_p50)),
        itemStyle: { color: PALETTE[0] },
        barMaxWidth: 28,
      },
      {
        type: 'bar',
        name: 'p95',
        data: variants.map((v) => round(v.latency_p95)),
        itemStyle: { color: PALETTE[2] },
        barMaxWidth: 28,
      },
    ],
  }
}
