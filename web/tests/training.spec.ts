import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { mount, type VueWrapper } from '@vue/test-utils'
import type { Component } from 'vue'
import type { Pinia } from 'pinia'
import { createVuetify } from 'vuetify'
import * as components from 'vuetify/components'
import * as directives from 'vuetify/directives'
import { createMemoryHistory, createRouter } from 'vue-router'
import { i18n, setLocale } from '@/i18n'
import en from '@/i18n/en'
import ko from '@/i18n/ko'
import QueueView from '@/views/training/QueueView.vue'
import SweepDetailView from '@/views/training/SweepDetailView.vue'
import { jobGpus, memoryPct, parseQuota, splitQueue } from '@/views/training/queue'
import { BOUNDS, missing, modelNameProblem, nameProblem, numberProblem } from '@/views/training/jobForm'
import { failureText, reasonText } from '@/views/training/status'
import {
  blankRow,
  blankSweep,
  compareRunIds,
  parseValues,
  sweepBody,
  SweepFormError,
  toRange,
  toSpace,
  trialCount,
  valueChart,
  type SweepRow,
  type Trial,
} from '@/views/training/sweeps'
import { byTestId, json, mockApi, settle, signIn as signInAs } from './helpers'

vi.mock('vue-echarts', async () => {
  const { defineComponent, h } = await import('vue')
  return {
    default: defineComponent({
      name: 'VChart',
      props: { option: { type: Object, default: null } },
      render() {
        return h('div', { class: 'chart-stub' })
      },
    }),
  }
})

const NOW = '2026-03-01T09:00:00Z'

/** The key of the SweepFormError `work` throws. */
function failure(work: () => unknown): string {
  try {
    work()
  } catch (e) {
    if (e instanceof SweepFormError) return e.key
    throw e
  }
  throw new Error('did not fail')
}

const row = (over: Partial<SweepRow>): SweepRow => ({ ...blankRow('hyperparameters.learning_rate'), ...over })

