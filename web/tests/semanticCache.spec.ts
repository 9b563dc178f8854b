import { describe, expect, it } from 'vitest'
import { hitRateSeries, percent, settingsBody, settingsForm, settingsProblems } from '@/api/semanticCache'

describe('semantic cache settings', () => {
  it('fills defaults and sends null when off', () => {
    const form = settingsForm(null)
    expect(form).toMatchObject({ enabled: false, threshold: 0.95, scope: 'team', ttl_s: 3600 })
    expect(settingsProblems(form)).toEqual([])
    expect(settingsBody(form)).toBeNull()
    expect(settingsForm({ threshold: 0.9, enabled: true }).threshold).toBe(0.9)
  })

  it('names what an enabled cache still needs', () => {
    const form = { ...settingsForm(null), enabled: true, threshold: 1.2, ttl_s: 0, max_entries: 2.5 }
    expect(settingsProblems(form)).toEqual(['route', 'threshold', 'ttl', 'maxEntries'])
    const ok = {
      ...settingsForm(null),
      enabled: true,
      embeddings_route: '임베딩-ko',
      threshold: '0.9' as unknown as number,
    }
    expect(settingsProblems(ok)).toEqual([])
    expect(settingsBody(ok)).toEqual({
      enabled: true,
      embeddings_route: '임베딩-ko',
      threshold: 0.9,
      ttl_s: 3600,
      scope: 'team',
      max_entries: 10000,
    })
  })
})

describe('semantic cache figures', () => {
  it('turns buckets into a percent line, leaving out buckets without lookups', () => {
    const series = hitRateSeries([
      { ts: '2026-12-01T00:00:00Z', hits: 1, misses: 3, hit_rate: 0.25, saved_cost: 0.1 },
      { ts: '2026-12-01T01:00:00Z', hits: 0, misses: 0, hit_rate: null, saved_cost: 0 },
      { ts: '2026-12-01T02:00:00Z', hits: 2, misses: 1, hit_rate: 2 / 3, saved_cost: 0.2 },
    ])
    expect(series).toHaveLength(1)
    expect(series[0]!.points).toEqual([
      [Date.parse('2026-12-01T00:00:00Z') / 1000, 25],
      [Date.parse('2026-12-01T02:00:00Z') / 1000, 66.7],
    ])
  })

  it('formats rates', () => {
    expect(percent(null)).toBe('—')
    expect(percent(0.5)).toBe('50.0%')
    expect(percent(1 / 3)).toBe('33.3%')
  })
})
