import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { VueWrapper } from '@vue/test-utils'
import { VAutocomplete, VSelect } from 'vuetify/components'
import QualityMonitorView from '@/views/evaluation/QualityMonitorView.vue'
import QualityMonitorsTab from '@/views/evaluation/QualityMonitorsTab.vue'
import { bucketTooltip, seriesOption } from '@/views/evaluation/monitorCharts'
import { formatRate } from '@/api/monitors'
import { setLocale } from '@/i18n'
import { byTestId, json, mockApi, mountView, settle, signIn } from './helpers'

vi.mock('vue-router', async (importOriginal) => ({
  ...(await importOriginal<typeof import('vue-router')>()),
  useRoute: () => ({ params: { id: 'q1' }, meta: {}, query: {} }),
}))
// jsdom has no canvas: charts render as placeholders that keep their options.
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

const T0 = '2026-03-01T09:00:00Z'
const MONITOR = {
  id: 'q1',
  team_id: 't1',
  team_name: 'research',
  name: 'chat-helpfulness',
  route: 'chat',
  judge_route: 'judge',
  rubric: 'helpfulness',
  criteria: null,
  prompt: null,
  scale: 5,
  sample_rate: 0.05,
  max_per_hour: 60,
  enabled: true,
  watermark_at: T0,
  last_swept_at: T0,
  last_error: null,
  skipped: 4,
  judged_last_hour: 12,
  avg_last_24h: 0.625,
  n_last_24h: 40,
  created_by_name: 'dev',
  created_at: T0,
  updated_at: T0,
}
const POINTS = [
  { t: '2026-03-01T09:00:00Z', avg: 0.5, n: 4, p10: 0.25, errors: 0 },
  { t: '2026-03-01T10:00:00Z', avg: 0.75, n: 12, p10: 0.5, errors: 1 },
]
const XSS = '<img src=x onerror="window.__xss=1">'

let wrapper: VueWrapper | null = null
beforeEach(() => {
  vi.restoreAllMocks()
  setLocale('ko')
})
afterEach(() => {
  wrapper?.unmount()
  wrapper = null
  document.body.innerHTML = ''
})
vi.setConfig({ testTimeout: 20_000 })

