import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { VueWrapper } from '@vue/test-utils'
import { h, ref, type VNode } from 'vue'
import { setLocale } from '@/i18n'
import type { Experiment, TestResult } from '@/api/promptExperiments'
import PromptExperiments from '@/views/prompts/PromptExperiments.vue'
import SuggestDialog from '@/views/prompts/SuggestDialog.vue'
import { chancePercent, formatP, setupProblems, splitPercents, type SetupForm } from '@/views/prompts/abTest'
import { byTestId, mockApi, mountView, settle, signIn } from './helpers'

// jsdom has no canvas: charts render as placeholders that keep their options.
vi.mock('vue-echarts', async () => {
  const { defineComponent, h } = await import('vue')
  return {
    default: defineComponent({
      name: 'VChart',
      props: { option: { type: Object, default: null } },
      render() {
        return h('div', { class: 'chart-stub', 'data-option': JSON.stringify(this.option) })
      },
    }),
  }
})

const NOW = '2026-03-01T09:00:00Z'
const version = (n: number, message = '') => ({
  id: `v${n}`,
  prompt_name: 'support',
  version: n,
  kind: 'text',
  template: `Hello v${n}`,
  variables: [],
  binding: { route: 'chat', allowed_routes: [], parameters: {} },
  message,
  labels: n === 1 ? ['production'] : [],
  created_at: NOW,
})
const PROMPT = { name: 'support', latest_version: 3, labels: { production: 1 } }

function experiment(test: TestResult | null, over: Partial<Experiment> = {}): Experiment {
  const variant = (v: number, requests: number, mean: number) => ({
    version: v,
    weight: 50,
    requests,
    errors: 2,
    error_rate: 2 / requests,
    latency_p50: 410.4,
    latency_p95: 1200,
    prompt_tokens: 1000,
    completion_tokens: 500,
    cost: 0.0123,
    feedback_count: 80,
    feedback_mean: mean,
    feedback_ci: [mean - 0.05, mean + 0.05] as [number, number],
  })
  return {
    id: 'e1',
    label: 'production',
    name: 'production: v1 vs v3',
    status: 'running',
    variants: [
      { version: 1, weight: 50 },
      { version: 3, weight: 50 },
    ],
    metric: 'feedback',
    max_duration_s: 7 * 86400,
    max_samples: null,
    auto_promote: false,
    started_at: NOW,
    ended_at: null,
    ended_reason: null,
    winner_version: null,
    results: {
      variants: [variant(1, 200, 0.61), variant(3, 210, 0.74)],
      series: [
        { ts: '2026-03-01T09:00:00Z', version: 1, requests: 120, errors: 1 },
        { ts: '2026-03-01T09:00:00Z', version: 3, requests: 130, errors: 1 },
        { ts: '2026-03-01T10:00:00Z', version: 1, requests: 80, errors: 1 },
      ],
      test,
    },
    ...over,
  }
}

const TEST_BASE: TestResult = {
  metric: 'feedback',
  method: "Welch's t-test",
  control_version: 1,
  variant_version: 3,
  difference: 0.13,
  ci: [0.02, 0.24],
  p_value: 0.031,
  alpha: 0.05,
  verdict: 'b_better',
  needed_per_variant: null,
}

let wrapper: VueWrapper | null = null
/** A host rendering one view with props (mountView mounts a component without any). */
const host = (render: () => VNode) => ({ render })

beforeEach(() => setLocale('ko'))
afterEach(() => {
  wrapper?.unmount()
  wrapper = null
  vi.restoreAllMocks()
  document.body.innerHTML = ''
})

async function type(testid: string, value: string) {
  const input = byTestId(testid) as HTMLInputElement
  input.value = value
  input.dispatchEvent(new Event('input'))
  await settle()
}

async function pick(testid: string, option: string) {
  const field = byTestId(testid)!.querySelector<HTMLElement>('.v-field')!
  field.dispatchEvent(new MouseEvent('mousedown', { bubbles: true }))
  field.click()
  await settle()
  const item = [...document.querySelectorAll<HTMLElement>('.v-overlay--active [role="option"]')].find(
    (o) => o.textContent?.trim() === option,
  )
  item!.click()
  await settle()
}

const text = (testid: string) => byTestId(testid)?.textContent?.replace(/\s+/g, ' ').trim() ?? ''
const submit = () => byTestId('ab-setup-submit') as HTMLButtonElement

