import { afterEach, describe, expect, it, vi } from 'vitest'
import type { VueWrapper } from '@vue/test-utils'
import TemplatesView from '@/views/templates/TemplatesView.vue'
import AgentDetailView from '@/views/agents/AgentDetailView.vue'
import RunTimeline from '@/views/agents/RunTimeline.vue'
import type { Run } from '@/api/agents'
import { localized, matches, type Template } from '@/stores/templates'
import { setLocale } from '@/i18n'
import { useUiStore } from '@/stores/ui'
import { byTestId, freshPinia, json, mockApi, mountView, settle, signIn } from './helpers'

const push = vi.fn()
vi.mock('vue-router', async (importOriginal) => ({
  ...(await importOriginal<typeof import('vue-router')>()),
  useRouter: () => ({ push, back: vi.fn(), replace: vi.fn() }),
  useRoute: () => ({ params: { id: 'a1' }, meta: {}, query: {} }),
}))

const tool = (name: string, uses_dataset = false) => ({
  name,
  kind: 'python',
  description: `${name} tool`,
  uses_dataset,
})
const BUILTIN: Template = {
  id: 'sql-analyst',
  builtin: true,
  name: 'SQL analyst over a dataset (DuckDB)',
  description: 'Turns questions into SQL',
  translations: {
    ko: { name: '데이터셋 SQL 분석가 (DuckDB)', description: '질문을 SQL로 바꿉니다' },
    en: { name: 'SQL analyst over a dataset (DuckDB)', description: 'Turns questions into SQL' },
  },
  tags: ['sql', 'duckdb'],
  tools: [tool('run_sql', true)],
  needs_dataset: true,
  system_prompt: 'You are a data analyst.',
  limits: {},
  install_count: 3,
}
const SHARED: Template = {
  id: '0190-shared',
  builtin: false,
  name: 'Refund helper',
  description: 'Answers refund questions',
  translations: {},
  tags: ['support'],
  tools: [tool('lookup')],
  needs_dataset: false,
  system_prompt: 'Help.',
  limits: {},
  team_id: 't1',
  team_name: 'research',
  shared_by_name: 'Kim',
  install_count: 0,
}
const OTHERS: Template = { ...SHARED, id: '0190-others', name: 'Other team bot', team_id: 't9', team_name: 'ops' }

describe('template helpers', () => {
  it('picks the reader’s language for built-ins and the own text for shared ones', () => {
    expect(localized(BUILTIN, 'ko').name).toBe('데이터셋 SQL 분석가 (DuckDB)')
    expect(localized(BUILTIN, 'en').description).toBe('Turns questions into SQL')
    expect(localized(SHARED, 'ko')).toEqual({ name: 'Refund helper', description: 'Answers refund questions' })
  })

  it('searches both languages and tool names, and filters by tag', () => {
    expect(matches(BUILTIN, '분석가', null)).toBe(true)
    expect(matches(BUILTIN, 'RUN_SQL', null)).toBe(true)
    expect(matches(BUILTIN, 'refund', null)).toBe(false)
    expect(matches(BUILTIN, '', 'support')).toBe(false)
    expect(matches(SHARED, '', 'support')).toBe(true)
  })
})

