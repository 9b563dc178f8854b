import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { VueWrapper } from '@vue/test-utils'
import ToolAnalytics from '@/views/tools/ToolAnalytics.vue'
import { agentToolMatrix, costShareOption, rateColor } from '@/views/tools/toolCharts'
import { setLocale } from '@/i18n'
import { byTestId, mockApi, mountView, settle, signIn } from './helpers'

vi.mock('vue-echarts', () => ({
  __esModule: true,
  default: { props: ['option'], template: '<div data-testid="chart" />' },
}))

const stat = (id: string, name: string, extra: Record<string, unknown> = {}) => ({
  tool_id: id,
  name,
  kind: 'http',
  team_id: 't1',
  calls: 2,
  ok: 2,
  success_rate: 1,
  p50_ms: 12,
  p95_ms: 30,
  cost: 0,
  model_cost: 0,
  total_cost: 0,
  cost_share: 0,
  error_kinds: {},
  ...extra,
})
const WEATHER = stat('w', 'weather', { cost: 1, model_cost: 0.03, total_cost: 1.03, cost_share: 0.9904 })
const BROKEN = stat('b', 'broken', {
  calls: 1,
  ok: 0,
  success_rate: 0,
  model_cost: 0.01,
  total_cost: 0.01,
  cost_share: 0.0096,
  error_kinds: { tool_error: 1 },
})
const CELLS = [
  { agent_id: 'a1', agent_name: 'analyst', tool_id: 'w', tool_name: 'weather', calls: 2, ok: 2, success_rate: 1 },
  { agent_id: 'a1', agent_name: 'analyst', tool_id: 'b', tool_name: 'broken', calls: 1, ok: 0, success_rate: 0 },
  { agent_id: 'a2', agent_name: 'helper', tool_id: 'w', tool_name: 'weather', calls: 5, ok: 4, success_rate: 0.8 },
]
const ANALYTICS = {
  days: 7,
  calls: 3,
  total_cost: 1.04,
  items: [WEATHER, BROKEN],
  agents: CELLS,
  keywords: [
    {
      tool_id: 'w',
      runs: 1,
      keywords: [
        { word: '날씨', count: 1 },
        { word: '환율', count: 1 },
      ],
    },
  ],
}

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

describe('tool analytics helpers', () => {
  it('orders the agent x tool matrix by calls and finds each cell', () => {
    const m = agentToolMatrix(CELLS)
    expect(m.agents.map((a) => [a.name, a.calls])).toEqual([
      ['helper', 5],
      ['analyst', 3],
    ])
    expect(m.tools.map((t) => [t.name, t.calls])).toEqual([
      ['weather', 7],
      ['broken', 1],
    ])
    expect(m.cell('a1', 'b')?.success_rate).toBe(0)
    expect(m.cell('a2', 'b')).toBeUndefined()
    expect([rateColor(1), rateColor(0.8), rateColor(0)]).toEqual(['success', 'warning', 'error'])
  })

  it('stacks own and model cost per tool, biggest on top, without the tools that cost nothing', () => {
    const option = costShareOption([BROKEN, stat('z', 'free'), { ...WEATHER, name: '<i>w</i>' }], {
      own: 'own',
      model: 'model',
      share: 'share',
    })
    expect(option.yAxis.data).toEqual(['broken', '<i>w</i>'])
    expect(option.series[0].data).toEqual([0, 1])
    expect(option.series[1].data).toEqual([0.01, 0.03])
    expect(option.series[1].label.formatter({ dataIndex: 1 })).toBe('99%')
    expect(option.tooltip.formatter([{ dataIndex: 1 }])).toContain('&lt;i&gt;w&lt;/i&gt;')
  })
})

describe('tool analytics tab', () => {
  it('shows costs, the matrix and the keywords in Korean', async () => {
    const calls = mockApi({ 'GET /api/tool/analytics': () => ANALYTICS })
    wrapper = await mountView(ToolAnalytics, signIn(['tools:read']))
    await settle()
    expect(calls[0].query.get('days')).toBe('7')
    expect(byTestId('tool-cost-chart')).not.toBeNull()
    expect(byTestId('tool-total-cost')!.textContent).toContain('합계 1.04')
    const table = byTestId('tool-analytics-table')!
    expect(table.textContent).toContain('모델 비용')
    expect(table.textContent).toContain('99%')
    expect(byTestId('tool-keywords-weather')!.textContent).toContain('날씨 · 1')
    expect(byTestId('tool-keywords-broken')!.textContent?.trim()).toBe('')
    const matrix = byTestId('tool-agent-matrix')!
    expect(matrix.textContent).toContain('에이전트별 도구 사용')
    expect(byTestId('matrix-analyst-broken')!.textContent).toContain('1 · 0%')
    expect(byTestId('matrix-helper-weather')!.textContent).toContain('5 · 80%')
  })

  it('says when nothing cost anything and hides an empty matrix', async () => {
    mockApi({
      'GET /api/tool/analytics': () => ({ ...ANALYTICS, total_cost: 0, items: [BROKEN], agents: [], keywords: [] }),
    })
    setLocale('en')
    wrapper = await mountView(ToolAnalytics, signIn(['tools:read']))
    await settle()
    expect(byTestId('tool-cost-chart')).toBeNull()
    expect(byTestId('tool-analytics')!.textContent).toContain('No cost in this range.')
    expect(byTestId('tool-agent-matrix')).toBeNull()
  })
})
