// The governance dashboard's charts: activity by weekday × hour (Seoul) and violations per policy. Tooltips are
// HTML, so every name in them (policies are user-named) passes through escapeHtml.
import { use } from 'echarts/core'
import { HeatmapChart } from 'echarts/charts'
import { VisualMapComponent } from 'echarts/components'
import '@/plugins/echarts'
import { escapeHtml } from '@/format'
import { heatmapGrid, type ViolationCount } from '@/api/governance'

use([HeatmapChart, VisualMapComponent])

interface CellParam {
  value: [number, number, number]
}

/** Heatmap of events: x the hour (0–23), y the weekday (labels given, Monday first). */
export function activityHeatmap(cells: [number, number, number][], weekdays: string[], countLabel: string) {
  const grid = heatmapGrid(cells)
  const max = Math.max(1, ...grid.map((c) => c[2]))
  return {
    animation: false,
    grid: { left: 56, right: 16, top: 8, bottom: 64 },
    tooltip: {
      formatter: (p: CellParam) =>
        `${escapeHtml(weekdays[p.value[1]] ?? '')} ${escapeHtml(String(p.value[0]).padStart(2, '0'))}:00<br>` +
        `${escapeHtml(countLabel)}: ${escapeHtml(p.value[2])}`,
    },
    xAxis: { type: 'category', data: [...Array(24).keys()].map(String), splitArea: { show: true } },
    yAxis: { type: 'category', data: weekdays, inverse: true, splitArea: { show: true } },
    visualMap: { min: 0, max, calculable: true, orient: 'horizontal', left: 'center', bottom: 0, itemHeight: 120 },
    series: [{ type: 'heatmap', data: grid, emphasis: { itemStyle: { borderColor: '#333', borderWidth: 1 } } }],
  }
}

interface BarParam {
  dataIndex: number
}

/** Horizontal bars: violations per policy (and kind). */
export function violationBars(rows: ViolationCount[], countLabel: string) {
  const labels = rows.map((r) => (r.kind ? `${r.policy} · ${r.kind}` : r.policy))
  return {
    animation: false,
    grid: { left: 160, right: 24, top: 8, bottom: 24 },
    tooltip: {
      trigger: 'item',
      formatter: (p: BarParam) =>
        `${escapeHtml(labels[p.dataIndex] ?? '')}<br>${escapeHtml(countLabel)}: ${escapeHtml(rows[p.dataIndex]?.count ?? 0)}`,
    },
    xAxis: { type: 'value', minInterval: 1 },
    yAxis: { type: 'category', data: labels, inverse: true, axisLabel: { width: 140, overflow: 'truncate' } },
    series: [{ type: 'bar', data: rows.map((r) => r.count), barMaxWidth: 18 }],
  }
}