describe('sweep form', () => {
  it('reads a comma list of values: numbers, whole numbers where the setting takes them, scheduler names', () => {
    expect(parseValues('0.0001, 1e-3,0.01 ,, 0.01', 'hyperparameters.learning_rate')).toEqual([0.0001, 0.001, 0.01])
    expect(parseValues('8;16\n32', 'lora.r')).toEqual([8, 16, 32])
    expect(parseValues('4.0', 'hyperparameters.batch_size')).toEqual([4])
    expect(parseValues('cosine, linear', 'hyperparameters.lr_scheduler')).toEqual(['cosine', 'linear'])
    expect(failure(() => parseValues(' , ', 'lora.r'))).toBe('noValues')
    expect(failure(() => parseValues('0.1, abc', 'lora.dropout'))).toBe('notNumber')
    expect(failure(() => parseValues('8, 1.5', 'lora.alpha'))).toBe('notInteger')
    expect(failure(() => parseValues('Infinity', 'hyperparameters.epochs'))).toBe('notNumber')
    expect(failure(() => parseValues('cosine, fancy', 'hyperparameters.lr_scheduler'))).toBe('notChoice')
    expect(
      failure(() => parseValues(Array.from({ length: 101 }, (_, i) => i + 1).join(','), 'hyperparameters.seed')),
    ).toBe('tooManyValues')
  })

  it('turns rows into the API ranges: lists, or min/max/log ranges for random search only', () => {
    expect(toRange(row({ values: '0.1, 0.2' }), 'grid')).toEqual({ values: [0.1, 0.2], log: false, integer: false })
    expect(toRange(row({ kind: 'range', min: '0.0001', max: 0.1, log: true }), 'random')).toEqual({
      min: 0.0001,
      max: 0.1,
      log: true,
      integer: false,
    })
    expect(toRange(row({ setting: 'hyperparameters.batch_size', kind: 'range', min: 4, max: 32 }), 'random')).toEqual({
      min: 4,
      max: 32,
      log: false,
      integer: true,
    })
    expect(failure(() => toRange(row({ kind: 'range', min: 0.1, max: 0.2 }), 'grid'))).toBe('rangeNeedsRandom')
    expect(failure(() => toRange(row({ kind: 'range', min: 0.2, max: 0.1 }), 'random'))).toBe('minAboveMax')
    expect(failure(() => toRange(row({ kind: 'range', min: 0, max: 0.1, log: true }), 'random'))).toBe(
      'logNeedsPositive',
    )
    expect(failure(() => toRange(row({ kind: 'range', min: null, max: 0.1 }), 'random'))).toBe('notNumber')
    expect(
      failure(() => toRange(row({ setting: 'hyperparameters.lr_scheduler', kind: 'range', min: 1, max: 2 }), 'random')),
    ).toBe('rangeNotNumeric')
    expect(failure(() => toRange(row({ setting: null }), 'grid'))).toBe('noSetting')
    expect(failure(() => toSpace([row({ values: '1' }), row({ values: '2' })], 'grid'))).toBe('duplicate')
    expect(failure(() => toSpace([], 'grid'))).toBe('noRows')
  })

  it('counts the trials: grid combinations capped at max trials, or max trials draws', () => {
    const form = {
      ...blankSweep(),
      rows: [row({ values: '0.1, 0.2, 0.3' }), row({ setting: 'lora.r', values: '4, 8' })],
      maxTrials: 8,
    }
    expect(trialCount(form)).toBe(6)
    expect(trialCount({ ...form, maxTrials: 4 })).toBe(4)
    expect(trialCount({ ...form, strategy: 'random', maxTrials: 3 })).toBe(3)
    expect(trialCount({ ...form, rows: [row({ values: 'x' })] })).toBeNull()
  })

  it('builds the SweepCreate body around the job form as the trial template', () => {
    const job = {
      name: 'ignored',
      base_version_id: 'v1',
      dataset_version_ids: ['d1'],
      column_mapping: { text: 'text' },
    } as never
    const form = {
      ...blankSweep(),
      strategy: 'random' as const,
      maxTrials: 3,
      metric: ' loss ',
      mode: 'min' as const,
      seed: 7,
      rows: [
        row({ kind: 'range', min: 0.001, max: 0.1, log: true }),
        row({ setting: 'hyperparameters.lr_scheduler', values: 'cosine,linear' }),
      ],
    }
    expect(sweepBody(' lr search ', job, form)).toEqual({
      name: 'lr search',
      job: { name: null, base_version_id: 'v1', dataset_version_ids: ['d1'], column_mapping: { text: 'text' } },
      space: {
        'hyperparameters.learning_rate': { min: 0.001, max: 0.1, log: true, integer: false },
        'hyperparameters.lr_scheduler': { values: ['cosine', 'linear'], log: false, integer: false },
      },
      strategy: 'random',
      max_trials: 3,
      metric: 'loss',
      mode: 'min',
      seed: 7,
    })
    expect(failure(() => sweepBody(' ', job, form))).toBe('noName')
    expect(failure(() => sweepBody('s', job, { ...form, metric: '' }))).toBe('noMetric')
    expect(failure(() => sweepBody('s', job, { ...form, maxTrials: 0 }))).toBe('maxTrials')
    expect(failure(() => sweepBody('s', job, { ...form, maxTrials: 2.5 }))).toBe('maxTrials')
  })

  it('names every form mistake in both languages', () => {
    const keys = [
      'noName',
      'noMetric',
      'maxTrials',
      'noRows',
      'tooManySettings',
      'noSetting',
      'duplicate',
      'noValues',
      'notNumber',
      'notInteger',
      'notChoice',
      'tooManyValues',
      'rangeNotNumeric',
      'rangeNeedsRandom',
      'minAboveMax',
      'logNeedsPositive',
      'outOfRange',
      'outOfRangeAbove',
      'outOfRangeBelow',
    ]
    expect(Object.keys(en.sweeps.errors).sort()).toEqual([...keys].sort())
    expect(Object.keys(ko.sweeps.errors).sort()).toEqual([...keys].sort())
    setLocale('en')
    expect(i18n.global.t('sweeps.errors.notInteger', { setting: 'lora.r', value: '1.5' })).toBe(
      'lora.r takes whole numbers, not “1.5”.',
    )
  })
})

const trial = (n: number, value: number | null, over: Partial<Trial> = {}): Trial => ({
  job_id: `j${n}`,
  run_id: `r${n}`,
  status: value == null ? 'running' : 'succeeded',
  params: { 'hyperparameters.learning_rate': n / 100 },
  value,
  ...over,
})

