// The chart of a quality monitor: the mean judge score per hour (or day) as a line with its 10th percentile dashed,
// and how many requests were judged as bars on a second axis. The tooltip is ours, so everything in it is escaped.
import '@/views/gateway/charts'
import type { SeriesPoint, Step } from '@/api/monitors'
import { escapeHtml } from '@/format'
import { PALETTE } from '@/views/gateway/charts'

export interface SeriesLabels {
  avg: string
  p10: string
  n: string
  errors: string
}

const round = (v: number | null) => (v === null ? null : Math.round(v * 1000) / 1000)

/** A bucket's start as people read it, in their time zone: "12-04 15:00" by hour, "2026-12-04" by day. */
export function bucketLabel(t: string, step: Step, locale: string): string {
  const lang = locale === 'ko' ? 'ko-KR' : 'en-GB'
  const d = new Date(t)
  return step === 'day'
    ? d.toLocaleDateString(lang, { year: 'numeric', month: '2-digit', day: '2-digit' })
    : d.toLocaleString(lang, { month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' })
}

/** The tooltip of one bucket (ECharts sets it as HTML: every piece is escaped). */
export function bucketTooltip(p: SeriesPoint, step: Step, locale: string, labels: SeriesLabels): string {
  const value = (v: number | null) => (v === null ? '—' : v.toFixed(3))
  const rows: [string, string][] = [
    [labels.avg, value(p.avg)],
    [labels.p10, value(p.p10)],
    [labels.n, String(p.n)],
  ]
  if (p.errors) rows.push([labels.errors, String(p.errors)])
  return (
    `<b>${escapeHtml(bucketLabel(p.t, step, locale))}</b><br>` +
    rows.map(([k, v]) => `${escapeHtml(k)}: <b>${escapeHtml(v)}</b>`).join('<br>')
  )
}

export function seriesOption(points: SeriesPoint[], step: Step, locale: string, labels: SeriesLabels) {
  const categories = points.map((p) => bucketLabel(p.t, step, locale))
  return {
    animation: false,
    grid: { left: 48, right: 48, top: 36, bottom: 28 },
    legend: { top: 0, textStyle: { fontSize: 11 } },
    tooltip: {
      trigger: 'axis',
      formatter: (params: { dataIndex: number }[]) => {
        const p = points[params[0]?.dataIndex ?? -1]
        return p ? bucketTooltip(p, step, locale, labels) : ''
      },
    },
    xAxis: { type: 'category', data: categories, axisLabel: { fontSize: 10, hideOverlap: true } },
    yAxis: [
      { type: 'value', min: 0, max: 1, name: labels.avg, nameTextStyle: { fontSize: 10 } },
      { type: 'value', minInterval: 1, name: labels.n, nameTextStyle: { fontSize: 10 }, splitLine: { show: false } },
    ],
    series: [
      {
        type: 'bar',
        name: labels.n,
        yAxisIndex: 1,
        data: points.map((p) => p.n),
        itemStyle: { color: '#c5cae9' },
        barMaxWidth: 18,
      },
      {
        type: 'line',
        name: labels.avg,
        data: points.map((p) => round(p.avg)),
        showSymbol: true,
        symbolSize: 6,
        itemStyle: { color: PALETTE[0] },
      },
      {
        type: 'line',
        name: labels.p10,
        data: points.map((p) => round(p.p10)),
        showSymbol: false,
        lineStyle: { type: 'dashed', width: 1 },
        itemStyle: { color: PALETTE[2] },
      },
    ],
  }
}
