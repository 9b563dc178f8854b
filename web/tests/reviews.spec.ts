import { afterEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount, type VueWrapper } from '@vue/test-utils'
import { createVuetify } from 'vuetify'
import * as components from 'vuetify/components'
import * as directives from 'vuetify/directives'
import { createMemoryHistory, createRouter } from 'vue-router'
import { i18n, setLocale } from '@/i18n'
import type { Item, Queue } from '@/api/reviews'
import AnnotateView from '@/views/evaluation/AnnotateView.vue'
import NewReviewQueueDialog from '@/views/evaluation/NewReviewQueueDialog.vue'
import { choiceForKey, completeLabel, moveFocus, scoreForKey } from '@/views/evaluation/annotate'
import { h, ref } from 'vue'
import { byTestId, mockApi, mountView, settle, signIn, type Call } from './helpers'

const NOW = '2026-03-01T09:00:00Z'

function queue(over: Partial<Queue> = {}): Queue {
  return {
    id: 'q1',
    team_id: 't1',
    name: '정확성 검토',
    description: '',
    source: 'run',
    run_id: 'r1',
    run_name: 'run-1',
    mode: 'likert',
    criteria: [
      { name: 'correctness', description: '참조 답변과 맞는가', scale: 5 },
      { name: 'fluency', description: '', scale: 3 },
    ],
    assignees: [],
    assignee_names: [],
    may_annotate: true,
    status: 'open',
    origin: { targets: ['A', 'B'] },
    created_by: 'u1',
    created_by_name: 'owner',
    created_at: NOW,
    closed_at: null,
    progress: { total: 2, labelled: 0, mine: 0 },
    annotators: [],
    ...over,
  }
}

const item = (position: number, outputs: Record<string, string>, label: Item['label'] = null): Item => ({
  id: `i${position}`,
  position,
  input: `질문 ${position}: 서울의 수도는 어디인가요?`,
  reference: ['서울'],
  context: null,
  outputs,
  label,
})

let wrapper: VueWrapper | null = null
afterEach(() => {
  wrapper?.unmount()
  wrapper = null
  document.body.innerHTML = ''
  vi.restoreAllMocks()
  setLocale('ko')
})

async function open(permissions = ['eval:read', 'eval:review']) {
  const pinia = signIn(permissions)
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [
      { path: '/evaluation/reviews/:id/annotate', component: AnnotateView },
      { path: '/:rest(.*)*', component: { template: '<div />' } },
    ],
  })
  await router.push('/evaluation/reviews/q1/annotate')
  wrapper = mount(
    { template: '<v-app><v-main><router-view /></v-main></v-app>' },
    {
      global: { plugins: [pinia, i18n, router, createVuetify({ components, directives })] },
      attachTo: document.body,
    },
  )
  await flushPromises()
  await settle()
}

const press = (key: string, target: EventTarget = window, extra: KeyboardEventInit = {}) =>
  target.dispatchEvent(new KeyboardEvent('keydown', { key, bubbles: true, cancelable: true, ...extra }))

const puts = (calls: Call[]) => calls.filter((c) => c.method === 'PUT')

describe('annotation helpers', () => {
  it('maps keys to scores, choices and focus moves', () => {
    expect([scoreForKey('1', 5), scoreForKey('5', 5), scoreForKey('6', 5), scoreForKey('x', 5)]).toEqual([
      1,
      5,
      null,
      null,
    ])
    expect([scoreForKey('0', 10), scoreForKey('0', 5)]).toEqual([10, null])
    expect([choiceForKey('1'), choiceForKey('2'), choiceForKey('0'), choiceForKey('3')]).toEqual([
      '1',
      '2',
      'tie',
      null,
    ])
    expect([moveFocus(0, -1, 3), moveFocus(1, 1, 3), moveFocus(2, 1, 3)]).toEqual([0, 2, 2])
    const q = queue()
    expect(completeLabel(q, { correctness: 3 }, {})).toBe(1)
    expect(completeLabel(q, { correctness: 3, fluency: 1 }, {})).toBeNull()
  })
})

