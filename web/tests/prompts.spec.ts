import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { VueWrapper } from '@vue/test-utils'
import PromptsView from '@/views/prompts/PromptsView.vue'
import PromptDetailView from '@/views/prompts/PromptDetailView.vue'
import { setLocale } from '@/i18n'
import { byTestId, json, mockApi, mountView, settle, signIn, type Call } from './helpers'

// The page reads its name from the route; CodeMirror is replaced by a textarea (jsdom has no layout).
vi.mock('vue-router', async (importOriginal) => ({
  ...(await importOriginal<typeof import('vue-router')>()),
  useRoute: () => ({ params: { name: 'support' }, meta: {}, query: {} }),
}))
vi.mock('@/components/CodeEditor.vue', () => ({
  __esModule: true,
  default: {
    props: ['modelValue', 'label', 'readonly', 'error', 'variables', 'minLines', 'placeholder'],
    emits: ['update:modelValue'],
    template: `<div><textarea :aria-label="label" :value="modelValue" :readonly="readonly" data-testid="code"
      @input="$emit('update:modelValue', $event.target.value)" /><span v-if="error" data-testid="code-error">{{ error.line }}:{{ error.column }}</span></div>`,
  },
}))

const PROMPT = {
  id: 'p1',
  name: 'support',
  description: '',
  tags: ['cs'],
  team_id: 't1',
  team_name: 'research',
  visibility: 'team',
  latest_version: 2,
  labels: { production: 1 },
  created_by_name: 'dev',
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-02T00:00:00Z',
  archived_at: null,
  running_experiments: 0,
}
const version = (n: number, content: string, variables: string[]) => ({
  id: `v${n}`,
  prompt_name: 'support',
  version: n,
  kind: 'chat',
  template: [{ role: 'user', content }],
  variables: variables.map((name) => ({ name, type: 'string', required: true, default: null, description: '' })),
  binding: { route: null, allowed_routes: [], parameters: {} },
  message: `v${n} 설명`,
  created_by_name: 'dev',
  created_at: '2026-01-01T00:00:00Z',
  labels: n === 1 ? ['production'] : [],
  quality: { feedback_count: 0, feedback_mean: null },
})
const V1 = version(1, '{{ q }}', ['q'])
const V2 = version(2, '{{ q }} {{ lang }}', ['q', 'lang'])
const DIFF = {
  base: 1,
  head: 2,
  template: [
    { op: '-', text: '{{ q }}', message_index: 0 },
    { op: '+', text: '{{ q }} {{ lang }}', message_index: 0 },
  ],
  variables: { added: [V2.variables[1]], removed: [], changed: [] },
  binding: [{ key: 'parameters.temperature', before: null, after: 0.2 }],
  kind_changed: false,
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

function pageApi(extra: Record<string, (call: Call) => unknown> = {}) {
  return mockApi({
    'GET /api/prompts/support': () => PROMPT,
    'GET /api/prompts/support/versions': () => ({ items: [V2, V1], next_cursor: null, total: 2 }),
    'GET /api/inference/models/status': () => ({ currency: 'USD', models: [{ name: 'chat', health: 'ok' }] }),
    'POST /api/prompts/check': (c) => {
      const body = c.body as { template: { content: string }[]; variables: { name: string }[] }
      const used = [...new Set(body.template.flatMap((m) => [...m.content.matchAll(/\{\{\s*(\w+)/g)].map((x) => x[1])))]
      const undeclared = used.filter((n) => !body.variables.some((v) => v.name === n))
      return undeclared.length
        ? { ok: false, placeholders: used, error: { message: 'not declared', line: 1, column: 4, message_index: 0 } }
        : { ok: true, placeholders: used, error: null }
    },
    'GET /api/prompts/support/diff': () => DIFF,
    'GET /api/prompts/support/labels/history': () => ({ items: [] }),
    ...extra,
  })
}

describe('prompts list', () => {
  it('shows labels as chips and searches as one types, once per pause', async () => {
    const calls = mockApi({ 'GET /api/prompts': () => ({ items: [PROMPT], next_cursor: null, total: 1 }) })
    wrapper = await mountView(PromptsView, signIn(['prompts:read', 'prompts:write']))
    await settle()
    expect(byTestId('prompt-labels')!.textContent).toContain('production → v1')
    expect(byTestId('prompts-table')!.textContent).toContain('v2')
    vi.useFakeTimers()
    const input = byTestId('prompts-search')!.querySelector('input')!
    for (const text of ['s', 'su', 'sup']) {
      input.value = text
      input.dispatchEvent(new Event('input'))
    }
    await vi.advanceTimersByTimeAsync(400)
    vi.useRealTimers()
    await settle()
    const searches = calls.filter((c) => c.path === '/api/prompts' && c.query.get('q'))
    expect(searches.map((c) => c.query.get('q'))).toEqual(['sup'])
  })

  it('keeps Create disabled, saying why, for a name the API would refuse', async () => {
    mockApi({ 'GET /api/prompts': () => ({ items: [], next_cursor: null, total: 0 }) })
    wrapper = await mountView(PromptsView, signIn(['prompts:read', 'prompts:write']))
    await settle()
    expect(byTestId('state-empty')).not.toBeNull()
    byTestId('prompts-new')!.click()
    await settle()
    const input = byTestId('prompt-form-name')!.querySelector('input')!
    input.value = 'support@prod'
    input.dispatchEvent(new Event('input'))
    await settle()
    expect(byTestId('prompt-form-submit')!.hasAttribute('disabled')).toBe(true)
    expect(byTestId('prompt-form-missing')!.textContent).toContain('이름 형식이 올바르지 않습니다')
  })

  it('offers no New prompt to a reader', async () => {
    mockApi({ 'GET /api/prompts': () => ({ items: [PROMPT], next_cursor: null, total: 1 }) })
    wrapper = await mountView(PromptsView, signIn(['prompts:read']))
    await settle()
    expect(byTestId('prompts-new')).toBeNull()
  })
})

describe('prompt page', () => {
  it('says "not found" for an unknown or hidden prompt', async () => {
    mockApi({
      'GET /api/prompts/support': () => json({ type: 'x/prompt_not_found', status: 404, detail: 'No.' }, 404),
      'GET /api/inference/models/status': () => ({ currency: 'USD', models: [] }),
    })
    wrapper = await mountView(PromptDetailView, signIn(['prompts:read']))
    await settle()
    expect(byTestId('not-found')).not.toBeNull()
  })

  it('marks the template error the live check found and declares the variables the template uses', async () => {
    const calls = pageApi({ 'POST /api/prompts/support/versions': () => json({ ...V2, version: 3 }, 201) })
    wrapper = await mountView(PromptDetailView, signIn(['prompts:read', 'prompts:write']))
    await settle()
    const code = document.querySelector<HTMLTextAreaElement>('[data-testid="code"]')!
    expect(code.value).toBe('{{ q }} {{ lang }}') // the latest version is loaded
    code.value = '{{ q }} {{ lang }} {{ city }}'
    code.dispatchEvent(new Event('input'))
    await new Promise((r) => setTimeout(r, 500)) // the check waits for a pause in typing
    await settle()
    expect(byTestId('prompt-check')!.getAttribute('data-ok')).toBe('false')
    expect(byTestId('code-error')!.textContent).toBe('1:4')
    expect(byTestId('prompt-undeclared')!.textContent).toContain('city')
    byTestId('prompt-declare-used')!.click()
    await settle()
    const rows = [...document.querySelectorAll('[data-testid="prompt-variable-row"]')].map((r) =>
      r.getAttribute('data-name'),
    )
    expect(rows).toEqual(['q', 'lang', 'city'])
    await new Promise((r) => setTimeout(r, 500))
    await settle()
    expect(byTestId('prompt-check')!.getAttribute('data-ok')).toBe('true')
    byTestId('prompt-save-version')!.click()
    await settle()
    const saved = calls.find((c) => c.method === 'POST' && c.path === '/api/prompts/support/versions')!
    expect(saved.body).toMatchObject({
      kind: 'chat',
      template: [{ role: 'user', content: '{{ q }} {{ lang }} {{ city }}' }],
      variables: [{ name: 'q' }, { name: 'lang' }, { name: 'city', type: 'string', required: true }],
    })
  })

  it('shows a reader the editor read-only, with no Save', async () => {
    pageApi()
    wrapper = await mountView(PromptDetailView, signIn(['prompts:read']))
    await settle()
    expect(document.querySelector<HTMLTextAreaElement>('[data-testid="code"]')!.readOnly).toBe(true)
    expect(byTestId('prompt-save-version')).toBeNull()
    expect(byTestId('prompt-declare-used')).toBeNull()
  })

  it('compares the latest two versions: lines coloured by their sign, variables and binding changes', async () => {
    const calls = pageApi()
    wrapper = await mountView(PromptDetailView, signIn(['prompts:read']))
    await settle()
    byTestId('tab-versions')!.click()
    await settle()
    const diffCall = calls.find((c) => c.path === '/api/prompts/support/diff')!
    expect([diffCall.query.get('base'), diffCall.query.get('head')]).toEqual(['1', '2'])
    const lines = [...document.querySelectorAll('[data-testid="prompt-diff-line"]')]
    expect(
      lines.map((l) => [
        l.getAttribute('data-op'),
        l.classList.contains(l.getAttribute('data-op') === '+' ? 'add' : 'del'),
      ]),
    ).toEqual([
      ['-', true],
      ['+', true],
    ])
    expect(byTestId('prompt-diff-variables')!.textContent).toContain('lang')
    expect(byTestId('prompt-diff-binding')!.textContent).toContain('온도')
    expect(byTestId('prompt-diff-binding')!.textContent).toContain('0.2')
  })

  it('renders the version with the values typed, then sends it to each chosen route side by side', async () => {
    const calls = pageApi({
      'GET /api/inference/models/status': () => ({
        currency: 'USD',
        models: [
          { name: 'chat', health: 'ok' },
          { name: 'chat-b', health: 'ok' },
        ],
      }),
      'POST /api/prompts/support/render': () => ({
        kind: 'chat',
        text: null,
        messages: [{ role: 'user', content: '안녕 ko' }],
        version: 2,
        variables_used: { q: '안녕', lang: 'ko' },
      }),
      'POST /v1/chat/completions': (c) =>
        new Response(
          JSON.stringify({
            choices: [{ message: { content: `answer from ${(c.body as { model: string }).model}` } }],
            usage: { prompt_tokens: 5, completion_tokens: 2 },
          }),
          { headers: { 'content-type': 'application/json', 'x-axops-cost': '0.004' } },
        ),
    })
    wrapper = await mountView(PromptDetailView, signIn(['prompts:read', 'gateway:invoke']))
    await settle()
    byTestId('tab-test')!.click()
    await settle()
    expect(byTestId('prompt-test-run')!.hasAttribute('disabled')).toBe(true) // q and lang are required
    for (const [name, value] of [
      ['q', '안녕'],
      ['lang', 'ko'],
    ]) {
      const field = byTestId(`prompt-test-var-${name}`)!.querySelector('textarea')!
      field.value = value!
      field.dispatchEvent(new Event('input'))
    }
    await settle()
    byTestId('prompt-test-run')!.click()
    await settle()
    await settle()
    const render = calls.find((c) => c.path === '/api/prompts/support/render')!
    expect(render.body).toEqual({ ref: '2', variables: { q: '안녕', lang: 'ko' } })
    const chats = calls.filter((c) => c.path === '/v1/chat/completions')
    expect(chats.map((c) => c.body)).toEqual([
      expect.objectContaining({ model: 'chat', messages: [{ role: 'user', content: '안녕 ko' }], stream: true }),
    ])
    const column = byTestId('prompt-test-column')!
    expect(column.getAttribute('data-streaming')).toBe('false')
    expect(column.textContent).toContain('answer from chat')
    expect(byTestId('prompt-test-tokens')!.textContent).toContain('출력 2')
    expect(byTestId('prompt-test-cost')!.textContent).toContain('0.004')
  })
})
