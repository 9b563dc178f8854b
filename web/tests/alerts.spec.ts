import { afterEach, describe, expect, it, vi } from 'vitest'
import { durationSeconds, labelText, matchersFor, sortAlerts, type Alert } from '@/api/alerts'
import { i18n, setLocale } from '@/i18n'
import en from '@/i18n/en'
import ko from '@/i18n/ko'
import AlertRulesTab from '@/views/alerts/AlertRulesTab.vue'
import { byTestId, mockApi, mountView, settle, signIn } from './helpers'

const alert = (over: Partial<Alert>): Alert => ({
  id: 'a',
  rule_id: 'r',
  rule_name: 'GPU 과열',
  team_id: 't',
  severity: 'warning',
  fingerprint: 'f',
  labels: { node: 'n1', gpu: '0', alertname: 'GPU 과열', severity: 'warning', team: 'ops' },
  state: 'firing',
  value: 1,
  summary: '',
  started_at: '2026-01-01T00:00:00Z',
  fired_at: null,
  resolved_at: null,
  evaluated_at: '2026-01-01T00:00:00Z',
  silenced: false,
  acked_at: null,
  acked_by_name: null,
  ...over,
})

describe('alerts', () => {
  it('puts firing first, then severity, then the latest', () => {
    const list = sortAlerts([
      alert({ id: 'pending', state: 'pending', severity: 'critical' }),
      alert({ id: 'old-warning', started_at: '2026-01-01T00:00:00Z' }),
      alert({ id: 'new-warning', started_at: '2026-01-02T00:00:00Z' }),
      alert({ id: 'critical', severity: 'critical' }),
    ])
    expect(list.map((a) => a.id)).toEqual(['critical', 'new-warning', 'old-warning', 'pending'])
  })

  it('silences exactly the alert it was made from', () => {
    expect(matchersFor(alert({}))).toEqual([
      { name: 'alertname', op: '=', value: 'GPU 과열' },
      { name: 'node', op: '=', value: 'n1' },
      { name: 'gpu', op: '=', value: '0' },
    ])
    expect(labelText(alert({}).labels)).toBe('node="n1", gpu="0"')
  })

  it('reads durations as the server does', () => {
    expect(durationSeconds('1h30m')).toBe(5400)
    expect(durationSeconds('0s')).toBe(0)
    expect(durationSeconds('5 m')).toBeNull()
    expect(durationSeconds('1w')).toBeNull()
    expect(durationSeconds('')).toBeNull()
  })
})

describe('alert messages', () => {
  it('are in both languages and compile, the template braces literal', () => {
    const keys = (o: object, prefix = ''): string[] =>
      Object.entries(o).flatMap(([k, v]) =>
        v && typeof v === 'object' ? keys(v, `${prefix}${k}.`) : [`${prefix}${k}`],
      )
    for (const part of ['active', 'rules', 'silences'] as const)
      expect(keys(ko.alerts[part]).sort()).toEqual(keys(en.alerts[part]).sort())
    setLocale('en')
    expect(i18n.global.t('alerts.rules.summaryHint')).toBe('Only {{value}} and {{labels.name}} are replaced')
  })
})

describe('the new rule dialog', () => {
  afterEach(() => {
    vi.restoreAllMocks()
    document.body.innerHTML = ''
  })

  it('previews the expression as it is typed and saves the rule', async () => {
    setLocale('en')
    const calls = mockApi({
      'GET /api/alerts/rules': () => ({ items: [], next_cursor: null, total: 0 }),
      'POST /api/alerts/rules/preview': () => ({
        samples: [
          { labels: { node: 'n1' }, value: 97, matches: true },
          { labels: { node: 'n2' }, value: 12, matches: false },
        ],
        total: 2,
        has_condition: true,
      }),
      'POST /api/alerts/rules': (call) => ({ id: 'r1', ...(call.body as object), firing: 0, pending: 0 }),
    })
    const wrapper = await mountView(AlertRulesTab, signIn(['infra:read', 'alerts:write']))
    byTestId('alert-rule-new')!.click()
    await settle()
    const input = (id: string) =>
      byTestId(id)!.querySelector<HTMLInputElement | HTMLTextAreaElement>('input, textarea')!
    input('alert-rule-name').value = 'GPU 과열'
    input('alert-rule-name').dispatchEvent(new Event('input'))
    input('alert-rule-expression').value = 'avg(gpu_utilization[5m]) >= 90'
    input('alert-rule-expression').dispatchEvent(new Event('input'))
    await new Promise((r) => setTimeout(r, 600))
    await settle()
    expect(byTestId('alert-rule-preview')!.textContent).toContain('1 of 2 label sets would fire')
    expect(byTestId('alert-rule-preview')!.textContent).toContain('node="n1"')
    byTestId('alert-rule-save')!.click()
    await settle()
    const saved = calls.find((c) => c.method === 'POST' && c.path === '/api/alerts/rules')
    expect(saved?.body).toMatchObject({
      name: 'GPU 과열',
      expression: 'avg(gpu_utilization[5m]) >= 90',
      for: '0s',
      severity: 'warning',
      repeat_interval: '4h',
      channel_ids: [],
    })
    wrapper.unmount()
  })
})
