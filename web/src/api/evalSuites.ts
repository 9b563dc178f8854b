// Evaluation suites from the browser (/api/eval/suites): a set + metrics/judges + thresholds, attached to a model,
// run on request, on a schedule or on a new version; their results over time; and the promotion gate of a model
// version (/api/eval/model-versions/{id}/gate). Hand-written to match evaluation/suite_schemas.py until the generated
// types carry them.
import { apiError, type ApiError, type Problem } from './client'
import { call } from './http'
import { formatScore, type EvalTarget, type JudgeChoice, type MetricChoice, type Page, type Tokenizer } from './eval'

export const OPS = ['>=', '<='] as const
export type Op = (typeof OPS)[number]

/** One bar a suite sets: `metric` is a metric name (`bleu`) or a single-answer judge's (`judge:correctness`). */
export interface Threshold {
  metric: string
  op: Op
  value: number
}

/** What a suite evaluates when it runs by itself: a target as in runs (its key is given by the server). */
export type Target = Omit<EvalTarget, 'key'> & { key?: string }

export interface SuiteRunBrief {
  id: string
  status: string
  passed: boolean | null
  model_version_id: string | null
  created_at: string
  finished_at: string | null
}

export interface Suite {
  id: string
  team_id: string
  team_name?: string | null
  name: string
  description: string
  eval_set_id: string
  eval_set_name?: string | null
  metrics: MetricChoice[]
  judges: JudgeChoice[]
  tokenizer: Tokenizer
  sample_size: number | null
  thresholds: Threshold[]
  model_id: string | null
  model_name?: string | null
  target: Target | null
  run_on_new_version: boolean
  interval_hours: number | null
  last_scheduled_at: string | null
  created_by_name?: string | null
  created_at: string
  updated_at: string
  /** The suite's newest run. */
  last_run?: SuiteRunBrief | null
}

export interface SuiteIn {
  name: string
  description?: string
  eval_set_id: string
  metrics: MetricChoice[]
  judges: JudgeChoice[]
  tokenizer: Tokenizer
  sample_size?: number | null
  thresholds: Threshold[]
  model_id?: string | null
  target?: Target | null
  run_on_new_version?: boolean
  interval_hours?: number | null
  team_id?: string | null
}

/** One threshold against a run's mean: the mean it reached and whether it cleared the bar. */
export interface VerdictItem extends Threshold {
  actual: number | null
  passed: boolean
}

/** One run of a suite: what it evaluated, its metric means and the threshold verdict. */
export interface SuiteResult {
  run_id: string
  suite_id: string
  status: string
  progress: Partial<{ done: number; total: number; errors: number }>
  error: string | null
  target: Target | null
  model_version_id: string | null
  model_version: number | null
  /** The run's mean per metric (the suite's target). */
  scores: Record<string, number | null>
  verdict: VerdictItem[] | null
  /** Every threshold held (null: not finished, or cancelled). */
  passed: boolean | null
  cost: number
  created_at: string
  finished_at: string | null
}

/** One suite of a version's gate: passed, failed (with the bars it missed) or missing (no finished run). */
export interface GateSuite {
  suite_id: string
  suite_name: string
  status: 'passed' | 'failed' | 'missing'
  run_id: string | null
  finished_at: string | null
  failed: VerdictItem[]
  verdict: VerdictItem[] | null
  /** A run of the suite for this version is queued or running. */
  running: boolean
}

/** The gate of one version: every suite attached to its model, on this version. */
export interface Gate {
  model_id: string
  version_id: string
  version: number
  stage: string
  /** Every suite passed on this version (true when the model has none). */
  passed: boolean
  suites: GateSuite[]
}

/** A failed call: the translated message, plus the problem body (its extensions). */
export type SuiteError = ApiError & { problem: Problem | null }

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await call(method, path, body === undefined ? undefined : JSON.stringify(body), body !== undefined)
  if (!response.ok) {
    const problem = (await response.json().catch(() => null)) as Problem | null
    const error = apiError(problem, response.status) as SuiteError
    error.problem = problem
    throw error
  }
  return (response.status === 204 ? undefined : await response.json()) as T
}

const enc = encodeURIComponent
const query = (params: Record<string, string | number | null | undefined>) => {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v))
  const s = q.toString()
  return s ? `?${s}` : ''
}

export const listSuites = (params: { model_id?: string; q?: string; cursor?: string | null; limit?: number } = {}) =>
  request<Page<Suite>>('GET', `/api/eval/suites${query({ limit: 100, ...params })}`)
export const getSuite = (id: string) => request<Suite>('GET', `/api/eval/suites/${enc(id)}`)
export const createSuite = (body: SuiteIn) => request<Suite>('POST', '/api/eval/suites', body)
export const updateSuite = (id: string, body: Partial<SuiteIn>) =>
  request<Suite>('PATCH', `/api/eval/suites/${enc(id)}`, body)
export const deleteSuite = (id: string) => request<void>('DELETE', `/api/eval/suites/${enc(id)}`)
/** Queues a run of the suite (its own target unless `target` overrides it); answers the run. */
export const runSuite = (id: string, body: { target?: Target; model_version_id?: string } = {}) =>
  request<{ id: string; status: string }>('POST', `/api/eval/suites/${enc(id)}/run`, body)

/** The suite's runs, newest first, each with its metric means and threshold verdicts. */
export const suiteResults = (id: string, params: { model_version_id?: string; cursor?: string | null } = {}) =>
  request<Page<SuiteResult>>('GET', `/api/eval/suites/${enc(id)}/results${query({ limit: 100, ...params })}`)

export const versionGate = (versionId: string) =>
  request<Gate>('GET', `/api/eval/model-versions/${enc(versionId)}/gate`)

/** The codes of a refused move to production: the evaluation is missing, or it did not pass. */
export const GATE_CODES = ['evaluation_missing', 'evaluation_gate_failed'] as const

/** A threshold as people read it: "bleu ≥ 0.300". */
export function thresholdText(t: Threshold): string {
  return `${t.metric} ${t.op === '>=' ? '≥' : '≤'} ${formatScore(t.value)}`
}

/** Whether a mean clears a bar. */
export const clears = (t: Threshold, actual: number | null | undefined) =>
  actual !== null && actual !== undefined && (t.op === '>=' ? actual >= t.value : actual <= t.value)

/**
 * Move a model version to a stage; `force` asks the evaluation gate to let a refused move to production pass (needs
 * eval:gate_override; audited). A refusal throws a SuiteError whose `code` is one of GATE_CODES.
 */
export const setStage = (versionId: string, stage: string, force = false) =>
  request<{ id: string; stage: string }>('POST', `/api/model/version/${enc(versionId)}/stage`, {
    stage,
    ...(force ? { force: true } : {}),
  })
