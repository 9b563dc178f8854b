import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { defineComponent, h } from 'vue'
import { setLocale } from '@/i18n'
import RunLoggedModels from '@/views/experiments/RunLoggedModels.vue'
import { byTestId, json, mockApi, mountView, settle, signIn } from './helpers'

const model = (over: object = {}) => ({
  info: {
    model_id: 'm-0123456789abcdef0123456789abcdef',
    name: 'model',
    status: 'LOGGED_MODEL_READY',
    model_type: 'transformers',
    creation_timestamp_ms: Date.parse('2026-03-01T09:00:00Z'),
    tags: [],
    ...over,
  },
  data: { params: [] },
})

const opened: string[] = []
const Host = defineComponent({
  render: () => h(RunLoggedModels, { runId: 'run-1', onOpenFolder: (p: string) => opened.push(p) }),
})

beforeEach(() => {
  opened.length = 0
  setLocale('en')
})

afterEach(() => {
  vi.restoreAllMocks()
  document.body.innerHTML = ''
})

describe('run page: logged models', () => {
  it('asks the MLflow API for the run’s models and lists them with status; a click opens their files', async () => {
    const calls = mockApi({
      'POST /ajax-api/2.0/mlflow/logged-models/search': () => ({
        models: [model(), model({ model_id: 'm-ff', name: 'draft', status: 'LOGGED_MODEL_PENDING' })],
      }),
    })
    await mountView(Host, signIn(['training:read']))
    await settle()
    expect(calls[0]!.body).toEqual({ filter: "source_run_id = 'run-1'", max_results: 100 })
    expect(calls[0]!.auth).toBe('Bearer token')
    const card = byTestId('run-logged-models')!
    expect(card.textContent).toContain('Logged models')
    expect(card.textContent).toContain('m-0123456789abcdef0123456789abcdef')
    expect(card.textContent).toContain('Ready')
    expect(card.textContent).toContain('Uploading')
    card.querySelector<HTMLElement>('.v-list-item')!.click()
    expect(opened).toEqual(['logged-models/m-0123456789abcdef0123456789abcdef'])
  })

  it('says when the run logged none, in Korean too, and when the list cannot be read', async () => {
    setLocale('ko')
    mockApi({ 'POST /ajax-api/2.0/mlflow/logged-models/search': () => ({ models: [] }) })
    await mountView(Host, signIn(['training:read']))
    await settle()
    expect(byTestId('run-logged-models')!.textContent).toContain('이 실행이 기록한 모델이 없습니다.')
    vi.restoreAllMocks()
    document.body.innerHTML = ''
    setLocale('en')
    mockApi({ 'POST /ajax-api/2.0/mlflow/logged-models/search': () => json({ error_code: 'X' }, 500) })
    await mountView(Host, signIn(['training:read']))
    await settle()
    expect(byTestId('run-logged-models')!.textContent).toContain('could not be read')
  })
})