describe('TemplatesView', () => {
  let wrapper: VueWrapper | null = null
  afterEach(() => {
    wrapper?.unmount()
    wrapper = null
    vi.restoreAllMocks()
    push.mockReset()
    setLocale('en')
  })

  async function mountGallery(permissions = ['agents:read', 'agents:write', 'datasets:read'], extra = {}) {
    const calls = mockApi({
      'GET /api/agent/templates': () => ({ items: [BUILTIN, SHARED, OTHERS], total: 3 }),
      'GET /api/inference/models/status': () => ({ models: [{ name: 'chat', status: 'up' }] }),
      'GET /api/dataset': () => ({ items: [{ id: 'd1', name: 'tickets' }], next_cursor: null }),
      'GET /api/dataset/d1/versions': () => [{ id: 'v1', version: 1, filename: 'tickets.csv', status: 'ready' }],
      ...extra,
    })
    wrapper = await mountView(TemplatesView, signIn(permissions))
    await settle()
    return calls
  }

  it('shows built-in and shared cards in Korean, with who shared and install counts', async () => {
    setLocale('ko')
    await mountGallery()
    const card = byTestId('template-sql-analyst')!
    expect(card.textContent).toContain('데이터셋 SQL 분석가 (DuckDB)')
    expect(card.textContent).toContain('기본 제공')
    expect(card.textContent).toContain('설치 3회')
    expect(card.textContent).toContain('run_sql')
    expect(byTestId('template-0190-shared')!.textContent).toContain('Kim 님이 공유 (research)')
    // only the own team's shared template can be deleted
    expect(byTestId('template-delete-0190-shared')).not.toBeNull()
    expect(byTestId('template-delete-0190-others')).toBeNull()
    expect(byTestId('template-delete-sql-analyst')).toBeNull()
  })

  it('hides Install without agents:write', async () => {
    await mountGallery(['agents:read'])
    expect(byTestId('template-sql-analyst')).not.toBeNull()
    expect(byTestId('template-install-sql-analyst')).toBeNull()
    expect(byTestId('templates-share')).toBeNull()
  })

  it('installs with a route and a dataset version, offering the suggested name after a clash', async () => {
    let attempts = 0
    const calls = await mountGallery(undefined, {
      'POST /api/agent/templates/sql-analyst/install': () =>
        ++attempts === 1
          ? json(
              {
                type: 'https://axops.dev/problems/agent_template_name_taken',
                title: 'Conflict',
                status: 409,
                detail: 'taken',
                name: 'sql-analyst',
                suggestion: 'sql-analyst-2',
              },
              409,
            )
          : json(
              { template_id: 'sql-analyst', agent_id: 'a9', agent_name: 'sql-analyst-2', team_id: 't1', tools: [] },
              201,
            ),
    })
    ;(byTestId('template-install-sql-analyst') as HTMLElement).click()
    await settle()
    const submit = () => byTestId('template-install-submit') as HTMLButtonElement
    expect(submit().disabled).toBe(true) // no route or dataset yet

    const vm = wrapper!.findComponent({ name: 'InstallDialog' })
    const state = (vm.vm as unknown as { $: { setupState: Record<string, unknown> } }).$.setupState
    state.route = 'chat'
    state.datasetId = 'd1'
    await settle()
    expect(state.versionId).toBe('v1')
    expect(submit().disabled).toBe(false)

    submit().click()
    await settle()
    expect(byTestId('template-install-suggestion')!.textContent).toContain('sql-analyst-2')
    ;(byTestId('template-install-suggestion') as HTMLElement).click()
    await settle()
    submit().click()
    await settle()

    const installs = calls.filter((c) => c.path === '/api/agent/templates/sql-analyst/install')
    expect(installs.map((c) => (c.body as { name: string }).name)).toEqual(['sql-analyst', 'sql-analyst-2'])
    expect(installs[1].body).toMatchObject({ route: 'chat', dataset_version_id: 'v1', team_id: 't1' })
    expect(push).toHaveBeenCalledWith('/agents/a9')
  })
})

