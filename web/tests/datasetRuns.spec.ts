import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { mount, type VueWrapper } from '@vue/test-utils'
import { createVuetify } from 'vuetify'
import * as components from 'vuetify/components'
import * as directives from 'vuetify/directives'
import { createMemoryHistory, createRouter } from 'vue-router'
import { i18n, setLocale } from '@/i18n'
import { useDatasetStore } from '@/stores/datasets'
import DatasetDetailView from '@/views/datasets/DatasetDetailView.vue'
import { byTestId, mockApi, settle, signIn } from './helpers'

const NOW = '2026-03-01T09:00:00Z'
const dataset = {
  id: 'd1',
  name: 'customers',
  description: null,
  tags: [],
  team_id: 't1',
  team_name: 'research',
  visibility: 'organization',
  key_column: null,
  sensitivity_floor: 'public',
  sensitivity: 'public',
  latest_version: 2,
  row_count: 3,
  created_at: NOW,
  updated_at: NOW,
}
const version = (n: number) => ({
  id: `v${n}`,
  dataset_id: 'd1',
  version: n,
  label: null,
  status: 'ready',
  error: null,
  source: 'upload',
  parent_version_id: null,
  lineage: {},
  filename: 'customers.csv',
  format: 'csv',
  encoding: 'utf-8',
  size: 120,
  sha256: null,
  row_count: 3,
  columns: [{ name: 'text', type: 'VARCHAR' }],
  progress: { step: 'done' },
  sensitivity: 'public',
  review_status: 'approved',
  reviewed_by: null,
  reviewed_at: null,
  review_comment: null,
  quality_warnings: 0,
  pii_entities: {},
  created_at: NOW,
  updated_at: NOW,
})
const run = (id: string, name: string, context: string | null) => ({
  run_id: id,
  run_name: name,
  status: 'FINISHED',
  start_time: NOW,
  experiment_id: 'e1',
  experiment_name: 'sentiment',
  input_name: 'customers-train',
  context,
  logged_at: NOW,
})

let wrapper: VueWrapper | null = null

async function mountDetail(permissions: string[]) {
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [
      { path: '/datasets/:id', component: { template: '<div />' } },
      { path: '/:p(.*)*', component: { template: '<div />' } },
    ],
  })
  await router.push('/datasets/d1?tab=runs')
  await router.isReady()
  const pinia = signIn(permissions, { created_at: NOW })
  wrapper = mount(
    { template: '<v-app><v-main><DatasetDetailView /></v-main></v-app>', components: { DatasetDetailView } },
    { global: { plugins: [pinia, router, i18n, createVuetify({ components, directives })] }, attachTo: document.body },
  )
  await settle()
  return router
}

beforeEach(() => {
  vi.restoreAllMocks()
  setLocale('ko')
})
afterEach(() => {
  useDatasetStore().stopPolling()
  wrapper?.unmount()
  wrapper = null
  document.body.innerHTML = ''
})

describe('dataset version runs', () => {
  it('lists the runs that used the selected version, linked to their run pages, and follows the selection', async () => {
    const calls = mockApi({
      'GET /api/dataset/d1': () => dataset,
      'GET /api/dataset/d1/versions': () => [version(2), version(1)],
      'GET /api/dataset/version/v1': () => version(1),
      'GET /api/dataset/version/v2': () => version(2),
      'GET /api/dataset/version/v2/runs': () => [run('r-2', 'eval-7', 'eval'), run('r-1', 'train-3', null)],
      'GET /api/dataset/version/v1/runs': () => [],
    })
    const router = await mountDetail(['datasets:read', 'training:read'])
    const table = byTestId('version-runs-table')!
    expect(table.textContent).toContain('eval-7')
    expect(table.textContent).toContain('sentiment')
    expect(table.textContent).toContain('eval')
    expect(table.textContent).toContain('완료') // FINISHED, in Korean
    const links = [...table.querySelectorAll('a[data-testid="version-run-link"]')]
    expect(links.map((a) => a.getAttribute('href'))).toEqual(['/experiments/runs/r-2', '/experiments/runs/r-1'])
    ;(links[0] as HTMLElement).click()
    await settle()
    expect(router.currentRoute.value.path).toBe('/experiments/runs/r-2')

    await useDatasetStore().select('v1')
    await settle()
    expect(calls.some((c) => c.path === '/api/dataset/version/v1/runs')).toBe(true)
    expect(byTestId('version-runs')!.textContent).toContain('아직 이 버전을 사용한 실행이 없습니다')
    expect(byTestId('version-runs')!.textContent).not.toContain('eval-7')
  }, 20_000) // the whole detail view mounted in jsdom: slow on a loaded 2-core machine

  it('says why without the training read permission, and asks nothing', async () => {
    const calls = mockApi({
      'GET /api/dataset/d1': () => dataset,
      'GET /api/dataset/d1/versions': () => [version(1)],
      'GET /api/dataset/version/v1': () => version(1),
    })
    await mountDetail(['datasets:read'])
    expect(byTestId('version-runs-forbidden')!.textContent).toContain('학습 읽기 권한')
    expect(calls.some((c) => c.path.endsWith('/runs'))).toBe(false)
  })
})
