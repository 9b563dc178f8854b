import { describe, expect, it } from 'vitest'
import { budgetColor, burnColor, percent, recentMonths, reportUrl, stepSeries, type StepFigures } from '@/api/slos'

const step = (t: number, p95: number | null, requests = 1): StepFigures => ({
  t,
  qps: requests / 60,
  client_error_rate: 0,
  requests,
  error_rate: 0,
  p50_ms: null,
  p95_ms: p95,
  p99_ms: null,
  prompt_tokens: 0,
  completion_tokens: 0,
  cost: 0,
  cache_hits: 0,
})

describe('SLO helpers', () => {
  it('lists the last months in UTC across a year boundary', () => {
    expect(recentMonths(new Date(Date.UTC(2026, 1, 15)), 3)).toEqual(['2026-02', '2026-01', '2025-12'])
  })

  it('builds the report address with the month, format and a known language', () => {
    expect(reportUrl('2026-11', 'csv', 'en')).toBe('/api/monitoring/sla-report?month=2026-11&format=csv&lang=en')
    expect(reportUrl('2026-11', 'html', 'fr')).toContain('lang=ko')
  })

  it('formats fractions and colours budgets and burn rates', () => {
    expect(percent(0.993)).toBe('99.30%')
    expect(percent(null)).toBe('—')
    expect(budgetColor(-0.4)).toBe('error')
    expect(budgetColor(0)).toBe('error')
    expect(budgetColor(0.1)).toBe('warning')
    expect(budgetColor(0.8)).toBe('success')
    expect(burnColor(0.5)).toBeUndefined()
    expect(burnColor(2)).toBe('warning')
    expect(burnColor(14.4)).toBe('error')
  })

  it('turns steps into a chart series, leaving out steps without a value', () => {
    const s = stepSeries([step(60, 10), step(120, null), step(180, 30)], (x) => x.p95_ms, { route: 'chat' })
    expect(s).toEqual({
      labels: { route: 'chat' },
      points: [
        [60, 10],
        [180, 30],
      ],
    })
  })
})