describe('sweep page helpers', () => {
  it('compares the runs best first, capped at what the compare page takes', () => {
    const trials = [trial(1, 2.5), trial(2, null), trial(3, 1.5), trial(4, null, { run_id: null })]
    expect(compareRunIds(trials, 'min')).toEqual(['r3', 'r1', 'r2'])
    expect(compareRunIds(trials, 'max')).toEqual(['r1', 'r3', 'r2'])
    expect(
      compareRunIds(
        Array.from({ length: 30 }, (_, i) => trial(i, i)),
        'min',
      ),
    ).toHaveLength(20)
  })

  it('charts a point per scored trial, the best larger and in its own colour', () => {
    const option = valueChart([trial(1, 2.5), trial(2, null), trial(3, 1.5)], 'j3', 'loss', {
      point: 'blue',
      best: 'green',
    })
    expect(option.series[0]!.data).toEqual([
      { value: [1, 2.5], symbolSize: 10, itemStyle: { color: 'blue' } },
      { value: [3, 1.5], symbolSize: 16, itemStyle: { color: 'green' } },
    ])
    expect(option.xAxis.max).toBe(4)
    expect([0, 1, 3, 4].map(option.xAxis.axisLabel.formatter)).toEqual(['', '#1', '#3', ''])
    expect(option.tooltip.formatter({ data: { value: [3, 1.5] } })).toBe('#3: loss 1.5')
  })
})

const job = (over: object = {}) => ({
  id: 'j1',
  name: 'tiny lora',
  team_id: 't1',
  status: 'running',
  status_reason: null,
  failure_kind: null,
  priority: 0,
  base_version_id: 'b1',
  dataset_version_ids: [],
  column_mapping: {},
  method: 'lora',
  lora: {},
  hyperparameters: {},
  resources: { gpus: 0, nodes: 1 },
  distributed: 'none',
  executor: 'local',
  max_retries: 1,
  resume: true,
  attempts: 1,
  output_model_id: null,
  output_version_id: null,
  run_id: 'r1',
  sweep_id: null,
  trial_params: {},
  progress: { step: 5, max_steps: 20 },
  checkpoints: [],
  placement: { where: 'this machine (1 process, GPUs: none)', gpus: [], handle: '123' },
  queued_at: NOW,
  started_at: NOW,
  finished_at: null,
  created_at: NOW,
  ...over,
})

describe('queue helpers', () => {
  it('splits the queue into running and waiting jobs, numbering the waiting ones in start order', () => {
    const { running, waiting } = splitQueue([
      job(),
      job({ id: 'j2', status: 'queued' }),
      job({ id: 'j3', status: 'queued' }),
    ] as never)
    expect(running.map((j) => j.id)).toEqual(['j1'])
    expect(waiting.map((j) => [j.id, j.position])).toEqual([
      ['j2', 1],
      ['j3', 2],
    ])
  })

  it('shows the GPUs a job holds, or asks for on every node', () => {
    expect(jobGpus(job({ placement: { gpus: [0, 1] } }) as never)).toBe('0, 1')
    expect(jobGpus(job({ placement: {}, resources: { gpus: 2, nodes: 3 } }) as never)).toBe('6')
    expect(memoryPct({ index: 0, name: 'A100', memory_used_bytes: 20, memory_total_bytes: 80 })).toBe(25)
    expect(memoryPct({ index: 0, name: 'A100' })).toBe(0)
  })

  it('accepts a whole number of GPUs as a quota', () => {
    expect(parseQuota('4')).toBe(4)
    expect(parseQuota(' 0 ')).toBe(0)
    expect(parseQuota(3)).toBe(3)
    for (const bad of ['', '-1', '1.5', 'two', '100001', null]) expect(parseQuota(bad)).toBeNull()
  })
})

let wrapper: VueWrapper | null = null

const signIn = (permissions: string[]) => signInAs(permissions, { username: 'ops', role: 'operator', created_at: NOW })

async function mountAt(view: Component, pinia: Pinia, path = '/') {
  const stub = { template: '<div />' }
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [
      { path: '/training/jobs/:id', name: 'training-job', component: stub },
      { path: '/training/sweeps/:id', name: 'training-sweep', component: stub },
      { path: '/experiments/runs/:id', name: 'experiments-run', component: stub },
      { path: '/experiments/compare', name: 'experiments-compare', component: stub },
      { path: '/:p(.*)*', component: stub },
    ],
  })
  await router.push(path)
  await router.isReady()
  wrapper = mount(
    { template: '<v-app><v-main><View /></v-main></v-app>', components: { View: view } },
    { global: { plugins: [pinia, router, i18n, createVuetify({ components, directives })] }, attachTo: document.body },
  )
  await settle()
  return router
}

beforeEach(() => {
  vi.restoreAllMocks()
  setLocale('en')
})
afterEach(() => {
  wrapper?.unmount()
  wrapper = null
  document.body.innerHTML = ''
})