describe('quality monitoring', () => {
  it('escapes everything in its chart tooltip and plots mean, p10 and counts per bucket', () => {
    const labels = { avg: XSS, p10: 'p10', n: 'n', errors: 'errors' }
    const tip = bucketTooltip(POINTS[1]!, 'hour', 'en', labels)
    expect(tip).not.toContain('<img')
    expect(tip).toContain('&lt;img')
    expect(tip).toContain('<b>0.750</b>')
    expect(tip).toContain('errors: <b>1</b>')
    const option = seriesOption(POINTS, 'hour', 'en', labels)
    const formatted = option.tooltip.formatter([{ dataIndex: 0 }])
    expect(formatted).not.toContain('<img')
    expect(option.series.map((s) => s.data)).toEqual([
      [4, 12],
      [0.5, 0.75],
      [0.25, 0.5],
    ])
    expect(formatRate(0.05)).toBe('5%')
    expect(formatRate(0.005)).toBe('0.5%')
  })

  it('lists monitors and creates one with a share in percent and an hourly budget', async () => {
    const calls = mockApi({
      'GET /api/eval/monitors': () => ({ items: [MONITOR], next_cursor: null, total: 1 }),
      'GET /api/inference/models/status': () => ({ currency: 'USD', models: [{ name: 'chat' }, { name: 'judge' }] }),
      'POST /api/eval/monitors': (c) => json({ ...MONITOR, id: 'q2', ...(c.body as object) }, 201),
    })
    wrapper = await mountView(QualityMonitorsTab, signIn(['eval:read', 'eval:write']))
    await settle()
    const table = byTestId('monitors-table')!
    expect(table.textContent).toContain('chat-helpfulness')
    expect(table.textContent).toContain('0.625')
    expect(table.textContent).toContain('5%')
    byTestId('monitor-new')!.click()
    await settle()
    expect(byTestId('monitor-form-missing')!.textContent).toBeTruthy()
    const rubrics = wrapper.findAllComponents(VSelect).at(-1)!
    const values = (rubrics.props('items') as { value: string }[]).map((i) => i.value)
    expect(values).not.toContain('correctness') // production traffic has no reference answer
    ;(byTestId('monitor-form-name')!.querySelector('input') as HTMLInputElement).value = 'chat-fluency'
    byTestId('monitor-form-name')!.querySelector('input')!.dispatchEvent(new Event('input'))
    const [route, judge] = wrapper.findAllComponents(VAutocomplete)
    route!.vm.$emit('update:modelValue', 'chat')
    judge!.vm.$emit('update:modelValue', 'judge')
    rubrics.vm.$emit('update:modelValue', 'korean_fluency')
    const rate = byTestId('monitor-form-rate')!.querySelector('input') as HTMLInputElement
    rate.value = '10'
    rate.dispatchEvent(new Event('input'))
    await settle()
    expect(byTestId('monitor-form-missing')).toBeNull()
    byTestId('monitor-form-submit')!.click()
    await settle()
    const post = calls.find((c) => c.method === 'POST')!
    expect(post.body).toMatchObject({
      name: 'chat-fluency',
      route: 'chat',
      judge_route: 'judge',
      rubric: 'korean_fluency',
      sample_rate: 0.1,
      max_per_hour: 60,
    })
  })

  it('shows a monitor’s series, its judged samples with reasoning, and pauses it', async () => {
    const calls = mockApi({
      'GET /api/eval/monitors/q1': () => MONITOR,
      'GET /api/eval/monitors/q1/series': () => ({
        monitor_id: 'q1',
        route: 'chat',
        rubric: 'helpfulness',
        step: 'hour',
        start: T0,
        end: T0,
        points: POINTS,
      }),
      'GET /api/eval/monitors/q1/scores': () => ({
        items: [
          {
            id: 's1',
            usage_record_id: 'u1',
            request_id: 'r1',
            created_at: T0,
            judged_at: T0,
            rubric: 'helpfulness',
            score: 0.75,
            raw: 4,
            reasoning: '질문에 정확히 답했습니다.',
            error: null,
          },
          {
            id: 's2',
            usage_record_id: 'u2',
            request_id: 'r2',
            created_at: T0,
            judged_at: T0,
            rubric: 'helpfulness',
            score: null,
            raw: null,
            reasoning: '',
            error: 'no score in the answer',
          },
        ],
        next_cursor: null,
      }),
      'PATCH /api/eval/monitors/q1': (c) => ({ ...MONITOR, ...(c.body as object) }),
    })
    wrapper = await mountView(QualityMonitorView, signIn(['eval:read', 'eval:write']))
    await settle()
    expect(byTestId('monitor-name')!.textContent).toBe('chat-helpfulness')
    // 16 judged: (0.5 × 4 + 0.75 × 12) / 16 = 0.6875
    expect(byTestId('monitor-totals')!.textContent).toContain('0.688')
    expect(byTestId('monitor-totals')!.textContent).toContain('16')
    const chart = JSON.parse(document.querySelector<HTMLElement>('.chart-stub')!.dataset.option!)
    expect(chart.series[1].data).toEqual([0.5, 0.75])
    const samples = byTestId('monitor-scores')!.textContent!
    expect(samples).toContain('질문에 정확히 답했습니다.')
    expect(samples).toContain('no score in the answer')
    const series = calls.find((c) => c.path.endsWith('/series'))!
    expect(series.query.get('step')).toBe('hour')
    byTestId('monitor-toggle')!.click()
    await settle()
    expect(calls.find((c) => c.method === 'PATCH')!.body).toEqual({ enabled: false })
    expect(byTestId('monitor-state')!.textContent).toContain('일시 중지')
  })
})