/** The Experiments tab of prompt "support", opened on experiment e1 (through its link in the list). */
async function openResults(permissions: string[], result: Experiment) {
  const calls = mockApi({
    'GET /api/prompts/support/experiments': () => ({ items: [result] }),
    'GET /api/prompts/experiments/e1': () => result,
    'POST /api/prompts/experiments/e1/promote': () => ({ ...result, status: 'promoted', winner_version: 3 }),
  })
  wrapper = await mountView(
    host(() => h(PromptExperiments, { name: 'support' })),
    signIn(permissions),
  )
  byTestId('ab-open-e1')!.click()
  await settle()
  return calls
}

describe('A/B test setup', () => {
  it('splits the traffic by weight, live', () => {
    expect(splitPercents([50, 50])).toEqual([50, 50])
    expect(splitPercents([1, 3])).toEqual([25, 75])
    expect(splitPercents([1, 1, 1])).toEqual([33.3, 33.3, 33.3])
    expect(splitPercents([2, '', -1, '6'])).toEqual([25, 0, 0, 75])
    expect(splitPercents([0, 0])).toEqual([0, 0])
  })

  it('says why it cannot start: variant count, versions, weights, stop rules', () => {
    const t = (key: string) => key
    const form: SetupForm = {
      name: 'x',
      label: 'production',
      variants: [
        { version: 1, weight: 50 },
        { version: 2, weight: 50 },
      ],
      metric: 'feedback',
      duration: '',
      durationUnit: 'days',
      maxSamples: '',
      autoPromote: false,
    }
    expect(setupProblems(form, t)).toEqual([])
    expect(setupProblems({ ...form, variants: [{ version: 1, weight: 1 }] }, t)).toEqual([
      'promptAb.setup.variants: promptAb.setup.variantCount',
    ])
    const five = [1, 2, 3, 4, 5].map((v) => ({ version: v, weight: 1 }))
    expect(setupProblems({ ...form, variants: five }, t)).toHaveLength(1)
    expect(
      setupProblems(
        {
          ...form,
          variants: [
            { version: 2, weight: 1 },
            { version: 2, weight: 1 },
          ],
        },
        t,
      ),
    ).toEqual(['promptAb.setup.variants: promptAb.setup.sameVersion'])
    expect(setupProblems({ ...form, duration: '0.01', durationUnit: 'hours', maxSamples: '1' }, t)).toEqual([
      'promptAb.setup.maxDuration: promptAb.setup.minDuration',
      'promptAb.setup.maxSamples: rules.min',
    ])
    expect(setupProblems({ ...form, duration: '0.5', durationUnit: 'hours' }, t)).toEqual([])
    expect(setupProblems({ ...form, busy: ['production'] }, t)).toEqual([
      'promptAb.setup.label: promptAb.setup.labelBusy',
    ])
    expect(setupProblems({ ...form, label: null, maxSamples: '2.5', duration: '-1' }, t)).toEqual([
      'promptAb.setup.label: rules.required',
      'promptAb.setup.maxDuration: promptAb.setup.positive',
      'promptAb.setup.maxSamples: rules.positiveInt',
    ])
  })

  it('starts with A = the label’s version and B = the newest, refuses bad weights and names, and sends the test', async () => {
    const calls = mockApi({
      'GET /api/prompts/support/experiments': () => ({ items: [] }),
      'GET /api/prompts/support': () => PROMPT,
      'GET /api/prompts/support/versions': () => ({ items: [version(3, 'shorter'), version(2), version(1)] }),
      'POST /api/prompts/support/experiments': (call) => ({ ...experiment(null), ...(call.body as object), id: 'e9' }),
      'GET /api/prompts/experiments/e9': () => experiment(null, { id: 'e9' }),
    })
    wrapper = await mountView(
      host(() => h(PromptExperiments, { name: 'support' })),
      signIn(['prompts:read', 'prompts:write']),
    )
    expect(byTestId('state-empty')).not.toBeNull()
    byTestId('ab-new')!.click()
    await settle()

    expect((byTestId('ab-setup-name') as HTMLInputElement).value).toBe('production: v1 대 v3')
    expect(text('ab-setup-label')).toContain('production → v1')
    expect(text('ab-setup-version-0')).toContain('v1')
    expect(text('ab-setup-version-1')).toContain('v3 — shorter')
    expect(text('ab-setup-percent-0')).toBe('50%')
    expect(submit().disabled).toBe(false)
    expect(byTestId('form-why')).toBeNull()

    await type('ab-setup-weight-0', '1')
    await type('ab-setup-weight-1', '3')
    expect(text('ab-setup-percent-0')).toBe('25%')
    expect(text('ab-setup-percent-1')).toBe('75%')
    const parts = [...byTestId('ab-setup-split')!.children].map((c) => (c as HTMLElement).style.width)
    expect(parts).toEqual(['25%', '75%'])

    await type('ab-setup-weight-1', '0')
    expect(submit().disabled).toBe(true)
    expect(text('form-why')).toContain('비중은 모두 0보다 커야 합니다')
    await type('ab-setup-weight-1', '3')

    await pick('ab-setup-version-1', 'v1')
    expect(submit().disabled).toBe(true)
    expect(text('form-why')).toContain('같은 버전을 두 번 고를 수 없습니다')
    await pick('ab-setup-version-1', 'v2')

    await type('ab-setup-name', '  ')
    expect(text('form-why')).toContain('테스트 이름')
    await type('ab-setup-name', 'v2 try')
    expect(submit().disabled).toBe(false)

    byTestId('ab-setup-add')!.click()
    await settle()
    expect(document.querySelectorAll('[data-testid="ab-setup-variant"]')).toHaveLength(3)
    expect(text('form-why')).toContain('모든 줄에 버전을 고르세요')
    await pick('ab-setup-version-2', 'v3 — shorter')
    expect(byTestId('form-why')).toBeNull()
    expect(['ab-setup-percent-0', 'ab-setup-percent-1', 'ab-setup-percent-2'].map(text)).toEqual([
      '1.9%',
      '5.6%',
      '92.6%',
    ])
    submit().click()
    await settle()
    expect(calls.find((c) => c.method === 'POST')!.body).toEqual({
      label: 'production',
      name: 'v2 try',
      variants: [
        { version: 1, weight: 1 },
        { version: 2, weight: 3 },
        { version: 3, weight: 50 },
      ],
      metric: 'feedback',
      max_duration_s: 7 * 86400,
      max_samples: null,
      auto_promote: false,
    })
    expect(byTestId('ab-results')).not.toBeNull() // the new test opens
  }, 30_000)
})