describe('AnnotateView', () => {
  it('labels with the keyboard alone: digits score, c comments, Enter saves and advances, ← goes back', async () => {
    let labelled = 0
    const calls = mockApi({
      'GET /api/eval/reviews/q1': () => queue(),
      'GET /api/eval/reviews/q1/next': (c) =>
        c.query.get('after') === '0'
          ? { item: item(1, { '1': '두 번째 출력' }), progress: { total: 2, labelled: 1, mine: 1 } }
          : {
              item: item(0, { '1': '서울은 한국의 수도입니다.' }),
              progress: { total: 2, labelled: 0, mine: labelled },
            },
      'PUT /api/eval/reviews/q1/items/i0/label': (c) => {
        labelled += 1
        return { ...(c.body as object), choices: {}, created_at: NOW, updated_at: NOW }
      },
      'GET /api/eval/reviews/q1/items/0': () =>
        item(
          0,
          { '1': '서울은 한국의 수도입니다.' },
          { scores: { correctness: 4, fluency: 2 }, choices: {}, comment: '좋음' },
        ),
    })
    await open()
    expect(byTestId('annotate-progress')!.textContent).toBe('0 / 2')
    expect(byTestId('annotate-input')!.textContent).toContain('서울의 수도는')
    expect(byTestId('annotate-legend')!.textContent).toContain('저장하고 다음 항목')

    // Enter before every criterion has a score: nothing is sent, the missing one is named.
    press('Enter')
    await settle()
    expect(puts(calls)).toHaveLength(0)
    expect(byTestId('annotate-hint')!.textContent).toContain('모든 기준')

    press('4') // correctness (focused first), then focus moves on to fluency
    await settle()
    expect(byTestId('score-correctness-4')!.getAttribute('aria-checked')).toBe('true')
    expect(document.activeElement).toBe(byTestId('criterion-fluency'))
    press('9') // beyond fluency's 3 points: ignored
    press('2')
    await settle()
    expect(byTestId('score-fluency-2')!.getAttribute('aria-checked')).toBe('true')

    press('c')
    await settle()
    const textarea = byTestId('annotate-comment')!.querySelector('textarea')!
    expect(document.activeElement).toBe(textarea)
    textarea.value = '참조와 같음'
    textarea.dispatchEvent(new Event('input'))
    press('4', textarea) // typing in the comment never changes a score
    press('Enter', textarea)
    await settle()

    expect(puts(calls).map((c) => c.body)).toEqual([{ scores: { correctness: 4, fluency: 2 }, comment: '참조와 같음' }])
    const next = calls.filter((c) => c.path.endsWith('/next')).at(-1)!
    expect(next.query.get('after')).toBe('0')
    expect(byTestId('annotate-position')!.textContent).toContain('2번째')
    expect(byTestId('annotate-progress')!.textContent).toBe('1 / 2')
    expect(byTestId('score-correctness-4')!.getAttribute('aria-checked')).toBe('false') // a fresh item

    press('ArrowLeft')
    await settle()
    expect(byTestId('annotate-position')!.textContent).toContain('1번째')
    expect(byTestId('score-correctness-4')!.getAttribute('aria-checked')).toBe('true')
    expect((byTestId('annotate-comment')!.querySelector('textarea') as HTMLTextAreaElement).value).toBe('좋음')
  })

  it('pairwise items are blind: outputs 1 and 2 only, keys 2 and 0 choose, never a target name', async () => {
    const pairwise = queue({
      mode: 'pairwise',
      criteria: [
        { name: 'preference', description: '', scale: 5 },
        { name: 'safety', description: '', scale: 5 },
      ],
      run_name: 'secret-model-alpha vs secret-model-beta',
    })
    const calls = mockApi({
      'GET /api/eval/reviews/q1': () => pairwise,
      'GET /api/eval/reviews/q1/next': (c) =>
        c.query.get('after') === null
          ? { item: item(0, { '1': '첫 번째 답', '2': '두 번째 답' }), progress: { total: 1, labelled: 0, mine: 0 } }
          : { item: null, progress: { total: 1, labelled: 1, mine: 1 } },
      'PUT /api/eval/reviews/q1/items/i0/label': (c) => ({
        ...(c.body as object),
        scores: {},
        created_at: NOW,
        updated_at: NOW,
      }),
    })
    await open()
    const page = byTestId('annotate-page')!
    expect(byTestId('annotate-output-1')!.textContent).toContain('출력 1')
    expect(byTestId('annotate-output-2')!.textContent).toContain('두 번째 답')
    const text = page.textContent ?? ''
    expect(text).not.toMatch(/secret-model/)
    expect(text).not.toMatch(/(^|[^A-Za-z])[AB]([^A-Za-z]|$)/) // no "A" / "B" anywhere on the screen

    press('2')
    press('0')
    await settle()
    expect(byTestId('choice-preference-2')!.getAttribute('aria-checked')).toBe('true')
    expect(byTestId('choice-safety-tie')!.getAttribute('aria-checked')).toBe('true')
    press('Enter')
    await settle()
    expect(puts(calls).map((c) => c.body)).toEqual([{ choices: { preference: '2', safety: 'tie' }, comment: '' }])
    expect(byTestId('annotate-done')).not.toBeNull()
  })

  it('a closed queue is read-only', async () => {
    const calls = mockApi({
      'GET /api/eval/reviews/q1': () => queue({ status: 'closed' }),
      'GET /api/eval/reviews/q1/next': () => ({
        item: item(0, { '1': '답' }),
        progress: { total: 1, labelled: 0, mine: 0 },
      }),
    })
    await open()
    expect(byTestId('annotate-closed')).not.toBeNull()
    press('3')
    press('Enter')
    await settle()
    expect(puts(calls)).toHaveLength(0)
    expect(byTestId('score-correctness-3')!.getAttribute('aria-checked')).toBe('false')
  })
})

