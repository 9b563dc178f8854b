import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { VueWrapper } from '@vue/test-utils'
import { VSelect } from 'vuetify/components'
import EvalSuiteView from '@/views/evaluation/EvalSuiteView.vue'
import ModelDetailView from '@/views/models/ModelDetailView.vue'
import { setLocale } from '@/i18n'
import { byTestId, json, mockApi, mountView, settle, signIn, type Call } from './helpers'

// Both pages read their id from the route ('s1' the suite, 'm1' the model).
vi.mock('vue-router', async (importOriginal) => ({
  ...(await importOriginal<typeof import('vue-router')>()),
  useRoute: () => ({ params: { id: routeId }, meta: {}, query: {} }),
}))
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

let routeId = 's1'
const T0 = '2026-03-01T09:00:00Z'
const SUITE = {
  id: 's1',
  team_id: 't1',
  team_name: 'research',
  name: 'ko-qa-gate',
  description: '',
  eval_set_id: 'e1',
  eval_set_name: 'ko-qa',
  metrics: [{ name: 'bleu', params: {} }, { name: 'exact_match' }],
  judges: [],
  tokenizer: 'morpheme',
  sample_size: null,
  thresholds: [
    { metric: 'bleu', op: '>=', value: 0.3 },
    { metric: 'exact_match', op: '>=', value: 0.5 },
  ],
  model_id: 'm1',
  model_name: 'ko-chat',
  target: { kind: 'route', route: 'chat', label: 'chat' },
  run_on_new_version: true,
  interval_hours: null,
  last_scheduled_at: null,
  created_at: T0,
  updated_at: T0,
  last_run: null,
}
const verdict = (bleu: number, em: number) => [
  { metric: 'bleu', op: '>=', value: 0.3, actual: bleu, passed: bleu >= 0.3 },
  { metric: 'exact_match', op: '>=', value: 0.5, actual: em, passed: em >= 0.5 },
]
const result = (run: string, version: number, bleu: number, em: number, at: string) => ({
  run_id: run,
  suite_id: 's1',
  status: 'succeeded',
  progress: { done: 4, total: 4, errors: 0 },
  error: null,
  target: SUITE.target,
  model_version_id: `v${version}`,
  model_version: version,
  scores: { bleu, exact_match: em },
  verdict: verdict(bleu, em),
  passed: bleu >= 0.3 && em >= 0.5,
  cost: 0.001,
  created_at: at,
  finished_at: at,
})
// newest first, as the API answers
const RESULTS = [
  result('r2', 2, 0.21, 0.75, '2026-03-02T09:00:00Z'),
  result('r1', 1, 0.42, 0.5, '2026-03-01T09:00:00Z'),
]

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

describe('suite page', () => {
  it('shows each run’s verdict and means, and draws each bar’s metric over the runs with its bar', async () => {
    routeId = 's1'
    mockApi({
      'GET /api/eval/suites/s1': () => SUITE,
      'GET /api/eval/suites/s1/results': () => ({ items: RESULTS, next_cursor: null, total: 2 }),
    })
    wrapper = await mountView(EvalSuiteView, signIn(['eval:read', 'eval:write']))
    await settle()
    expect(byTestId('suite-name')!.textContent).toBe('ko-qa-gate')
    // The page's verdict is the newest run's.
    expect(byTestId('suite-verdict')!.dataset.verdict).toBe('failed')
    const chips = [...byTestId('suite-runs')!.querySelectorAll<HTMLElement>('[data-testid="verdict-chip"]')]
    expect(chips.map((c) => c.dataset.verdict)).toEqual(['failed', 'passed'])
    expect(chips[0]!.textContent).toContain('미달')
    // The mean against each bar, the missed one marked.
    const bleu = [...document.querySelectorAll<HTMLElement>('[data-testid="suite-actual-0"]')]
    expect(bleu.map((e) => e.textContent)).toEqual(['0.210', '0.420'])
    expect(bleu[0]!.className).toContain('text-error')
    // One chart per bar: the metric oldest run first, the bar as a mark line at its value.
    const charts = [...document.querySelectorAll<HTMLElement>('.chart-stub')].map((c) => JSON.parse(c.dataset.option!))
    expect(charts).toHaveLength(2)
    expect(charts[0].series[0].data).toEqual([0.42, 0.21])
    expect(charts[0].series[0].markLine.data).toEqual([{ yAxis: 0.3 }])
    expect(charts[1].series[0].data).toEqual([0.5, 0.75])
    expect(byTestId('suite-target')!.textContent).toContain('chat')
  })

  it('runs now on another route for a model version', async () => {
    routeId = 's1'
    const calls = mockApi({
      'GET /api/eval/suites/s1': () => SUITE,
      'GET /api/eval/suites/s1/results': () => ({ items: [], next_cursor: null, total: 0 }),
      'GET /api/inference/models/status': () => ({ currency: 'USD', models: [{ name: 'chat' }, { name: 'chat-2' }] }),
      'GET /api/model/m1/versions': () => [{ ...VERSION, id: 'v2', version: 2 }],
      'POST /api/eval/suites/s1/run': () => json({ id: 'r9', status: 'queued' }, 202),
    })
    wrapper = await mountView(EvalSuiteView, signIn(['eval:read', 'eval:write', 'models:read']))
    await settle()
    expect(byTestId('suite-chart-empty')).not.toBeNull()
    byTestId('suite-run')!.click()
    await settle()
    const selects = wrapper.findAllComponents({ name: 'VCombobox' })
    selects[0]!.vm.$emit('update:modelValue', 'chat-2')
    wrapper.findAllComponents(VSelect).at(-1)!.vm.$emit('update:modelValue', 'v2')
    await settle()
    byTestId('suite-run-submit')!.click()
    await settle()
    const run = calls.find((c) => c.method === 'POST')!
    expect(run.body).toEqual({ target: { kind: 'route', route: 'chat-2', label: 'chat-2' }, model_version_id: 'v2' })
  })
})

