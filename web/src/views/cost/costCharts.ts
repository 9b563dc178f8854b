// The Cost page's charts. Tooltips are ours and built as HTML, so every name in them (routes, teams, users, budgets
// are user-named) passes through escapeHtml.
import '@/views/gateway/charts'
import { escapeHtml } from '@/format'
import { PALETTE } from '@/views/gateway/charts'
import type { BudgetBurn, ForecastDay, SimulatedRoute } from '@/api/cost'

type Money = (value: number) => string

interface AxisParam {
  dataIndex: number
  seriesName: string
  value: number | null
  color: string
}

function axisTooltip(labels: string[], money: Money) {
  return (params: AxisParam[]) => {
    if (!params.length) return ''
    const head = `<b>${escapeHtml(labels[params[0]!.dataIndex] ?? '')}</b>`
    const rows = params
      .filter((p) => p.value !== null && p.value !== undefined)
      .map(
        (p) =>
          `<span style="color:${escapeHtml(p.color)}">●</span> ${escapeHtml(p.seriesName)}: ${escapeHtml(money(Number(p.value)))}`,
      )
    return [head, ...rows].join('<br>')
  }
}

/** Stacked bars of cost per day, one series per group. */
export function dailyStackOption(labels: string[], stacks: [string, number[]][], money: Money) {
  return {
    animation: false,
    grid: { left: 64, right: 16, top: 36, bottom: 28 },
    legend: { type: 'scroll', top: 0, textStyle: { fontSize: 11 } },
    tooltip: { trigger: 'axis', formatter: axisTooltip(labels, money) },
    xAxis: { type: 'category', data: labels, axisLabel: { fontSize: 10, hideOverlap: true } },
    yAxis: { type: 'value', axisLabel: { formatter: (v: number) => money(v) } },
    series: stacks.map(([name, data], i) => ({
      type: 'bar',
      stack: 'cost',
      name,
      data,
      itemStyle: { color: PALETTE[i % PALETTE.length] },
      barMaxWidth: 28,
    })),
  }
}

/** Cumulative spend this month (solid), its projection (dashed) with the interval, and a line per budget. */
export function forecastOption(
  days: ForecastDay[],
  budgets: BudgetBurn[],
  names: { actual: string; projected: string; low: string; high: string },
  money: Money,
) {
  const labels = days.map((d) => d.day.slice(5))
  const lastActual = days.reduce((i, d, j) => (d.actual !== null ? j : i), -1)
  // the projection starts where the actual line ends, so the two join
  const projected = days.map((d, j) => (j === lastActual ? d.actual : d.projected))
  return {
    animation: false,
    grid: { left: 64, right: 16, top: 36, bottom: 28 },
    legend: { type: 'scroll', top: 0, textStyle: { fontSize: 11 } },
    tooltip: { trigger: 'axis', formatter: axisTooltip(labels, money) },
    xAxis: { type: 'category', data: labels, axisLabel: { fontSize: 10, hideOverlap: true } },
    yAxis: { type: 'value', axisLabel: { formatter: (v: number) => money(v) } },
    series: [
      {
        type: 'line',
        name: names.actual,
        data: days.map((d) => d.actual),
        showSymbol: false,
        itemStyle: { color: PALETTE[0] },
      },
      {
        type: 'line',
        name: names.projected,
        data: projected,
        showSymbol: false,
        lineStyle: { type: 'dashed' },
        itemStyle: { color: PALETTE[0] },
      },
      {
        type: 'line',
        name: names.low,
        data: days.map((d) => d.low),
        showSymbol: false,
        lineStyle: { opacity: 0.35 },
        itemStyle: { color: PALETTE[8] },
      },
      {
        type: 'line',
        name: names.high,
        data: days.map((d) => d.high),
        showSymbol: false,
        lineStyle: { opacity: 0.35 },
        itemStyle: { color: PALETTE[8] },
      },
      ...budgets.map((b, i) => ({
        type: 'line',
        name: b.subject,
        data: days.map(() => b.budget),
        showSymbol: false,
        lineStyle: { type: 'dotted', width: 1 },
        itemStyle: { color: PALETTE[(i + 2) % PALETTE.length] },
      })),
    ],
  }
}

/** Baseline against projected monthly cost per route. */
export function simulationOption(
  routes: SimulatedRoute[],
  names: { baseline: string; projected: string },
  money: Money,
) {
  const labels = routes.map((r) => r.route)
  return {
    animation: false,
    grid: { left: 64, right: 16, top: 36, bottom: 48 },
    legend: { top: 0, textStyle: { fontSize: 11 } },
    tooltip: { trigger: 'axis', formatter: axisTooltip(labels, money) },
    xAxis: { type: 'category', data: labels, axisLabel: { fontSize: 10, rotate: 20, hideOverlap: true } },
    yAxis: { type: 'value', axisLabel: { formatter: (v: number) => money(v) } },
    series: [
      { type: 'bar', name: names.baseline, data: routes.map((r) => r.baseline), itemStyle: { color: PALETTE[8] } },
      { type: 'bar', name: names.projected, data: routes.map((r) => r.projected), itemStyle: { color: PALETTE[0] } },
    ],
  }
}