describe('Share as template on the agent page', () => {
  let wrapper: VueWrapper | null = null
  afterEach(() => {
    wrapper?.unmount()
    wrapper = null
    vi.restoreAllMocks()
    setLocale('en')
  })
  const agent = (team_id: string) => ({
    id: 'a1',
    name: 'helper',
    description: 'Answers refunds',
    team_id,
    visibility: 'organization',
    latest_version: 1,
    archived: false,
    created_at: '2026-01-01T00:00:00Z',
    updated_at: '2026-01-01T00:00:00Z',
    current: null,
  })
  const version = {
    version: 1,
    route: 'chat',
    system_prompt: 'Help',
    prompt: null,
    tool_ids: [],
    limits: {},
    params: {},
  }

  it('opens the gallery’s share dialog with this agent picked and its description, and posts it', async () => {
    setLocale('ko')
    const calls = mockApi({
      'GET /api/agent/agents/a1': () => agent('t1'),
      'GET /api/agent/agents/a1/versions': () => ({ items: [version] }),
      'POST /api/agent/templates': () => json({ ...SHARED, id: 'new', name: 'helper' }, 201),
    })
    wrapper = await mountView(AgentDetailView, signIn(['agents:read', 'agents:write']))
    await settle()
    const action = byTestId('agent-share-template')!
    expect(action.textContent).toContain('템플릿으로 공유')
    action.click()
    await settle()
    const dialog = byTestId('template-share-dialog')!
    expect(dialog.textContent).toContain('helper')
    expect(dialog.querySelector('textarea')!.value).toBe('Answers refunds')
    // the agent is this page's: no list of every agent was fetched
    expect(calls.some((c) => c.method === 'GET' && c.path === '/api/agent/agents')).toBe(false)
    ;(byTestId('template-share-submit') as HTMLButtonElement).click()
    await settle()
    const post = calls.find((c) => c.method === 'POST' && c.path === '/api/agent/templates')!
    expect(post.body).toEqual({ agent_id: 'a1', name: null, description: 'Answers refunds', tags: [] })
    expect(useUiStore().message).toContain("'helper' 템플릿으로 공유했습니다")
  }, 20_000)

  it('is not offered for another team’s agent or without agents:write', async () => {
    mockApi({
      'GET /api/agent/agents/a1': () => agent('t9'),
      'GET /api/agent/agents/a1/versions': () => ({ items: [version] }),
    })
    wrapper = await mountView(AgentDetailView, signIn(['agents:read', 'agents:write']))
    await settle()
    expect(byTestId('agent-name')).not.toBeNull()
    expect(byTestId('agent-share-template')).toBeNull()
    wrapper.unmount()
    mockApi({
      'GET /api/agent/agents/a1': () => agent('t1'),
      'GET /api/agent/agents/a1/versions': () => ({ items: [version] }),
    })
    wrapper = await mountView(AgentDetailView, signIn(['agents:read']))
    await settle()
    expect(byTestId('agent-name')).not.toBeNull()
    expect(byTestId('agent-share-template')).toBeNull()
  }, 20_000)
})

describe('a tool step in the trace', () => {
  it('opens on its arguments and draws a tabular result as a table, anything else as JSON', async () => {
    setLocale('ko')
    const step = (index: number, extra: object) => ({
      index,
      kind: 'tool' as const,
      latency_ms: 5,
      started_at: '2026-01-01T00:00:00Z',
      ...extra,
    })
    const run = {
      id: 'r1',
      status: 'succeeded',
      trace: [
        step(0, {
          name: 'run_sql',
          input: { query: 'SELECT 1' },
          output: {
            columns: ['category', 'n'],
            rows: [
              ['billing', 3],
              ['bug', null],
            ],
            truncated: true,
          },
        }),
        step(1, { name: 'lookup', input: { id: 7 }, output: { found: 'yes' } }),
        step(2, { name: 'broken', input: null, output: null, error: 'boom', error_kind: 'error' }),
      ],
    } as unknown as Run
    const wrapper = await mountView(
      { components: { RunTimeline }, setup: () => ({ run }), template: '<RunTimeline :run="run" />' },
      freshPinia(),
    )
    const details = document.querySelectorAll('[data-testid="trace-tool-detail"]')
    expect(details).toHaveLength(2) // the failed call has neither arguments nor a result
    expect(details[0].querySelector('summary')!.textContent).toContain('run_sql: 인수와 결과')
    expect(details[0].textContent).toContain('SELECT 1')
    const cells = [...details[0].querySelectorAll('[data-testid="trace-tool-table"] tr')].map((tr) =>
      [...tr.querySelectorAll('th, td')].map((c) => c.textContent!.trim()),
    )
    expect(cells).toEqual([
      ['category', 'n'],
      ['billing', '3'],
      ['bug', 'NULL'],
    ])
    expect(details[0].textContent).toContain('나머지 행은 생략되었습니다.')
    expect(details[1].querySelector('[data-testid="trace-tool-table"]')).toBeNull()
    expect(details[1].textContent).toContain('"found": "yes"')
    wrapper.unmount()
    setLocale('en')
  })
})
