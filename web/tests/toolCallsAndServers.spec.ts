import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { VueWrapper } from '@vue/test-utils'
import ToolsView from '@/views/tools/ToolsView.vue'
import ToolDetailView from '@/views/tools/ToolDetailView.vue'
import { mcpRefreshDiff, type McpServer } from '@/api/tools'
import { setLocale } from '@/i18n'
import { byTestId, mockApi, mountView, settle, signIn } from './helpers'

const route = vi.hoisted(() => ({ params: { id: 'x1' }, meta: {}, query: {} as Record<string, string> }))
vi.mock('vue-router', async (importOriginal) => ({
  ...(await importOriginal<typeof import('vue-router')>()),
  useRoute: () => route,
}))

const TOOL = {
  id: 'x1',
  team_id: 't1',
  name: 'get_weather',
  kind: 'http',
  description: '',
  latest_version: 2,
  requires_approval: false,
  timeout_s: 30,
  allow_hosts: [],
  has_credential: false,
  mcp_server_id: null,
  visibility: 'team',
  created_by: null,
  archived_at: null,
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
}
const call = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  version: 2,
  status: 'ok',
  error_kind: null,
  latency_ms: 12.4,
  cost: 0,
  agent_run_id: null,
  caller_id: 'u1',
  caller_name: 'kim',
  created_at: '2026-01-02T00:00:00Z',
  ...extra,
})
const SERVER: McpServer = {
  id: 's1',
  team_id: 't1',
  name: 'docs-server',
  transport: 'http',
  url: 'http://127.0.0.1:9/mcp',
  command: [],
  tools: [
    { name: 'search', description: 'Search', input_schema: {} },
    { name: 'old', description: 'Old', input_schema: {} },
  ],
  tool_ids: {},
  status: 'ready',
  last_error: null,
  discovered_at: '2026-01-01T00:00:00Z',
}

let wrapper: VueWrapper | null = null
beforeEach(() => {
  vi.restoreAllMocks()
  setLocale('ko')
})
afterEach(() => {
  wrapper?.unmount()
  wrapper = null
  route.query = {}
  document.body.innerHTML = ''
})
vi.setConfig({ testTimeout: 30_000 })

describe('tool recent calls', () => {
  it('lists calls newest first with error kind, caller and the run, and pages on', async () => {
    route.query = { tab: 'calls' }
    const calls = mockApi({
      'GET /api/tool/tools/x1': () => TOOL,
      'GET /api/tool/tools/x1/versions': () => ({ items: [] }),
      'GET /api/tool/analytics': () => ({ days: 30, calls: 0, items: [] }),
      'GET /api/tool/tools/x1/calls': (c) =>
        c.query.get('cursor')
          ? { items: [call('c3', { caller_name: 'lee' })], next_cursor: null }
          : {
              items: [
                call('c1', { agent_run_id: 'r1' }),
                call('c2', { status: 'error', error_kind: 'timeout', caller_name: null }),
              ],
              next_cursor: 'next',
            },
      'GET /api/agent/runs/r1': () => ({ id: 'r1', agent_id: 'a9' }),
    })
    wrapper = await mountView(ToolDetailView, signIn(['tools:read']))
    await settle()
    const table = byTestId('tool-calls')!
    expect(table.textContent).toContain('kim')
    expect(table.textContent).toContain('12 ms')
    expect(byTestId('tool-call-error')!.textContent).toContain('시간 초과')
    expect(table.textContent).toContain('테스트 실행') // the call with no agent run
    byTestId('tool-calls-more')!.click()
    await settle()
    expect(calls.find((c) => c.query.get('cursor') === 'next')).toBeTruthy()
    expect(byTestId('tool-calls')!.textContent).toContain('lee')
    expect(byTestId('tool-calls-more')).toBeNull()
    byTestId('tool-call-run')!.click()
    await settle()
    const router = (wrapper.vm as unknown as { $router: { currentRoute: { value: { fullPath: string } } } }).$router
    expect(router.currentRoute.value.fullPath).toBe('/agents/a9?tab=runs&run=r1')
  })
})

describe('MCP servers', () => {
  it('says what a refresh added, changed and archived', () => {
    const after = {
      ...SERVER,
      tools: [
        { name: 'search', description: 'Search the docs', input_schema: {} },
        { name: 'fetch', description: 'Fetch', input_schema: {} },
      ],
    }
    expect(mcpRefreshDiff(SERVER, after)).toEqual({ added: ['fetch'], changed: ['search'], archived: ['old'] })
  })

  it('lists servers, refreshes one and deletes one after confirming', async () => {
    route.query = { tab: 'servers' }
    const broken = { ...SERVER, id: 's2', name: 'local', transport: 'stdio' as const, url: null, command: ['x'] }
    Object.assign(broken, { status: 'unavailable', last_error: 'the command exited', tools: [] })
    const calls = mockApi({
      'GET /api/tool/tools': () => ({ items: [], next_cursor: null, total: 0 }),
      'GET /api/tool/analytics': () => ({ days: 7, calls: 0, items: [] }),
      'GET /api/tool/mcp-servers': () => ({ items: [SERVER, broken] }),
      'POST /api/tool/mcp-servers/s1/refresh': () => ({
        ...SERVER,
        tools: [SERVER.tools![0], { name: 'fetch', description: 'Fetch', input_schema: {} }],
      }),
      'DELETE /api/tool/mcp-servers/s1': () => new Response(null, { status: 204 }),
    })
    wrapper = await mountView(ToolsView, signIn(['tools:read', 'tools:write']))
    await settle()
    const page = byTestId('mcp-servers')!
    expect(page.textContent).toContain('docs-server')
    expect(page.textContent).toContain('준비됨')
    expect(byTestId('mcp-error')!.textContent).toContain('the command exited')
    // a writer who is not an administrator cannot delete a local (stdio) server
    expect(document.querySelectorAll('[data-testid="mcp-delete"]')).toHaveLength(1)
    byTestId('mcp-refresh')!.click()
    await settle()
    expect(byTestId('mcp-refresh-result')!.textContent).toContain('추가 1개, 변경 0개, 보관 1개')
    expect(byTestId('mcp-refresh-result')!.textContent).toContain('fetch')
    byTestId('mcp-delete')!.click()
    await settle()
    expect(calls.some((c) => c.method === 'DELETE')).toBe(false)
    byTestId('confirm-ok')!.click()
    await settle()
    expect(calls.filter((c) => c.method === 'DELETE').map((c) => c.path)).toEqual(['/api/tool/mcp-servers/s1'])
    expect(document.querySelectorAll('[data-testid="mcp-refresh"]')).toHaveLength(1) // only 'local' is left
  })

  it('a reader sees the servers without refresh or delete', async () => {
    route.query = { tab: 'servers' }
    mockApi({
      'GET /api/tool/tools': () => ({ items: [], next_cursor: null, total: 0 }),
      'GET /api/tool/analytics': () => ({ days: 7, calls: 0, items: [] }),
      'GET /api/tool/mcp-servers': () => ({ items: [SERVER] }),
    })
    wrapper = await mountView(ToolsView, signIn(['tools:read']))
    await settle()
    expect(byTestId('mcp-servers')!.textContent).toContain('docs-server')
    expect(byTestId('mcp-refresh')).toBeNull()
    expect(byTestId('mcp-delete')).toBeNull()
    expect(byTestId('mcp-connect')).toBeNull()
  })
})
