// A line chart of stored metric series (one line per labelled series) for the monitoring dashboards. The tooltip is
// ours, so everything in it is escaped: labels come from routes, deployments and nodes users name.
import '@/views/gateway/charts'
import type { SeriesData } from '@/api/monitoring'
import { escapeHtml, human } from '@/format'
import { PALETTE } from '@/views/gateway/charts'
import { timeLabel } from './timeRange'

/** A series' name in the legend: the values of the labels asked for (all labels when none), or `fallback`. */
export function seriesLabel(labels: Record<string, string>, keys: string[] | undefined, fallback: string): string {
  const picked = (keys?.length ? keys : Object.keys(labels).sort()).map((k) => labels[k]).filter(Boolean)
  return picked.length ? picked.join(' · ') : fallback
}

/** A value as a dashboard shows it: three significant digits, K/M/G above a thousand, with its unit. */
export function formatValue(v: number | null | undefined, unit = ''): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—'
  if (Math.abs(v) >= 1000) return human(v, unit)
  const text = String(Number(v.toPrecision(3)))
  return unit ? `${text} ${unit}` : text
}

export interface LineOptions {
  series: SeriesData[]
  from: number
  to: number
  locale: string
  unit?: string
  legendKeys?: string[]
  fallbackName: string
  area?: boolean
  /** Horizontal lines (a threshold, an SLO target). */
  marks?: { value: number; label: string }[]
}

export function lineOption(o: LineOptions) {
  const span = o.to - o.from
  const unit = o.unit ?? ''
  const names = o.series.map((s) => seriesLabel(s.labels, o.legendKeys, o.fallbackName))
  return {
    animation: false,
    color: PALETTE,
    grid: { left: 56, right: 20, top: o.series.length > 1 ? 36 : 16, bottom: 28 },
    legend: o.series.length > 1 ? { top: 0, type: 'scroll', textStyle: { fontSize: 11 } } : undefined,
    tooltip: {
      trigger: 'axis',
      formatter: (params: { seriesIndex: number; value: [number, number]; color: string }[]) => {
        if (!params.length) return ''
        const at = params[0]!.value[0] / 1000
        const head = `<b>${escapeHtml(timeLabel(at, span, o.locale))}</b>`
        const rows = params.map(
          (p) =>
            `<span style="color:${escapeHtml(p.color)}">●</span> ${escapeHtml(names[p.seriesIndex] ?? '')}: ` +
            `<b>${escapeHtml(formatValue(p.value[1], unit))}</b>`,
        )
        return [head, ...rows].join('<br>')
      },
    },
    xAxis: {
      type: 'time',
      min: o.from * 1000,
      max: o.to * 1000,
      axisLabel: { fontSize: 10, hideOverlap: true, formatter: (v: number) => timeLabel(v / 1000, span, o.locale) },
    },
    yAxis: { type: 'value', axisLabel: { fontSize: 10, formatter: (v: number) => formatValue(v, unit) } },
    series: o.series.map((s, i) => ({
      type: 'line',
      name: names[i],
      showSymbol: s.points.length < 40,
      symbolSize: 4,
      areaStyle: o.area ? { opacity: 0.15 } : undefined,
      data: s.points.map(([t, v]) => [t * 1000, v]),
      markLine:
        i === 0 && o.marks?.length
          ? {
              silent: true,
              symbol: 'none',
              lineStyle: { type: 'dashed', color: '#c0392b' },
              label: { formatter: (p: { name: string }) => p.name, fontSize: 10 },
              data: o.marks.map((m) => ({ yAxis: m.value, name: m.label })),
            }
          : undefined,
    })),
  }
}