describe('suite edit', () => {
  it('changes a bar and keeps the rest of the definition', async () => {
    routeId = 's1'
    const calls = mockApi({
      'GET /api/eval/suites/s1': () => SUITE,
      'GET /api/eval/suites/s1/results': () => ({ items: [], next_cursor: null, total: 0 }),
      'GET /api/eval/sets': () => ({ items: [{ id: 'e1', name: 'ko-qa' }], next_cursor: null, total: 1 }),
      'GET /api/eval/metrics': () => ({
        metrics: [
          { name: 'bleu', kind: 'lexical', higher_is_better: true, params: {}, summary_en: '', summary_ko: '' },
          { name: 'exact_match', kind: 'lexical', higher_is_better: true, params: {}, summary_en: '', summary_ko: '' },
        ],
        rubrics: [],
        tokenizers: ['auto'],
      }),
      'GET /api/inference/models/status': () => ({ currency: 'USD', models: [{ name: 'chat' }] }),
      'GET /api/model': () => ({ items: [{ id: 'm1', name: 'ko-chat' }], next_cursor: null }),
      'PATCH /api/eval/suites/s1': (c) => ({ ...SUITE, ...(c.body as object) }),
    })
    wrapper = await mountView(EvalSuiteView, signIn(['eval:read', 'eval:write', 'models:read']))
    await settle()
    byTestId('suite-edit')!.click()
    await settle()
    const value = byTestId('suite-form-bar-value-0')!.querySelector('input')!
    expect(value.value).toBe('0.3')
    value.value = '0.35'
    value.dispatchEvent(new Event('input'))
    await settle()
    byTestId('suite-form-submit')!.click()
    await settle()
    const patch = calls.find((c) => c.method === 'PATCH')!
    expect(patch.body).toMatchObject({
      name: 'ko-qa-gate',
      eval_set_id: 'e1',
      thresholds: [
        { metric: 'bleu', op: '>=', value: 0.35 },
        { metric: 'exact_match', op: '>=', value: 0.5 },
      ],
      model_id: 'm1',
      target: { kind: 'route', route: 'chat' },
      run_on_new_version: true,
    })
  })
})

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
  created_at: T0,
  updated_at: T0,
  latest_version: 2,
  aliases: {},
}
const VERSION = {
  id: 'v1',
  model_id: 'm1',
  version: 1,
  status: 'ready',
  stage: 'staging',
  source: 'upload',
  source_ref: null,
  base_version_id: null,
  dataset_version_ids: [],
  run_id: null,
  total_size: 10,
  file_count: 1,
  card: {},
  card_markdown: '',
  metrics: {},
  progress: {},
  error: null,
  archived_at: null,
  artifacts_deleted_at: null,
  created_at: T0,
  files: [],
  aliases: [],
}
const VERSIONS = [
  { ...VERSION, id: 'v2', version: 2 },
  { ...VERSION, id: 'v1', version: 1, stage: 'production' },
]
const GATE_V2 = {
  model_id: 'm1',
  version_id: 'v2',
  version: 2,
  stage: 'staging',
  passed: false,
  suites: [
    {
      suite_id: 's1',
      suite_name: 'ko-qa-gate',
      status: 'failed',
      run_id: 'r2',
      finished_at: T0,
      failed: [verdict(0.21, 0.75)[0]],
      verdict: verdict(0.21, 0.75),
      running: false,
    },
    {
      suite_id: 's2',
      suite_name: 'safety',
      status: 'missing',
      run_id: null,
      finished_at: null,
      failed: [],
      verdict: null,
      running: false,
    },
  ],
}