const QUOTA = { team_id: 't1', team_name: 'research', gpus: 2, gpus_in_use: 0, running: 1, queued: 1 }

function queueApi(quotas = [QUOTA]) {
  return mockApi({
    'GET /api/training/queue': () => [
      job(),
      job({
        id: 'j2',
        name: 'second',
        status: 'queued',
        started_at: null,
        placement: {},
        status_reason: 'waiting for a free training slot (1 of 1 in use)',
      }),
    ],
    'GET /api/metrics/gpu': () => ({ gpus: [], count: 0, message: 'No GPU on this machine: jobs run on the CPU.' }),
    'GET /api/training/quotas': () => quotas,
    'PUT /api/training/quotas/t1': () => json(null, 204),
    'DELETE /api/training/quotas/t1': () => json(null, 204),
  })
}

describe('GPU and queue page', () => {
  it('shows the empty GPU state, what runs where, what waits and why', async () => {
    queueApi()
    await mountAt(QueueView, signIn(['training:read', 'infra:read']))
    expect(byTestId('gpu-empty')!.textContent).toContain('No GPU on this machine')
    const running = byTestId('queue-running')!.textContent!
    expect(running).toContain('tiny lora')
    expect(running).toContain('research')
    expect(running).toContain('This server (processes: 1, GPUs: none)') // the server's placement, translated
    expect(running).toContain('5 / 20')
    const waiting = byTestId('queue-waiting')!.textContent!
    expect(waiting).toContain('second')
    expect(waiting).toContain('Waiting for a free training slot (1 of 1 in use).') // the server's sentence, translated
    expect(byTestId('quotas-table')!.textContent).toContain('research')
    expect(byTestId('quota-edit')).toBeNull() // no infra:admin: the quotas are read-only
    expect(byTestId('quota-add')).toBeNull()
  })

  it('lets an infra admin edit and clear a quota inline', async () => {
    const calls = queueApi()
    await mountAt(QueueView, signIn(['training:read', 'infra:read', 'infra:admin']))
    byTestId('quota-edit')!.click()
    await settle()
    const input = document.querySelector<HTMLInputElement>('[data-testid="quota-input"] input')!
    input.value = '6'
    input.dispatchEvent(new Event('input'))
    await settle()
    byTestId('quota-save')!.click()
    await settle()
    expect(calls.find((c) => c.method === 'PUT')).toMatchObject({ path: '/api/training/quotas/t1', body: { gpus: 6 } })

    byTestId('quota-clear')!.click()
    await settle()
    byTestId('confirm-ok')!.click()
    await settle()
    expect(calls.some((c) => c.method === 'DELETE' && c.path === '/api/training/quotas/t1')).toBe(true)
  })
})

describe('sweep page', () => {
  it('lists the trials with the best highlighted, links them, and compares their runs', async () => {
    mockApi({
      'GET /api/training/sweep/s1': () => ({
        id: 's1',
        name: 'lr search',
        strategy: 'grid',
        metric: 'loss',
        mode: 'min',
        status: 'succeeded',
        created_at: NOW,
        space: { 'hyperparameters.learning_rate': { values: [0.01, 0.02], log: false, integer: false } },
        trials: [
          trial(1, 2.5, { params: { 'hyperparameters.learning_rate': 0.01 } }),
          trial(2, 1.25, { params: { 'hyperparameters.learning_rate': 0.02 } }),
        ],
        best_job_id: 'j2',
        best_value: 1.25,
      }),
    })
    await mountAt(SweepDetailView, signIn(['training:read']), '/training/sweeps/s1')
    expect(byTestId('sweep-name')!.textContent).toBe('lr search')
    expect(byTestId('sweep-space')!.textContent).toContain('learning_rate: 0.01, 0.02')
    expect(byTestId('sweep-trial-1')!.classList.contains('best')).toBe(true)
    expect(byTestId('sweep-trial-0')!.classList.contains('best')).toBe(false)
    expect(byTestId('sweep-trial-1')!.textContent).toContain('1.25')
    expect(byTestId('sweep-trial-1')!.querySelector('a[href="/training/jobs/j2"]')).not.toBeNull()
    expect(byTestId('sweep-trial-1')!.querySelector('a[href="/experiments/runs/r2"]')).not.toBeNull()
    expect(byTestId('sweep-best')!.textContent).toContain('Best loss: 1.25 (trial #2)')
    expect(byTestId('sweep-compare')!.getAttribute('href')).toBe('/experiments/compare?runs=r2,r1')
  })
})