describe('A/B test results', () => {
  it.each([
    ['b_better', 'B · v3가 더 좋습니다'],
    ['a_better', 'A · v1(기존 버전)가 더 좋습니다'],
    ['no_difference_yet', '아직 차이가 없습니다'],
  ] as const)('tells the verdict %s in plain words', async (verdict, title) => {
    const p = verdict === 'no_difference_yet' ? 0.42 : 0.031
    await openResults(
      ['prompts:read', 'prompts:write'],
      experiment({
        ...TEST_BASE,
        verdict,
        p_value: p,
        needed_per_variant: verdict === 'no_difference_yet' ? 900 : null,
        remaining_per_variant: verdict === 'no_difference_yet' ? 340 : null,
      }),
    )
    const banner = byTestId('ab-verdict')!
    expect(banner.dataset.verdict).toBe(verdict)
    expect(text('ab-verdict-title')).toBe(title)
    expect(text('ab-verdict-difference')).toContain('웰치 t-검정')
    expect(text('ab-verdict-difference')).toContain('(B · v3 − A · v1) = +0.130')
    expect(text('ab-verdict-difference')).toContain('+0.020 ~ +0.240')
    if (verdict === 'no_difference_yet') {
      expect(text('ab-verdict-p')).toContain('p-값 0.420')
      expect(text('ab-verdict-p')).toContain('가능성이 42%')
      expect(text('ab-verdict-needed')).toBe('결론을 내리려면 버전마다 사용자 평가가 약 340건 더 필요합니다.')
      expect((byTestId('ab-promote') as HTMLButtonElement).disabled).toBe(true)
      expect(text('ab-why')).toContain('아직 승자가 없어')
    } else {
      expect(text('ab-verdict-p')).toContain('p-값 0.031')
      expect(text('ab-verdict-p')).toContain('가능성이 3.1%')
      expect(byTestId('ab-verdict-needed')).toBeNull()
      expect((byTestId('ab-promote') as HTMLButtonElement).disabled).toBe(false)
    }
  })

  it('shows each variant’s figures and the charts', async () => {
    await openResults(['prompts:read'], experiment(TEST_BASE))
    const rows = [...byTestId('ab-table')!.querySelectorAll('tbody tr')].map((r) =>
      [...r.querySelectorAll('td')].map((c) => c.textContent!.replace(/\s+/g, ' ').trim()),
    )
    expect(rows[0]).toEqual([
      'A v1',
      '50%',
      '200',
      '1.00%',
      '410 ms',
      '1,200 ms',
      '1,500',
      '0.0123',
      '80',
      '0.610 ± 0.050',
    ])
    expect(rows[1]![0]).toContain('B v3')
    const requests = JSON.parse(byTestId('ab-chart-requests')!.dataset.option!)
    expect(requests.series.map((s: { name: string; data: number[] }) => [s.name, s.data])).toEqual([
      ['A · v1', [120, 80]],
      ['B · v3', [130, 0]],
    ])
    const errors = JSON.parse(byTestId('ab-chart-errors')!.dataset.option!)
    expect(errors.series[1].data).toEqual([0.77, null])
    const feedback = JSON.parse(byTestId('ab-chart-feedback')!.dataset.option!)
    const lifts = feedback.series[0].data as number[] // the CI's low ends lift the error bars
    expect(lifts.map((x) => Math.round(x * 100) / 100)).toEqual([0.56, 0.69])
    expect(feedback.series[1].data.map((d: { value: number }) => Math.round(d.value * 100) / 100)).toEqual([0.1, 0.1])
    const latency = JSON.parse(byTestId('ab-chart-latency')!.dataset.option!)
    expect(latency.series.map((s: { data: number[] }) => s.data)).toEqual([
      [410, 410],
      [1200, 1200],
    ])
  })

  it('keeps Stop and Promote disabled without prompts:write', async () => {
    const calls = await openResults(['prompts:read'], experiment(TEST_BASE))
    expect((byTestId('ab-promote') as HTMLButtonElement).disabled).toBe(true)
    expect((byTestId('ab-stop') as HTMLButtonElement).disabled).toBe(true)
    expect(text('ab-why')).toContain('prompts:write')
    byTestId('ab-back')!.click()
    await settle()
    expect((byTestId('ab-new') as HTMLButtonElement).disabled).toBe(true)
    expect(calls.some((c) => c.method === 'POST')).toBe(false)
  })

  it('promotes the winner after a confirmation naming the label and version', async () => {
    const changed = vi.fn()
    const calls = mockApi({
      'GET /api/prompts/support/experiments': () => ({ items: [experiment(TEST_BASE)] }),
      'GET /api/prompts/experiments/e1': () => experiment(TEST_BASE),
      'POST /api/prompts/experiments/e1/promote': () => ({ ...experiment(TEST_BASE), status: 'promoted' }),
    })
    wrapper = await mountView(
      host(() => h(PromptExperiments, { name: 'support', onChanged: changed })),
      signIn(['prompts:read', 'prompts:write']),
    )
    byTestId('ab-open-e1')!.click()
    await settle()
    byTestId('ab-promote')!.click()
    await settle()
    expect(document.body.textContent).toContain('라벨 production을(를) v3(으)로 옮기고 테스트를 끝냅니다')
    byTestId('confirm-ok')!.click()
    await settle()
    expect(calls.find((c) => c.method === 'POST')).toMatchObject({
      path: '/api/prompts/experiments/e1/promote',
      body: { version: 3 },
    })
    expect(changed).toHaveBeenCalled()
  })

  it('stops a test after a confirmation, keeping its results on screen', async () => {
    let status = 'running'
    const calls = mockApi({
      'GET /api/prompts/support/experiments': () => ({ items: [experiment(TEST_BASE, { status })] }),
      'GET /api/prompts/experiments/e1': () =>
        experiment(TEST_BASE, { status, ended_reason: status === 'stopped' ? 'manual' : null }),
      'POST /api/prompts/experiments/e1/stop': () => {
        status = 'stopped'
        return { ...experiment(TEST_BASE, { status, ended_reason: 'manual' }), results: null }
      },
    })
    wrapper = await mountView(
      host(() => h(PromptExperiments, { name: 'support' })),
      signIn(['prompts:read', 'prompts:write']),
    )
    byTestId('ab-open-e1')!.click()
    await settle()
    byTestId('ab-stop')!.click()
    await settle()
    expect(document.body.textContent).toContain('라벨 production은(는) 지금 버전을 그대로 가리킵니다')
    byTestId('confirm-ok')!.click()
    await settle()
    expect(calls.find((c) => c.method === 'POST')).toMatchObject({ path: '/api/prompts/experiments/e1/stop' })
    expect(byTestId('ab-stop')).toBeNull()
    expect(text('ab-meta')).toContain('종료 사유: 직접 중지')
    expect(byTestId('ab-table')!.querySelectorAll('tbody tr')).toHaveLength(2) // the results stay
    expect((byTestId('ab-promote') as HTMLButtonElement).disabled).toBe(false) // a stopped test's winner can still go live
  })

  it('refreshes a running test every 10 s, and stops refreshing once it has ended', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      let status = 'running'
      const calls = mockApi({
        'GET /api/prompts/support/experiments': () => ({ items: [experiment(TEST_BASE)] }),
        'GET /api/prompts/experiments/e1': () => experiment(TEST_BASE, { status }),
      })
      wrapper = await mountView(
        host(() => h(PromptExperiments, { name: 'support' })),
        signIn(['prompts:read']),
      )
      const reads = () => calls.filter((c) => c.path === '/api/prompts/experiments/e1').length
      byTestId('ab-open-e1')!.click()
      await vi.advanceTimersByTimeAsync(100)
      expect(reads()).toBe(1)
      await vi.advanceTimersByTimeAsync(9_000)
      expect(reads()).toBe(1)
      status = 'stopped'
      await vi.advanceTimersByTimeAsync(1_500)
      expect(reads()).toBe(2)
      expect(byTestId('ab-stop')).toBeNull() // a stopped test has nothing to stop
      await vi.advanceTimersByTimeAsync(30_000)
      expect(reads()).toBe(2)
    } finally {
      vi.useRealTimers()
    }
  })

  it('formats p-values for people', () => {
    expect(formatP(0.0004)).toBe('< 0.001')
    expect(formatP(0.0312)).toBe('0.031')
    expect(chancePercent(0.0312)).toBe('3.1%')
    expect(chancePercent(0.42)).toBe('42%')
    expect(chancePercent(0.004)).toBeNull()
  })
})

