import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { VueWrapper } from '@vue/test-utils'
import ModelDetailView from '@/views/models/ModelDetailView.vue'
import { setLocale } from '@/i18n'
import { useAuthStore } from '@/stores/auth'
import { byTestId, freshPinia, mockApi, mountView, settle } from './helpers'

// The page reads its id from the route; everything else uses mountView's memory router.
vi.mock('vue-router', async (importOriginal) => ({
  ...(await importOriginal<typeof import('vue-router')>()),
  useRoute: () => ({ params: { id: 'm1' }, meta: {}, query: {} }),
}))

const MODEL = {
  id: 'm1',
  name: 'ko-chat',
  description: '',
  task: 'text-generation',
  tags: [],
  team_id: 't1',
  team_name: 'research',
  visibility: 'team',
  architecture: null,
  parameter_count: null,
  archived_at: null,
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
  latest_version: null,
  aliases: {},
}

let wrapper: VueWrapper | null = null

beforeEach(() => {
  vi.restoreAllMocks()
  setLocale('en')
})
afterEach(() => {
  wrapper?.unmount()
  wrapper = null
  document.body.innerHTML = ''
})

async function open(permissions: string[], role = 'developer', teams = [{ id: 't1', name: 'research' }]) {
  const pinia = freshPinia()
  const auth = useAuthStore()
  auth.access = 'token'
  auth.user = {
    id: 'me',
    username: 'dev',
    display_name: '',
    email: null,
    role,
    is_active: true,
    teams,
    permissions,
    auth: 'jwt',
    created_at: '2026-01-01T00:00:00Z',
  }
  mockApi({ 'GET /api/model/m1': () => MODEL, 'GET /api/model/m1/versions': () => [] })
  wrapper = await mountView(ModelDetailView, pinia)
  byTestId('tab-versions')!.click()
  await settle()
  byTestId('version-new')!.click()
  await settle()
  byTestId('version-mode-import')!.click()
  await settle()
}

describe('model import', () => {
  it('offers a server directory only to users with models:import_server', async () => {
    await open(['models:read', 'models:write'])
    expect(byTestId('import-start')).not.toBeNull()
    expect(byTestId('import-local')).toBeNull()
    expect(document.body.textContent).not.toContain('Server directory')
    expect(byTestId('import-path')).toBeNull()
  })

  it('shows the server directory choice to an Admin, of any team', async () => {
    await open(['models:read', 'models:write', 'models:import_server'], 'admin', [])
    expect(document.body.textContent).toContain('Server directory')
    byTestId('import-local')!.click()
    await settle()
    expect(byTestId('import-path')).not.toBeNull()
  })
})