function modelApi(extra: Record<string, (call: Call) => unknown> = {}) {
  return mockApi({
    'GET /api/model/m1': () => MODEL,
    'GET /api/model/m1/versions': () => VERSIONS,
    'GET /api/eval/suites': () => ({ items: [SUITE], next_cursor: null, total: 1 }),
    'GET /api/eval/suites/s1/results': () => ({ items: RESULTS, next_cursor: null, total: 2 }),
    'GET /api/eval/model-versions/v2/gate': () => GATE_V2,
    'GET /api/eval/model-versions/v1/gate': () => ({
      ...GATE_V2,
      version_id: 'v1',
      version: 1,
      passed: true,
      suites: [],
    }),
    'POST /api/model/version/v2/stage': (c) =>
      (c.body as { force?: boolean }).force
        ? { ...VERSIONS[0], stage: 'production' }
        : json(
            {
              type: 'https://axops.dev/problems/evaluation_gate_failed',
              title: 'Conflict',
              status: 409,
              detail: 'v2 did not pass ko-qa-gate',
            },
            409,
          ),
    ...extra,
  })
}

async function promote(w: VueWrapper) {
  byTestId('tab-versions')!.click()
  await settle()
  const stage = w.findAllComponents(VSelect).find((s) => s.attributes('data-testid') === 'stage-2')!
  stage.vm.$emit('update:modelValue', 'production')
  await settle()
}

describe('model page', () => {
  it('shows per version the gate, each suite’s verdict and the metric across versions', async () => {
    routeId = 'm1'
    modelApi()
    wrapper = await mountView(ModelDetailView, signIn(['models:read', 'models:write', 'eval:read']))
    byTestId('tab-evaluation')!.click()
    await settle()
    const gates = [...document.querySelectorAll<HTMLElement>('[data-testid="model-gate"]')]
    expect(gates.map((g) => [g.dataset.version, g.dataset.verdict])).toEqual([
      ['2', 'failed'],
      ['1', 'passed'],
    ])
    const table = byTestId('model-eval-table')!
    expect(table.textContent).toContain('0.210')
    expect(table.textContent).toContain('0.420')
    const chart = JSON.parse(document.querySelector<HTMLElement>('[data-testid="model-eval-chart"]')!.dataset.option!)
    expect(chart.xAxis.data).toEqual(['v1', 'v2'])
    expect(chart.series[0].data).toEqual([0.42, 0.21])
    expect(chart.series[0].markLine.data).toEqual([{ yAxis: 0.3 }])
    expect(byTestId('model-eval-recorded')).toBeNull() // no run wrote into the versions' metrics
  })

  it('lists what evaluation runs wrote into a version’s metrics, and nothing else of them', async () => {
    routeId = 'm1'
    modelApi({
      'GET /api/model/m1/versions': () => [
        { ...VERSIONS[0], metrics: { 'eval/ko-qa/bleu': 0.4123, 'eval/ko-qa/judge:correctness': 0.75, loss: 1.2 } },
        VERSIONS[1],
      ],
    })
    wrapper = await mountView(ModelDetailView, signIn(['models:read', 'eval:read']))
    byTestId('tab-evaluation')!.click()
    await settle()
    const text = byTestId('model-eval-recorded')!.textContent!
    expect(text).toContain('ko-qa')
    expect(text).toContain('0.412')
    expect(text).toContain('0.750')
    expect(text).not.toContain('1.2') // a training metric is not an evaluation result
  })

  it('explains a refused promotion in Korean, without the override for those who lack the permission', async () => {
    routeId = 'm1'
    const calls = modelApi()
    wrapper = await mountView(ModelDetailView, signIn(['models:read', 'models:write', 'eval:read']))
    await promote(wrapper)
    const dialog = byTestId('gate-refusal')!
    expect(dialog.textContent).toContain('v2을(를) 운영으로 올릴 수 없습니다')
    const suites = [...dialog.querySelectorAll<HTMLElement>('[data-testid="gate-suite"]')]
    expect(suites.map((s) => s.dataset.suite)).toEqual(['ko-qa-gate', 'safety'])
    expect(suites[0]!.querySelector('[data-testid="gate-miss"]')!.textContent).toContain('0.210 (기준 ≥ 0.3)')
    expect(suites[0]!.querySelector('a')!.getAttribute('href')).toBe('/evaluation/suites/s1')
    expect(suites[1]!.textContent).toContain('완료된 실행이 없습니다')
    expect(byTestId('gate-override')).toBeNull()
    expect(byTestId('gate-no-override')).not.toBeNull()
    expect(calls.filter((c) => c.method === 'POST').map((c) => c.body)).toEqual([{ stage: 'production' }])
  })

  it('lets a holder of eval:gate_override promote anyway after confirming, with force', async () => {
    routeId = 'm1'
    const calls = modelApi()
    wrapper = await mountView(
      ModelDetailView,
      signIn(['models:read', 'models:write', 'eval:read', 'eval:gate_override'], { role: 'admin' }),
    )
    await promote(wrapper)
    const override = byTestId('gate-override')!
    expect(override.hasAttribute('disabled')).toBe(true)
    byTestId('gate-override-confirm')!.querySelector('input')!.click()
    await settle()
    expect(override.hasAttribute('disabled')).toBe(false)
    override.click()
    await settle()
    expect(calls.filter((c) => c.method === 'POST').map((c) => c.body)).toEqual([
      { stage: 'production' },
      { stage: 'production', force: true },
    ])
  })
})