describe('suggest an improvement', () => {
  it('asks a route, shows the candidate as a diff and saves it as a new version with the same variables and binding', async () => {
    const variables = [{ name: 'question', type: 'string', required: true, default: null, description: '' }]
    const binding = { route: 'chat-b', allowed_routes: [], parameters: { temperature: 0.2 } }
    const calls = mockApi({
      'GET /v1/models': () => ({ data: [{ id: 'chat-a' }, { id: 'chat-b' }] }),
      'POST /api/prompts/support/suggest': () => ({
        candidate: { kind: 'text', template: 'Answer briefly.\n{{ question }}' },
        explanation: 'Shorter.',
        diff: [
          { op: '-', text: 'Answer.' },
          { op: '+', text: 'Answer briefly.' },
          { op: ' ', text: '{{ question }}' },
        ],
      }),
      'GET /api/prompts/support/versions/2': () => ({ ...version(2), variables, binding }),
      'POST /api/prompts/support/versions': (call) => ({ ...version(4), ...(call.body as object) }),
    })
    const open = ref(false)
    const accepted = vi.fn()
    wrapper = await mountView(
      host(() =>
        h(SuggestDialog, {
          modelValue: open.value,
          'onUpdate:modelValue': (v: boolean) => (open.value = v),
          onAccepted: accepted,
          name: 'support',
          version: 2,
          template: 'Answer.\n{{ question }}',
        }),
      ),
      signIn(['prompts:read', 'prompts:write', 'gateway:invoke']),
    )
    open.value = true
    await settle()
    expect(text('suggest-route')).toContain('chat-b') // the version's own route first
    expect((byTestId('suggest-accept') as HTMLButtonElement).disabled).toBe(true)
    await type('suggest-goal', 'shorter answers')
    byTestId('suggest-ask')!.click()
    await settle()
    expect(calls.find((c) => c.path.endsWith('/suggest'))!.body).toEqual({
      version: 2,
      route: 'chat-b',
      goal: 'shorter answers',
    })
    expect(text('suggest-explanation')).toBe('Shorter.')
    const ops = [...byTestId('prompt-diff')!.querySelectorAll('[data-op]')].map((l) => (l as HTMLElement).dataset.op)
    expect(ops).toEqual(['-', '+', ' '])
    byTestId('suggest-accept')!.click()
    await settle()
    expect(calls.find((c) => c.method === 'POST' && c.path === '/api/prompts/support/versions')!.body).toEqual({
      kind: 'text',
      template: 'Answer briefly.\n{{ question }}',
      variables,
      binding,
      message: '개선 제안 반영: shorter answers',
    })
    expect(accepted).toHaveBeenCalledWith(expect.objectContaining({ version: 4 }))
    expect(open.value).toBe(false)
  })
})
