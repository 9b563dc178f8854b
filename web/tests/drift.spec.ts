import { describe, expect, it } from 'vitest'
import { featureRows, overExpected, psiSeries, severityColor, worst, type DriftResult } from '@/api/drift'

const base = {
  route: 'chat',
  p_value: null,
  n_current: 100,
  n_reference: 300,
  current_start: '2026-12-04T00:00:00Z',
  current_end: '2026-12-05T00:00:00Z',
  reference_start: '2026-11-27T00:00:00Z',
  reference_end: '2026-12-04T00:00:00Z',
  computed_at: '2026-12-05T00:00:00Z',
}
const r = (feature: string, test: string, statistic: number, severity: string, extra = {}): DriftResult => ({
  ...base,
  feature,
  test,
  statistic,
  severity,
  ...extra,
})

describe('drift panel logic', () => {
  it('groups tests per feature in a fixed order with the worst severity', () => {
    const rows = featureRows([
      r('language_mix', 'tv', 0.3, 'drifted'),
      r('prompt_chars', 'ks', 0.4, 'drifted', { p_value: 1e-9, n_current: 120 }),
      r('prompt_chars', 'psi', 0.12, 'moderate'),
      r('새_지표', 'psi', 0.01, 'stable'),
      r('hangul_ratio', 'psi', 0.02, 'stable'),
      r('embedding', 'cosine', 0.2, 'drifted'),
    ])
    expect(rows.map((x) => x.feature)).toEqual(['prompt_chars', 'hangul_ratio', 'language_mix', 'embedding', '새_지표'])
    expect(rows[0]).toMatchObject({ severity: 'drifted', n_current: 120, n_reference: 300 })
    expect(rows[0]!.psi?.statistic).toBe(0.12)
    expect(rows[0]!.ks?.p_value).toBe(1e-9)
    expect(rows[0]!.tv).toBeNull()
    expect(rows[2]!.tv?.statistic).toBe(0.3)
    expect(rows[3]!.cosine?.statistic).toBe(0.2)
    expect(featureRows([])).toEqual([])
  })

  it('ranks severities and colours them', () => {
    expect(worst(['stable', 'moderate'])).toBe('moderate')
    expect(worst(['drifted', 'stable', 'unknown'])).toBe('drifted')
    expect(worst([])).toBe('stable')
    expect(severityColor('drifted')).toBe('error')
    expect(severityColor('moderate')).toBe('warning')
    expect(severityColor('<b>')).toBe('grey')
  })

  it('turns PSI history into sorted series per feature and leaves other tests out', () => {
    const series = psiSeries([
      { t: '2026-12-05T01:00:00Z', feature: 'prompt_chars', test: 'psi', statistic: 0.3 },
      { t: '2026-12-05T00:00:00Z', feature: 'prompt_chars', test: 'psi', statistic: 0.1 },
      { t: '2026-12-05T00:00:00Z', feature: 'prompt_chars', test: 'ks', statistic: 0.9 },
      { t: '2026-12-05T00:00:00Z', feature: 'hangul_ratio', test: 'psi', statistic: 0.05 },
    ])
    const start = Date.parse('2026-12-05T00:00:00Z') / 1000
    expect(series).toEqual([
      {
        labels: { feature: 'prompt_chars' },
        points: [
          [start, 0.1],
          [start + 3600, 0.3],
        ],
      },
      { labels: { feature: 'hangul_ratio' }, points: [[start, 0.05]] },
    ])
  })

  it('says how far over its expectation an anomaly is', () => {
    expect(overExpected({ observed: 200, expected: 10 })).toBe('20×')
    expect(overExpected({ observed: 7, expected: 0 })).toBe('+7')
    expect(overExpected({ observed: 1, expected: 3 })).toBe('0.333×')
  })
})
