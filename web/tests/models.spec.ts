import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { VueWrapper } from '@vue/test-utils'
import ModelDetailView from '@/views/models/ModelDetailView.vue'
import ModelsView from '@/views/models/ModelsView.vue'
import { setLocale } from '@/i18n'
import { MODEL_NAME } from '@/rules'
import { byTestId, json, mockApi, mountView, settle, signIn } from './helpers'

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
  latest_version: 1,
  aliases: {},
}
const VERSION = {
  id: 'v1',
  model_id: 'm1',
  version: 1,
  status: 'ready',
  stage: 'draft',
  source: 'upload',
  source_ref: null,
  base_version_id: null,
  dataset_version_ids: [],
  run_id: null,
  total_size: 10,
  file_count: 1,
  card: { architecture: 'GPT2LMHeadModel', parameter_count: 1234 },
  card_markdown: '| Architecture | GPT2LMHeadModel |\n| Parameters | 1.23K (1234) |',
  metrics: {},
  progress: {},
  error: null,
  archived_at: null,
  artifacts_deleted_at: null,
  created_at: '2026-01-01T00:00:00Z',
  files: [],
  aliases: [],
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

// Mounting whole pages under a loaded machine can pass the default 5 s.
vi.setConfig({ testTimeout: 20_000 })

describe('model names', () => {
  it('match what the API accepts', () => {
    for (const good of ['demo-gpt2', 'Qwen2.5_7B', '한국어-모델', 'STRICT']) expect(MODEL_NAME.test(good)).toBe(true)
    for (const bad of ['bad name with spaces!!', '-x', 'a/b', 'name@prod', ' lead'])
      expect(MODEL_NAME.test(bad)).toBe(false)
  })

  it('keep Create disabled, saying why, for a name the API would refuse', async () => {
    mockApi({ 'GET /api/model': () => ({ items: [], next_cursor: null }) })
    wrapper = await mountView(ModelsView, signIn(['models:read', 'models:write']))
    byTestId('models-register')!.click()
    await settle()
    const input = byTestId('model-form-name')!.querySelector('input')!
    input.value = 'bad name with spaces!!'
    input.dispatchEvent(new Event('input'))
    await settle()
    expect(byTestId('model-form-submit')!.hasAttribute('disabled')).toBe(true)
    expect(byTestId('model-form-missing')!.textContent).toContain('이름 형식이 올바르지 않습니다')
    input.value = '한국어-모델'
    input.dispatchEvent(new Event('input'))
    await settle()
    expect(byTestId('model-form-submit')!.hasAttribute('disabled')).toBe(false)
  })
})

describe('model page', () => {
  it('shows "not found" for an unknown id instead of a blank page', async () => {
    mockApi({ 'GET /api/model/m1': () => json({ title: 'Not Found', status: 404, detail: 'No such model.' }, 404) })
    wrapper = await mountView(ModelDetailView, signIn(['models:read']))
    await settle()
    expect(byTestId('not-found')!.textContent).toContain('모델을(를) 찾을 수 없습니다')
  })

  it('explains that comparing needs a second version', async () => {
    mockApi({
      'GET /api/model/m1': () => MODEL,
      'GET /api/model/m1/versions': () => [VERSION],
      'GET /api/model/version/v1': () => VERSION,
    })
    wrapper = await mountView(ModelDetailView, signIn(['models:read']))
    byTestId('tab-compare')!.click()
    await settle()
    expect(byTestId('compare-needs-two')!.textContent).toContain('두 개 이상')
    expect(byTestId('compare-run')).toBeNull()
  })

  it('renders the card facts in the reader language and says plainly nothing is deployed', async () => {
    mockApi({
      'GET /api/model/m1': () => MODEL,
      'GET /api/model/m1/versions': () => [VERSION],
      'GET /api/model/version/v1': () => ({
        ...VERSION,
        files: [{ path: 'model.safetensors', size: 10, sha256: 'x' }],
      }),
      'GET /api/serving/deployments': () => [],
    })
    wrapper = await mountView(ModelDetailView, signIn(['models:read', 'deployments:read', 'deployments:write']))
    await settle()
    const card = byTestId('model-card')!.textContent!
    expect(card).toContain('아키텍처')
    expect(card).toContain('GPT2LMHeadModel')
    expect(card).toContain('model.safetensors')
    expect(card).not.toContain('Architecture')
    byTestId('tab-metrics')!.click()
    await settle()
    expect(byTestId('metrics-not-deployed')!.textContent).toContain('배포되어 있지 않아')
    expect(byTestId('metrics-deploy')).not.toBeNull()
  })
})
