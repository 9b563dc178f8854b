import { afterEach, describe, expect, it, vi } from 'vitest'
import type { VueWrapper } from '@vue/test-utils'
import WorkflowsView from '@/views/workflows/WorkflowsView.vue'
import { useWorkflowStore } from '@/stores/workflows'
import { setLocale } from '@/i18n'
import { mockApi, mountView, settle, signIn } from './helpers'

const WORKFLOW = {
  id: 'w1',
  name: 'triage',
  description: '',
  team_id: 't1',
  created_by: null,
  latest_version: 1,
  archived_at: null,
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
  last_run_status: 'failed',
  last_run_at: '2026-01-03T00:00:00Z',
}
const DEFINITION = {
  inputs: [],
  nodes: [{ id: 'input', type: 'input', label: '', position: { x: 0, y: 0 }, config: {} }],
  edges: [],
}
const run = (id: string, status: string) => ({ id, workflow_id: 'w1', version: 1, status, nodes: [] })

let wrapper: VueWrapper | null = null
afterEach(() => {
  vi.restoreAllMocks()
  wrapper?.unmount()
  wrapper = null
  document.body.innerHTML = ''
})
vi.setConfig({ testTimeout: 30_000 })

describe('workflow runs', () => {
  it("the builder's history is the server's runs, newest first", async () => {
    signIn(['agents:read'])
    const calls = mockApi({
      'GET /api/agent/workflows/w1': () => WORKFLOW,
      'GET /api/agent/workflows/w1/versions': () => ({ items: [{ version: 1, definition: DEFINITION }] }),
      'GET /api/agent/workflows/w1/runs': () => ({ items: [run('r2', 'failed'), run('r1', 'succeeded')] }),
    })
    const store = useWorkflowStore()
    await store.open('w1')
    await settle()
    expect(store.runs.map((r) => r.id)).toEqual(['r2', 'r1'])
    expect(calls.find((c) => c.path === '/api/agent/workflows/w1/runs')!.query.get('limit')).toBe('50')
  })

  it('the list shows each workflow’s last run and when', async () => {
    setLocale('en')
    mockApi({
      'GET /api/agent/workflows': () => ({
        items: [WORKFLOW, { ...WORKFLOW, id: 'w2', name: 'idle', last_run_status: null, last_run_at: null }],
        total: 2,
      }),
    })
    wrapper = await mountView(WorkflowsView, signIn(['agents:read']))
    await settle()
    const rows = [...document.querySelectorAll('tbody tr')].map((r) => r.textContent ?? '')
    expect(rows.find((r) => r.includes('triage'))).toMatch(/Failed/i)
    expect(document.querySelectorAll('[data-testid="wf-last-run-at"]')).toHaveLength(1)
    expect(rows.find((r) => r.includes('idle'))).toContain('—')
  })
})
