import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { VueWrapper } from '@vue/test-utils'
import ToolsView from '@/views/tools/ToolsView.vue'
import ToolDetailView from '@/views/tools/ToolDetailView.vue'
import { errorKindTotals, latencyOption } from '@/views/tools/toolCharts'
import { exampleArguments, parseArguments } from '@/stores/tools'
import { setLocale } from '@/i18n'
import { byTestId, mockApi, mountView, settle, signIn } from './helpers'

vi.mock('vue-router', async (importOriginal) => ({
  ...(await importOriginal<typeof import('vue-router')>()),
  useRoute: () => ({ params: { id: 'x1' }, meta: {}, query: {} }),
}))
vi.mock('vue-echarts', () => ({
  __esModule: true,
  default: { props: ['option'], template: '<div data-testid="chart" />' },
}))

const TOOL = {
  id: 'x1',
  team_id: 't1',
  name: 'get_weather',
  kind: 'http',
  description: '날씨',
  latest_version: 1,
  requires_approval: false,
  timeout_s: 30,
  allow_hosts: ['127.0.0.1:9'],
  has_credential: true,
  mcp_server_id: null,
  visibility: 'team',
  created_by: null,
  archived_at: null,
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
}
const VERSION = {
  tool_id: 'x1',
  version: 1,
  parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer', default: 3 } } },
  spec: { method: 'GET', base_url: 'http://127.0.0.1:9', path: '/weather' },
  created_by: null,
  created_at: '2026-01-01T00:00:00Z',
}
const STATS = {
  tool_id: 'x1',
  name: 'get_weather',
  kind: 'http',
  team_id: 't1',
  calls: 4,
  ok: 3,
  success_rate: 0.75,
  p50_ms: 12,
  p95_ms: 40,
  cost: 0,
  cost_share: 0,
  error_kinds: { timeout: 1 },
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

describe('tool helpers', () => {
  it('parses test arguments and says why text is not an object', () => {
    expect(parseArguments('')).toEqual({ value: {}, error: null })
    expect(parseArguments('{"a": 1}')).toEqual({ value: { a: 1 }, error: null })
    expect(parseArguments('[1]').error).toBe('object')
    expect(parseArguments('{').error).toBeTruthy()
  })

  it('starts the test panel from the schema (defaults kept)', () => {
    expect(exampleArguments(VERSION.parameters)).toEqual({ city: '', days: 3 })
  })

  it('charts p50 and p95 per tool and totals error kinds', () => {
    const option = latencyOption(
      [STATS, { ...STATS, tool_id: 'x2', name: '<b>x</b>', calls: 9, error_kinds: { timeout: 2, blocked: 1 } }],
      {
        p50: 'p50',
        p95: 'p95',
        successRate: 'ok',
      },
    )
    expect(option.xAxis.data).toEqual(['<b>x</b>', 'get_weather'])
    expect(option.series[1].data).toEqual([40, 40])
    // Names are user-written: the tooltip escapes them.
    expect(option.tooltip.formatter([{ dataIndex: 0 }])).toContain('&lt;b&gt;x&lt;/b&gt;')
    expect(errorKindTotals([STATS, { ...STATS, error_kinds: { timeout: 2, blocked: 1 } }])).toEqual([
      ['timeout', 3],
      ['blocked', 1],
    ])
  })
})

describe('tools pages', () => {
  it('lists tools with kind and the last calls success rate', async () => {
    mockApi({
      'GET /api/tool/tools': () => ({ items: [TOOL], next_cursor: null, total: 1 }),
      'GET /api/tool/analytics': () => ({ days: 7, calls: 4, items: [STATS] }),
    })
    wrapper = await mountView(ToolsView, signIn(['tools:read', 'tools:write']))
    await settle()
    const table = byTestId('tools-table')!
    expect(table.textContent).toContain('get_weather')
    expect(table.textContent).toContain('HTTP')
    expect(byTestId('tool-success')!.textContent).toContain('4회 중 75%')
    expect(byTestId('tools-import')).not.toBeNull()
  })

  it('hides the create buttons from a reader', async () => {
    mockApi({
      'GET /api/tool/tools': () => ({ items: [], next_cursor: null, total: 0 }),
      'GET /api/tool/analytics': () => ({ days: 7, calls: 0, items: [] }),
    })
    wrapper = await mountView(ToolsView, signIn(['tools:read']))
    await settle()
    expect(byTestId('tools-import')).toBeNull()
    expect(byTestId('tools-python')).toBeNull()
  })

  it('test-runs a tool and shows the outcome with its error kind and stderr', async () => {
    const calls = mockApi({
      'GET /api/tool/tools/x1': () => ({ ...TOOL, current: VERSION }),
      'GET /api/tool/tools/x1/versions': () => ({ items: [VERSION] }),
      'GET /api/tool/analytics': () => ({ days: 30, calls: 4, items: [STATS] }),
      'POST /api/tool/tools/x1/test': () => ({
        ok: false,
        output: null,
        error: 'ZeroDivisionError',
        error_kind: 'tool_error',
        latency_ms: 41.6,
        detail: { stderr: 'Traceback ... ZeroDivisionError' },
      }),
    })
    wrapper = await mountView(ToolDetailView, signIn(['tools:read', 'tools:write']))
    await settle()
    expect(byTestId('tool-stats')!.textContent).toContain('75%')
    const args = byTestId('tool-test-arguments')!.querySelector('textarea')!
    expect(JSON.parse(args.value)).toEqual({ city: '', days: 3 })
    args.value = '{"city": "서울"}'
    args.dispatchEvent(new Event('input'))
    await settle()
    byTestId('tool-test-run')!.click()
    await settle()
    expect(calls.find((c) => c.method === 'POST')!.body).toEqual({ arguments: { city: '서울' } })
    expect(byTestId('tool-test-kind')!.textContent).toContain('도구 오류')
    expect(byTestId('tool-test-error')!.textContent).toContain('ZeroDivisionError')
    expect(byTestId('tool-test-latency')!.textContent).toContain('42 ms')
    expect(byTestId('tool-test-stderr')!.textContent).toContain('Traceback')
  })

  it('keeps Run disabled while the arguments are not a JSON object', async () => {
    mockApi({
      'GET /api/tool/tools/x1': () => TOOL,
      'GET /api/tool/tools/x1/versions': () => ({ items: [VERSION] }),
      'GET /api/tool/analytics': () => ({ days: 30, calls: 0, items: [] }),
    })
    wrapper = await mountView(ToolDetailView, signIn(['tools:read', 'tools:write']))
    await settle()
    const args = byTestId('tool-test-arguments')!.querySelector('textarea')!
    args.value = '{"city":'
    args.dispatchEvent(new Event('input'))
    await settle()
    expect(byTestId('tool-test-run')!.hasAttribute('disabled')).toBe(true)
  })
})
