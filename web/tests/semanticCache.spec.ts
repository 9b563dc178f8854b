import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { setLocale } from '@/i18n'
import { hitRateSeries, percent, settingsBody, settingsForm, settingsProblems } from '@/api/semanticCache'
import SemanticCacheTab from '@/views/cost/SemanticCacheTab.vue'
import { byTestId, mockApi, mountView, settle, signIn } from './helpers'

// jsdom has no canvas: the chart renders as a placeholder keeping its option.
vi.mock('vue-echarts', async () => {
  const { defineComponent, h } = await import('vue')
  return {
    default: defineComponent({
      name: 'VChart',
      props: { option: { type: Object, default: null } },
      render() {
        return h('div', { class: 'chart-stub', 'data-option': JSON.stringify(this.option) })
      },
    }),
  }
})

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

describe('the Cost page tab', () => {
  beforeEach(() => setLocale('ko'))
  afterEach(() => {
    vi.restoreAllMocks()
    document.body.innerHTML = ''
  })

  it('shows totals and one row per route, asking for the chosen range', async () => {
    const calls = mockApi({
      'GET /api/gateway/semantic-cache/stats': () => ({
        since: '2026-11-27T00:00:00Z',
        until: '2026-12-04T00:00:00Z',
        bucket: 'day',
        currency: 'KRW',
        totals: { hits: 3, misses: 1, hit_rate: 0.75, saved_cost: 12.5 },
        routes: [
          {
            route: '<b>채팅</b>',
            hits: 3,
            misses: 1,
            hit_rate: 0.75,
            saved_cost: 12.5,
            threshold: 0.95,
            enabled: true,
          },
        ],
        series: [{ ts: '2026-12-01T00:00:00Z', hits: 3, misses: 1, hit_rate: 0.75, saved_cost: 12.5 }],
      }),
    })
    const wrapper = await mountView(SemanticCacheTab, signIn(['infra:read']))
    await settle()
    const asked = calls.find((c) => c.path === '/api/gateway/semantic-cache/stats')!
    const span = Date.parse(asked.query.get('to')!) - Date.parse(asked.query.get('from')!)
    expect(span).toBe(7 * 86400 * 1000) // the tab opens on the last 7 days
    expect(byTestId('cache-total-hitRate')!.textContent).toContain('75.0%')
    expect(byTestId('cache-total-saved')!.textContent).toContain('KRW')
    const table = byTestId('cache-routes')!.textContent!
    expect(table).toContain('<b>채팅</b>') // a route name is text, never markup
    expect(table).toContain('0.95')
    const option = JSON.parse(document.querySelector('.chart-stub')!.getAttribute('data-option')!)
    expect(option.series[0].data).toEqual([[Date.parse('2026-12-01T00:00:00Z'), 75]])
    wrapper.unmount()
  })

  it('says how to turn it on when nothing was looked up', async () => {
    mockApi({
      'GET /api/gateway/semantic-cache/stats': () => ({
        since: '2026-11-27T00:00:00Z',
        until: '2026-12-04T00:00:00Z',
        bucket: 'day',
        currency: 'USD',
        totals: { hits: 0, misses: 0, hit_rate: null, saved_cost: 0 },
        routes: [],
        series: [],
      }),
    })
    const wrapper = await mountView(SemanticCacheTab, signIn(['infra:read']))
    await settle()
    expect(byTestId('cost-cache')!.textContent).toContain('시맨틱 캐시를 켜세요')
    wrapper.unmount()
  })
})