async function type(testid: string, value: string) {
  const el = byTestId(testid)!
  const input = (el.tagName === 'INPUT' ? el : el.querySelector('input'))!
  input.value = value
  input.dispatchEvent(new Event('input'))
  await settle()
}

/** Choose `option` from a select; returns every option it offered. */
async function pick(testid: string, option: string): Promise<string[]> {
  const field = byTestId(testid)!.querySelector<HTMLElement>('.v-field')!
  field.dispatchEvent(new MouseEvent('mousedown', { bubbles: true }))
  field.click()
  await settle()
  const options = [...document.querySelectorAll<HTMLElement>('.v-overlay--active [role="option"]')]
  options.find((o) => o.textContent?.trim().startsWith(option))!.click()
  await settle()
  return options.map((o) => o.textContent?.trim() ?? '')
}

describe('NewReviewQueueDialog', () => {
  it('makes a blind pairwise queue from a finished run with its first two targets', async () => {
    const run = (id: string, status: string) => ({
      id,
      team_id: 't1',
      name: `run-${id}`,
      eval_set_id: 's1',
      eval_set_name: 'qa',
      targets: [
        { key: 'A', kind: 'route', route: 'chat-a', label: null },
        { key: 'B', kind: 'route', route: 'chat-b', label: null },
        { key: 'C', kind: 'route', route: 'chat-c', label: null },
      ],
      metrics: [],
      judges: [],
      tokenizer: 'auto',
      seed: 0,
      concurrency: 8,
      status,
      progress: {},
      cost: 0,
      currency: 'USD',
      created_at: NOW,
    })
    const calls = mockApi({
      'GET /api/eval/runs': () => ({ items: [run('r1', 'succeeded'), run('r2', 'running')] }),
      'GET /api/inference/models/status': () => ({ models: [] }),
      'GET /api/eval/reviews/reviewers': () => ({ items: [{ id: 'u2', username: 'kim', display_name: '김검토' }] }),
      'POST /api/eval/reviews': (c) => queue({ ...(c.body as object), id: 'q9' } as Partial<Queue>),
    })
    const created = vi.fn()
    const open = ref(true)
    wrapper = await mountView(
      { setup: () => () => h(NewReviewQueueDialog, { modelValue: open.value, onCreated: created }) },
      signIn(['eval:read', 'eval:write', 'eval:review']),
    )
    await settle()
    const create = () => byTestId('review-form-create') as HTMLButtonElement
    expect(create().disabled).toBe(true)
    await type('review-form-name', '쌍-비교')
    const offered = await pick('review-form-run', 'run-r1')
    expect(offered.map((o) => o.slice(0, 6))).toEqual(['run-r1']) // the running run cannot be reviewed yet
    await pick('review-form-mode', '쌍 비교')
    await type('review-form-criterion-0', 'preference')
    expect(create().disabled).toBe(false)
    create().click()
    await settle()

    const post = calls.find((c) => c.method === 'POST')!
    expect(post.body).toEqual({
      name: '쌍-비교',
      description: '',
      mode: 'pairwise',
      criteria: [{ name: 'preference', description: '', scale: 5 }],
      assignees: [],
      run: { run_id: 'r1', rows: 'all', size: null, seed: 0, targets: ['A', 'B'] },
    })
    expect(created).toHaveBeenCalledOnce()
  })
})