describe('new job form checks', () => {
  const t = (key: string, params?: Record<string, unknown>) => i18n.global.t(key, params ?? {})
  beforeEach(() => setLocale('ko'))
  afterEach(() => setLocale('en'))

  it('refuses the numbers the API refuses, saying the bounds in Korean', () => {
    expect(numberProblem(t, -5, BOUNDS.learningRate)).toBe('0보다 크고 1 이하여야 합니다.')
    expect(numberProblem(t, 0, BOUNDS.learningRate)).not.toBeNull()
    expect(numberProblem(t, 0.0002, BOUNDS.learningRate)).toBeNull()
    expect(numberProblem(t, 0, BOUNDS.maxSteps)).toBe('1에서 10,000,000 사이여야 합니다.')
    expect(numberProblem(t, 1.5, BOUNDS.maxSteps)).toBe('정수를 입력하세요.')
    expect(numberProblem(t, '', BOUNDS.batchSize)).toBe('필수 항목입니다.')
    expect(numberProblem(t, 1, BOUNDS.dropout)).not.toBeNull()
    expect(numberProblem(t, 0, BOUNDS.dropout)).toBeNull()
    expect(numberProblem(t, 4, BOUNDS.maxSeqLength)).not.toBeNull()
    expect(numberProblem(t, -101, BOUNDS.priority)).not.toBeNull()
  })

  it('checks names as the API does', () => {
    expect(nameProblem(t, '', false)).toBeNull()
    expect(nameProblem(t, '  ', true)).toBe('필수 항목입니다.')
    expect(nameProblem(t, 'a\nb', false)).not.toBeNull()
    expect(modelNameProblem(t, '')).toBeNull()
    expect(modelNameProblem(t, 'qwen-ft.v2')).toBeNull()
    expect(modelNameProblem(t, 'bad name with spaces!!')).not.toBeNull()
    expect(modelNameProblem(t, 'team/model')).not.toBeNull()
    expect(modelNameProblem(t, ' lead')).not.toBeNull()
  })

  it('says what keeps Start disabled', () => {
    const labels = Object.fromEntries(Object.keys(BOUNDS).map((k) => [k, k])) as Record<keyof typeof BOUNDS, string>
    const form = {
      versionId: null,
      datasetVersionId: 'd',
      mode: 'text' as const,
      text: null,
      prompt: null,
      messages: null,
      method: 'lora' as const,
      distributed: 'none' as const,
      executor: 'local',
      name: '',
      outputModel: '',
      r: 8,
      alpha: 16,
      dropout: 0.05,
      maxSteps: 0,
      learningRate: -5,
      batchSize: 8,
      maxSeqLength: 256,
      saveSteps: 20,
      gpus: 0,
      processes: 1,
      nodes: 1,
      priority: 0,
    }
    expect(missing(t, form, labels, false)).toEqual(['기반 모델 버전', '학습에 쓸 열', 'maxSteps', 'learningRate'])
    expect(
      missing(t, { ...form, versionId: 'v', text: 'body', maxSteps: 10, learningRate: 0.001 }, labels, false),
    ).toEqual([])
  })

  it('puts the server reasons into Korean, and failures by their kind', () => {
    expect(reasonText(t, 'waiting for 2 GPU(s): 1 free')).toBe('GPU 2개를 기다리는 중입니다 (남은 GPU 1개).')
    expect(reasonText(t, "waiting for the team's GPU quota: 2 of 2 in use, this job needs 1")).toContain('할당량')
    expect(reasonText(t, 'queued again (retried by alice), resuming from the latest checkpoint')).toContain('alice')
    expect(reasonText(t, 'Traceback: ValueError')).toBeNull()
    expect(failureText(t, 'oom')).toBe('메모리가 부족합니다.')
    expect(failureText(t, 'something-new')).toBe('작업이 실패했습니다.')
  })

  it('refuses swept values outside what a trial accepts', () => {
    expect(failure(() => parseValues('-5, 0.001', 'hyperparameters.learning_rate'))).toBe('outOfRangeAbove')
    expect(failure(() => parseValues('0, 10', 'hyperparameters.max_steps'))).toBe('outOfRange')
    expect(failure(() => parseValues('0.5, 1', 'lora.dropout'))).toBe('outOfRangeBelow')
    expect(failure(() => toRange(row({ kind: 'range', min: 0.5, max: 2 }), 'random'))).toBe('outOfRangeAbove')
  })
})
