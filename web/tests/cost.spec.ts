import { describe, expect, it } from 'vitest'
import {
  budgetColor,
  daysBetween,
  draftProblems,
  emptyDraft,
  money,
  OTHER_GROUP,
  recentMonths,
  scenarioOf,
  sortSavings,
  stackByDay,
  type SavingItem,
} from '@/api/cost'
import { dailyStackOption, forecastOption, simulationOption } from '@/views/cost/costCharts'

const XSS = '<img src=x onerror=alert(1)>'

describe('cost helpers', () => {
  it('formats money in the reader locale, with 4 decimals under 1', () => {
    expect(money(1234.5, 'USD', 'en')).toBe('$1,234.50')
    expect(money(0.01234, 'USD', 'en')).toBe('$0.0123')
    expect(money(1500, 'KRW', 'ko')).toContain('1,500')
    expect(money(null, 'USD', 'en')).toBe('—')
    expect(money(3, 'bad currency', 'en')).toBe('3.00 bad currency')
  })

  it('lists recent months newest first across a year end', () => {
    expect(recentMonths(new Date(Date.UTC(2026, 1, 10)), 3)).toEqual(['2026-02', '2026-01', '2025-12'])
  })

  it('stacks the costliest groups per day and sums the rest', () => {
    const days = daysBetween('2026-03-01T00:00:00Z', '2026-03-04T00:00:00Z')
    expect(days).toEqual(['2026-03-01', '2026-03-02', '2026-03-03'])
    const spend = {
      totals: [
        { group: '채팅', cost: 10, requests: 1, prompt_tokens: 0, completion_tokens: 0 },
        { group: 'b', cost: 5, requests: 1, prompt_tokens: 0, completion_tokens: 0 },
        { group: 'c', cost: 1, requests: 1, prompt_tokens: 0, completion_tokens: 0 },
      ],
      daily: [
        { day: '2026-03-01', group: '채팅', cost: 4, requests: 1 },
        { day: '2026-03-03', group: '채팅', cost: 6, requests: 1 },
        { day: '2026-03-02', group: 'b', cost: 5, requests: 1 },
        { day: '2026-03-02', group: 'c', cost: 1, requests: 1 },
        { day: '2026-04-01', group: 'c', cost: 99, requests: 1 },
      ],
    }
    const stacks = stackByDay(spend, days, 2)
    expect([...stacks.keys()]).toEqual(['채팅', 'b', OTHER_GROUP])
    expect(stacks.get('채팅')).toEqual([4, 0, 6])
    expect(stacks.get(OTHER_GROUP)).toEqual([0, 1, 0])
  })

  it('orders savings by amount, then kind and subject', () => {
    const item = (kind: SavingItem['kind'], subject: string, monthly_saving: number): SavingItem => ({
      kind,
      subject,
      monthly_saving,
      evidence: {},
      link: '/',
    })
    const sorted = sortSavings([item('cache', 'b', 5), item('idle_deployment', 'x', 50), item('cache', 'a', 5)])
    expect(sorted.map((s) => s.subject)).toEqual(['x', 'a', 'b'])
    expect(budgetColor('over')).toBe('error')
    expect(budgetColor('nope')).toBe('default')
  })

  it('checks a scenario draft and builds its request', () => {
    const shift = { ...emptyDraft('shift'), route: 'a', to_route: 'a' }
    expect(draftProblems(shift)).toEqual(['to_route'])
    expect(draftProblems({ ...shift, to_route: 'b', percent: '101' })).toEqual(['percent'])
    expect(scenarioOf({ ...shift, to_route: 'b', percent: '40' })).toEqual({
      kind: 'shift',
      route: 'a',
      percent: 40,
      to_route: 'b',
    })
    expect(draftProblems({ ...emptyDraft('cache'), route: 'a', hit_rate: '' })).toEqual(['hit_rate'])
    const price = { ...emptyDraft('price'), upstream: 'p/m', input_price: -1, output_price: '2' }
    expect(draftProblems(price)).toEqual(['input_price'])
    expect(scenarioOf({ ...price, input_price: 1 })).toEqual({
      kind: 'price',
      upstream: 'p/m',
      input_price: 1,
      output_price: 2,
    })
    expect(draftProblems(emptyDraft('shift'))).toEqual(['route', 'to_route'])
  })
})

describe('cost charts', () => {
  const money = (v: number) => `$${v}`
  const param = (name: string, value: number) => ({ dataIndex: 0, seriesName: name, value, color: '#000' })

  it('escape user-named groups, budgets and routes in tooltips', () => {
    const daily = dailyStackOption([XSS], [[XSS, [1]]], money)
    const html = daily.tooltip.formatter([param(XSS, 1)])
    expect(html).not.toContain('<img')
    expect(html).toContain('&lt;img')
    expect(daily.series[0]).toMatchObject({ type: 'bar', stack: 'cost', data: [1] })

    const days = [
      { day: '2026-03-01', actual: 1, projected: null, low: null, high: null },
      { day: '2026-03-02', actual: null, projected: 3, low: 2, high: 4 },
    ]
    const budget = { subject: XSS, budget: 5 } as never
    const forecast = forecastOption(days, [budget], { actual: 'a', projected: 'p', low: 'l', high: 'h' }, money)
    expect(forecast.series[1]!.data).toEqual([1, 3]) // the projection joins the last actual point
    expect(forecast.series[4]).toMatchObject({ name: XSS, data: [5, 5] })
    expect(forecast.tooltip.formatter([param(XSS, 5)])).not.toContain('<img')

    const sim = simulationOption(
      [
        {
          route: XSS,
          requests: 1,
          prompt_tokens: 1,
          completion_tokens: 1,
          hit_rate: 0,
          baseline: 2,
          projected: 1,
          delta: -1,
        },
      ],
      { baseline: 'b', projected: 'p' },
      money,
    )
    expect(sim.tooltip.formatter([param('b', 2)])).toBe(
      '<b>&lt;img src=x onerror=alert(1)&gt;</b><br><span style="color:#000">●</span> b: $2',
    )
  })
})
