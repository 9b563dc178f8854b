// The model dashboard's per-version comparison: a bar per upstream (the deployment version or provider model that
// served the requests) for one figure. Upstream names come from users' providers and deployments: escaped.
import '@/views/gateway/charts'
import { escapeHtml } from '@/format'
import { PALETTE } from '@/views/gateway/charts'
import type { VersionFigures } from '@/api/slos'
import { formatValue } from './seriesChart'

export function versionBarOption(
  versions: VersionFigures[],
  pick: (v: VersionFigures) => number | null,
  unit: string,
  noName: string,
) {
  const names = versions.map((v) => v.upstream || noName)
  return {
    animation: false,
    color: PALETTE,
    grid: { left: 140, right: 24, top: 8, bottom: 24 },
    tooltip: {
      trigger: 'item',
      formatter: (p: { dataIndex: number; value: number }) =>
        `${escapeHtml(names[p.dataIndex] ?? '')}: <b>${escapeHtml(formatValue(p.value, unit))}</b>`,
    },
    xAxis: { type: 'value', axisLabel: { fontSize: 10, formatter: (v: number) => formatValue(v, unit) } },
    yAxis: {
      type: 'category',
      data: names,
      inverse: true,
      axisLabel: { fontSize: 10, width: 130, overflow: 'truncate' },
    },
    series: [{ type: 'bar', data: versions.map((v) => pick(v) ?? 0), barMaxWidth: 18 }],
  }
}
