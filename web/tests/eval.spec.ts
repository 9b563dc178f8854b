import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { VueWrapper } from '@vue/test-utils'
import { setLocale } from '@/i18n'
import type { Interval } from '@/api/eval'
import EvalRunView from '@/views/evaluation/EvalRunView.vue'
import EvalReportView from '@/views/evaluation/EvalReportView.vue'
import EvalRunsTab from '@/views/evaluation/EvalRunsTab.vue'
import EvalSetsTab from '@/views/evaluation/EvalSetsTab.vue'
import NewEvalRunDialog from '@/views/evaluation/NewEvalRunDialog.vue'
import { meansOption } from '@/views/evaluation/reportCharts'
import { byTestId, json, mockApi, mountView, settle, signIn, type Call } from './helpers'

// The pages read the run's id from the route.
vi.mock('vue-router', async (importOriginal) => ({
  ...(await importOriginal<typeof import('vue-router')>()),
  useRoute: () => ({ params: { id: 'r1' }, meta: {}, query: {} }),
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

const NOW = '2026-03-01T09:00:00Z'
const run = (over: Record<string, unknown> = {}) => ({
  id: 'r1',
  team_id: 't1',
  name: 'qa-compare',
  eval_set_id: 's1',
  eval_set_name: 'korean-qa',
  suite_id: null,
  model_version_id: null,
  targets: [
    { key: 'A', kind: 'route', route: 'gpt-small', label: '', params: {} },
    { key: 'B', kind: 'route', route: 'gpt-large', label: '', params: {} },
  ],
  metrics: [{ name: 'bleu', params: {} }],
  judges: [{ name: 'correctness', route: 'judge', mode: 'single', scale: 5 }],
  tokenizer: 'morpheme',
  sample_size: null,
  seed: 0,
  concurrency: 8,
  max_cost: null,
  status: 'succeeded',
  progress: { done: 2, total: 2, errors: 1 },
  estimate: null,
  cost: 0.0123,
  currency: 'USD',
  summary: { bleu: { A: 0.41, B: 0.62 } },
  verdict: null,
  passed: null,
  experiment_run_id: 'x1',
  error: null,
  cancel_requested: false,
  created_by: 'me',
  created_at: NOW,
  started_at: NOW,
  finished_at: NOW,
  ...over,
})
const ci = (mean: number, lo: number, hi: number): Interval => ({ mean, lo, hi, n: 2 })
const REPORT = {
  rows: 2,
  baseline: null,
  targets: run().targets,
  metrics: {
    bleu: { higher_is_better: true, by_target: { A: ci(0.41, 0.3, 0.52), B: ci(0.62, 0.5, 0.74) } },
    'judge:correctness': { higher_is_better: true, by_target: { A: ci(0.75, 0.75, 0.75), B: ci(1, 1, 1) } },
  },
  comparisons: [
    {
      a: 'A',
      b: 'B',
      metrics: {
        bleu: { wins: 0, losses: 2, ties: 0, n: 2, diff: { mean: -0.21, lo: -0.3, hi: -0.1 } },
        'judge:correctness': { wins: 0, losses: 1, ties: 1, n: 2, diff: { mean: -0.25, lo: -0.5, hi: 0 } },
      },
      pairwise: { helpfulness: { a_wins: 1, b_wins: 3, ties: 0, inconsistent: 1, n: 5 } },
    },
  ],
  usage: {
    A: {
      rows: 2,
      errors: 1,
      latency_p50_ms: 120,
      latency_p95_ms: 300,
      prompt_tokens: 20,
      completion_tokens: 8,
      cost: 0.004,
    },
    B: {
      rows: 2,
      errors: 0,
      latency_p50_ms: 90,
      latency_p95_ms: 150,
      prompt_tokens: 20,
      completion_tokens: 6,
      cost: 0.0083,
    },
  },
  currency: 'USD',
}
const result = (output: string | null, bleu: number | null, over: Record<string, unknown> = {}) => ({
  output,
  error: null,
  latency_ms: 100,
  prompt_tokens: 10,
  completion_tokens: 4,
  cost: 0.002,
  scores: { bleu },
  judges: {},
  ...over,
})
const ROWS = [
  {
    row_index: 0,
    input: '대한민국의 수도는?',
    references: ['서울'],
    context: null,
    metadata: {},
    results: {
      A: result('서울입니다', 0.41, {
        judges: { correctness: { score: 0.75, raw: 4, reasoning: '수도를 맞혔지만 군말이 붙었다', error: null } },
      }),
      B: result('서울', 1),
    },
    pairwise: {},
  },
  {
    row_index: 1,
    input: '일본의 수도는?',
    references: ['도쿄'],
    context: null,
    metadata: {},
    results: { A: result(null, null, { error: 'upstream answered 500' }), B: result('도쿄', 1) },
    pairwise: {},
  },
]

const text = (testid: string) => byTestId(testid)?.textContent?.replace(/\s+/g, ' ').trim() ?? ''
const option = (testid: string) =>
  JSON.parse(byTestId(testid)!.querySelector<HTMLElement>('.chart-stub')!.dataset.option!) as {
    series: { name?: string; data: unknown[] }[]
    yAxis: { data?: string[] }
  }

/** Open a select or autocomplete by its test id and click the option whose text starts with `label`. */
async function pick(testid: string, label: string) {
  const field = byTestId(testid)!.querySelector<HTMLElement>('.v-field')!
  field.dispatchEvent(new MouseEvent('mousedown', { bubbles: true }))
  field.click()
  await settle()
  const item = [...document.querySelectorAll<HTMLElement>('.v-overlay--active [role="option"]')].find((o) =>
    o.textContent?.trim().startsWith(label),
  )
  expect(item, `option ${label} in ${testid}`).toBeTruthy()
  item!.click()
  await settle()
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

describe('evaluation run page', () => {
  it('shows the summary with intervals, each row with its outputs and scores, errors marked, and the reasoning', async () => {
    const calls = mockApi({
      'GET /api/eval/runs/r1': () => run(),
      'GET /api/eval/runs/r1/report': () => REPORT,
      'GET /api/eval/runs/r1/rows': () => ({ items: ROWS, next_cursor: null, total: 2 }),
    })
    wrapper = await mountView(EvalRunView, signIn(['eval:read', 'eval:write']))
    await settle()
    expect(text('eval-run-name')).toBe('qa-compare')
    expect(byTestId('eval-run-status')!.dataset.status).toBe('succeeded')
    expect(text('eval-summary-bleu-A')).toBe('0.410')
    expect(text('eval-summary-bleu-B')).toBe('0.620')
    expect(text('eval-summary-bleu')).toContain('[0.300, 0.520]')
    expect(text('eval-summary-judge:correctness-A')).toBe('0.750')
    expect(text('eval-run-progress-text')).toContain('2 / 2')
    expect(text('eval-run-errors')).toContain('1')
    // A finished run is not followed, and cannot be cancelled.
    expect(calls.some((c) => c.path.endsWith('/events'))).toBe(false)
    expect(byTestId('eval-run-cancel')).toBeNull()
    expect(byTestId('eval-run-tracking')!.getAttribute('href')).toBe('/experiments/runs/x1')

    const table = byTestId('eval-rows-table')!
    expect(table.textContent).toContain('서울입니다')
    expect(table.textContent).toContain('도쿄')
    expect(
      [...document.querySelectorAll('[data-testid="eval-row-score-A"]')].map((e) => e.textContent?.trim()),
    ).toEqual(['0.410', '—'])
    expect(byTestId('eval-row-error-A')!.textContent).toContain('upstream answered 500')

    // The comparison filter asks the API for rows where A beats B on the metric shown.
    await pick('eval-rows-compare', 'A이(가) B보다 나은 행')
    const filtered = calls.filter((c) => c.path === '/api/eval/runs/r1/rows').at(-1)!
    expect(Object.fromEntries(filtered.query)).toMatchObject({ better: 'A', against: 'B', metric: 'bleu' })

    table.querySelector<HTMLElement>('tbody tr')!.click()
    await settle()
    expect(text('eval-row-judge-A-correctness')).toContain('수도를 맞혔지만 군말이 붙었다')
    expect(text('eval-row-score-A-bleu')).toContain('0.410')
  })

  it('moves the progress bar with the event stream and reloads the run when it ends', async () => {
    const encoder = new TextEncoder()
    let controller!: ReadableStreamDefaultController<Uint8Array>
    const stream = new ReadableStream<Uint8Array>({ start: (c) => (controller = c) })
    let status = 'running'
    const calls = mockApi({
      'GET /api/eval/runs/r1': () =>
        run({
          status,
          progress: status === 'running' ? { done: 0, total: 4, errors: 0 } : { done: 4, total: 4, errors: 0 },
        }),
      'GET /api/eval/runs/r1/events': () =>
        new Response(stream, { status: 200, headers: { 'content-type': 'text/event-stream' } }),
      'GET /api/eval/runs/r1/report': () => REPORT,
      'GET /api/eval/runs/r1/rows': () => ({ items: ROWS, next_cursor: null, total: 2 }),
      'POST /api/eval/runs/r1/cancel': () => run({ status: 'running', cancel_requested: true }),
    })
    wrapper = await mountView(EvalRunView, signIn(['eval:read', 'eval:write']))
    await settle()
    expect(text('eval-run-progress-text')).toContain('0 / 4')
    expect(byTestId('eval-run-cancel')).not.toBeNull()

    const send = (event: string, data: object) =>
      controller.enqueue(encoder.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`))
    send('progress', { done: 2, total: 4, errors: 1, status: 'running', cost: 0.5 })
    await settle()
    expect(text('eval-run-progress-text')).toContain('2 / 4')
    expect(text('eval-run-errors')).toContain('1')
    expect(text('eval-run-progress')).toContain('0.5000 USD')
    const bar =
      byTestId('eval-run-progress-bar')!.querySelector('[aria-valuenow]') ?? byTestId('eval-run-progress-bar')!
    expect(bar.getAttribute('aria-valuenow')).toBe('50')

    status = 'succeeded'
    const runReads = calls.filter((c) => c.path === '/api/eval/runs/r1').length
    send('end', { done: 4, total: 4, errors: 1, status: 'succeeded', cost: 0.9 })
    controller.close()
    await settle()
    await settle()
    expect(byTestId('eval-run-status')!.dataset.status).toBe('succeeded')
    expect(calls.filter((c) => c.path === '/api/eval/runs/r1').length).toBe(runReads + 1)
    expect(text('eval-run-progress-text')).toContain('4 / 4')
    expect(byTestId('eval-run-cancel')).toBeNull()
  })
})

const SET = {
  id: 's1',
  team_id: 't1',
  team_name: 'research',
  name: 'korean-qa',
  description: '',
  dataset_id: 'd1',
  dataset_name: 'qa',
  dataset_version_id: 'dv1',
  dataset_version: 2,
  review_status: 'approved',
  sensitivity: 'internal',
  row_count: 120,
  columns: [],
  mapping: { input: 'question', input_format: 'text', references: ['answer'], context: null, metadata: [] },
  rows_readable: true,
  created_by: 'me',
  created_at: NOW,
  updated_at: NOW,
}
const CATALOGUE = {
  metrics: [
    { name: 'bleu', kind: 'lexical', higher_is_better: true, params: {}, summary_en: 'BLEU', summary_ko: 'BLEU 점수' },
    {
      name: 'regex',
      kind: 'check',
      higher_is_better: true,
      params: { type: 'object', properties: { pattern: { type: 'string' } }, required: ['pattern'] },
      summary_en: 'Regex',
      summary_ko: '정규식',
    },
  ],
  rubrics: [{ name: 'correctness', needs_reference: true }],
  tokenizers: ['auto', 'morpheme', 'word', 'character'],
}

describe('new evaluation run', () => {
  it('keeps Start disabled with the reason until a set, a target and a metric are chosen, then shows the estimate', async () => {
    const calls: Call[] = mockApi({
      'GET /api/eval/sets': () => ({ items: [SET], next_cursor: null, total: 1 }),
      'GET /api/eval/sets/s1': () => SET,
      'GET /api/inference/models/status': () => ({
        currency: 'USD',
        models: [{ name: 'gpt-small', health: 'healthy' }],
      }),
      'GET /api/serving/deployments': () => [],
      'GET /api/prompts': () => ({ items: [], next_cursor: null, total: 0 }),
      'GET /api/eval/metrics': () => CATALOGUE,
      'GET /api/dataset/version/dv1': () => ({
        columns: [
          { name: 'question', type: 'string' },
          { name: 'answer', type: 'string' },
          { name: 'old_output', type: 'string' },
        ],
      }),
      'POST /api/eval/runs/estimate': () => ({
        rows: 120,
        calls: 120,
        judge_calls: 0,
        prompt_tokens: 4800,
        completion_tokens: 2400,
        cost: 0.042,
        currency: 'USD',
        per_target: { A: { calls: 120, prompt_tokens: 4800, completion_tokens: 2400, cost: 0.042 } },
      }),
    })
    // The dialog open, as the runs tab shows it.
    const Host = {
      components: { NewEvalRunDialog },
      data: () => ({ open: true }),
      template: '<NewEvalRunDialog v-model="open" />',
    }
    wrapper = await mountView(Host, signIn(['eval:read', 'eval:write', 'prompts:read']))
    await settle()
    const start = () => byTestId('eval-run-start') as HTMLButtonElement
    expect(start().disabled).toBe(true)
    expect(text('eval-run-missing')).toContain('평가 세트를 고르세요')
    expect(text('eval-run-missing')).toContain('지표나 심사를 하나 이상 고르세요')
    // The first route the caller may use is the first target's route already.
    expect(text('eval-run-missing')).not.toContain('대상 A에 필요한 값을 채우세요')

    await pick('eval-run-set', 'korean-qa')
    expect(text('eval-run-missing')).not.toContain('평가 세트를 고르세요')
    expect(start().disabled).toBe(true)

    // A metric with a required parameter keeps Start disabled, naming it.
    await pick('eval-run-metrics-metrics', '정규식')
    expect(text('eval-run-missing')).toContain('정규식 일치 설정을 채우세요')
    expect(calls.some((c) => c.path === '/api/eval/runs/estimate')).toBe(false)
    await pick('eval-run-metrics-metrics', '정규식') // unchoose it
    await pick('eval-run-metrics-metrics', 'BLEU')
    expect(byTestId('eval-run-missing')).toBeNull()
    expect(start().disabled).toBe(false)

    await vi.waitFor(() => expect(byTestId('eval-run-estimate-cost')).not.toBeNull(), { timeout: 3000 })
    expect(text('eval-run-estimate-cost')).toContain('0.0420 USD')
    expect(text('eval-run-estimate')).toContain('120')
    const estimate = calls.filter((c) => c.path === '/api/eval/runs/estimate')
    expect(estimate).toHaveLength(1)
    expect(estimate[0]!.body).toMatchObject({
      eval_set_id: 's1',
      targets: [{ key: 'A', kind: 'route', route: 'gpt-small', params: { temperature: 0, max_tokens: 256 } }],
      metrics: [{ name: 'bleu' }],
      judges: [],
      tokenizer: 'auto',
      concurrency: 8,
    })
  })
})

describe('comparison report', () => {
  it('draws the means with their intervals, the win rates, the pairwise verdicts and the usage', async () => {
    const calls = mockApi({
      'GET /api/eval/runs/r1': () => run(),
      'GET /api/eval/runs/r1/report': () => REPORT,
      'GET /api/eval/runs/r1/rows': () => ({ items: [ROWS[0]], next_cursor: null, total: 1 }),
    })
    wrapper = await mountView(EvalReportView, signIn(['eval:read']))
    await settle()
    const bleu = option('eval-report-mean-bleu')
    expect(bleu.series[0]!.data).toEqual([
      { value: 0.41, itemStyle: expect.any(Object) },
      { value: 0.62, itemStyle: expect.any(Object) },
    ])
    expect(bleu.series[1]!.data).toEqual([
      [0, 0.3, 0.52],
      [1, 0.5, 0.74],
    ])
    expect(text('eval-report-ci-bleu-B')).toContain('0.620 [0.500, 0.740]')

    const wins = option('eval-report-win-A-B')
    expect(wins.yAxis.data).toEqual(['BLEU', '심사: 정확성 (참조 답 기준)'])
    expect(wins.series.map((s) => s.data)).toEqual([
      [0, 0],
      [0, 50],
      [100, 50],
    ])
    const pairwise = JSON.parse(
      byTestId('eval-report-pairwise')!.querySelector<HTMLElement>('.chart-stub')!.dataset.option!,
    ) as { series: { data: number[] }[] }
    expect(pairwise.series.map((s) => s.data)).toEqual([[1], [0], [3], [1]])

    expect(text('eval-report-diff-table')).toContain('-0.210')
    expect(text('eval-report-diff-table')).toContain('유의함')
    expect(text('eval-report-usage')).toContain('0.0083')
    expect(text('eval-report-usage')).toContain('300 ms')

    // Rows where A beats B on the first metric are asked for, and listed.
    const rows = calls.filter((c) => c.path === '/api/eval/runs/r1/rows').at(-1)!
    expect(Object.fromEntries(rows.query)).toMatchObject({ better: 'A', against: 'B', metric: 'bleu' })
    expect(text('eval-report-rows')).toContain('대한민국의 수도는?')

    await pick('eval-report-baseline', 'B')
    expect(
      calls
        .filter((c) => c.path === '/api/eval/runs/r1/report')
        .at(-1)!
        .query.get('baseline'),
    ).toBe('B')
  })

  it('escapes target names in chart tooltips', () => {
    const chart = meansOption(
      [{ key: 'A', name: '<img src=x onerror=alert(1)>' }],
      { A: ci(0.5, 0.4, 0.6) },
      {
        mean: 'BLEU',
        ci: '95%',
      },
    )
    const html = chart.tooltip.formatter({ dataIndex: 0 })
    expect(html).not.toContain('<img')
    expect(html).toContain('&lt;img')
    expect(html).toContain('0.400 – 0.600')
  })
})

describe('evaluation sets', () => {
  it("maps an approved version's columns, says why Create waits, and shows the server's problem in Korean", async () => {
    let created = 0
    const calls = mockApi({
      'GET /api/eval/sets': () => ({ items: [{ ...SET, rows_readable: false }], next_cursor: null, total: 1 }),
      'GET /api/dataset': () => ({ items: [{ id: 'd1', name: 'qa' }], next_cursor: null }),
      'GET /api/dataset/d1/versions': () => [
        { id: 'dv1', version: 1, status: 'ready', review_status: 'scanned', row_count: 10, columns: [] },
        {
          id: 'dv2',
          version: 2,
          status: 'ready',
          review_status: 'approved',
          row_count: 120,
          columns: [
            { name: 'question', type: 'string' },
            { name: 'answer', type: 'string' },
            { name: 'topic', type: 'string' },
          ],
        },
      ],
      'POST /api/eval/sets': () =>
        ++created === 1
          ? json(
              {
                type: 'https://axops.dev/problems/eval_columns_missing',
                title: 'Bad request',
                status: 422,
                detail: 'The dataset version has no column topic2.',
                missing: ['topic2'],
                columns: ['question', 'answer', 'topic'],
              },
              422,
            )
          : SET,
    })
    wrapper = await mountView(EvalSetsTab, signIn(['eval:read', 'eval:write']))
    await settle()
    expect(text('eval-sets-table')).toContain('korean-qa')
    expect(byTestId('eval-set-locked')).not.toBeNull() // rows hidden by the data access policy
    byTestId('eval-sets-new')!.click()
    await settle()
    const submit = () => byTestId('eval-set-submit') as HTMLButtonElement
    expect(submit().disabled).toBe(true)
    expect(text('eval-set-missing')).toContain('이름을 입력하세요')
    expect(text('eval-set-missing')).toContain('데이터셋과 승인된 버전을 고르세요')

    await pick('eval-set-dataset', 'qa')
    // Only the approved version is offered, and picked; the obvious columns are guessed.
    expect(text('eval-set-version')).toContain('v2')
    expect(text('eval-set-input')).toContain('question')
    expect(text('eval-set-references')).toContain('answer')
    const name = byTestId('eval-set-name')!.querySelector('input')!
    name.value = 'qa set'
    name.dispatchEvent(new Event('input'))
    await settle()
    expect(text('eval-set-missing')).toContain('공백')
    name.value = 'qa-set'
    name.dispatchEvent(new Event('input'))
    await settle()
    expect(byTestId('eval-set-missing')).toBeNull()

    submit().click()
    await settle()
    expect(text('eval-set-form-error')).toBe('데이터셋 버전에 topic2 열이 없습니다.')
    const body = calls.find((c) => c.method === 'POST')!.body
    expect(body).toEqual({
      name: 'qa-set',
      description: '',
      dataset_version_id: 'dv2',
      team_id: 't1',
      mapping: { input: 'question', input_format: 'text', references: ['answer'], context: null, metadata: [] },
    })
    submit().click()
    await settle()
    expect(byTestId('eval-set-dialog')).toBeNull()
    expect(calls.filter((c) => c.path === '/api/eval/sets' && c.method === 'GET')).toHaveLength(2)
  })
})

describe('evaluation runs list', () => {
  it('shows each run with its targets, progress, main metric per target and cost; filters by status on the server', async () => {
    const running = run({
      id: 'r2',
      name: 'nightly',
      status: 'running',
      progress: { done: 30, total: 120, errors: 2 },
      summary: null,
      cost: 0.5,
    })
    const calls = mockApi({
      'GET /api/eval/runs': (c) =>
        c.query.get('status') === 'running'
          ? { items: [running], next_cursor: null, total: 1 }
          : { items: [running, run()], next_cursor: null, total: 2 },
      'GET /api/eval/sets': () => ({ items: [SET], next_cursor: null, total: 1 }),
    })
    wrapper = await mountView(EvalRunsTab, signIn(['eval:read']))
    await settle()
    const table = text('eval-runs-table')
    expect(table).toContain('qa-compare')
    expect(table).toContain('A · gpt-small')
    expect(table).toMatch(/BLEU\s*A 0\.410\s*B 0\.620/)
    expect(table).toContain('30 / 120')
    expect(table).toContain('오류 2건')
    expect(table).toContain('0.5000 USD')
    expect(byTestId('eval-runs-new')).toBeNull() // a reader starts no runs

    await pick('eval-runs-status', '실행 중')
    expect(
      calls
        .filter((c) => c.path === '/api/eval/runs')
        .at(-1)!
        .query.get('status'),
    ).toBe('running')
    expect(text('eval-runs-table')).not.toContain('qa-compare')

    // the search goes to the server once per pause in typing, so the total stays the server's
    vi.useFakeTimers()
    const input = byTestId('eval-runs-search')!.querySelector('input')!
    for (const typed of ['n', 'ni', 'nig']) {
      input.value = typed
      input.dispatchEvent(new Event('input'))
    }
    await vi.advanceTimersByTimeAsync(400)
    vi.useRealTimers()
    await settle()
    const searches = calls.filter((c) => c.path === '/api/eval/runs' && c.query.get('q'))
    expect(searches.map((c) => [c.query.get('q'), c.query.get('status')])).toEqual([['nig', 'running']])
  })
})
