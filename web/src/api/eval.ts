// Evaluation from the browser (/api/eval): evaluation sets (a dataset version + a column mapping), runs of one
// to four targets over a set's rows, the metric and rubric catalogue, the cost estimate, the per-row results,
// the comparison report and the run's live progress (server-sent events). Types from the API's
// evaluation/schemas.py; the JSON columns it sends as plain objects (targets, metrics, report) typed here.
import { apiError, type ApiError, type Problem, type Schemas } from './client'
import { call } from './http'
import { followEvents } from './gateway'

export const TOKENIZERS = ['auto', 'morpheme', 'word', 'character'] as const
export type Tokenizer = (typeof TOKENIZERS)[number]
export const TARGET_KINDS = ['route', 'deployment', 'prompt', 'column'] as const
export type TargetKind = (typeof TARGET_KINDS)[number]
export const TARGET_KEYS = ['A', 'B', 'C', 'D'] as const
export const RUN_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'stopped'] as const
export type RunStatus = (typeof RUN_STATUSES)[number]
export const FINISHED: readonly string[] = ['succeeded', 'failed', 'cancelled', 'stopped']
export const INPUT_FORMATS = ['text', 'messages'] as const
export type InputFormat = (typeof INPUT_FORMATS)[number]
export const JUDGE_MODES = ['single', 'pairwise'] as const
export type JudgeMode = (typeof JUDGE_MODES)[number]

export type EvalMapping = Schemas['EvalMapping']
export type EvalSet = Schemas['EvalSetOut']
export type EvalSetCreate = Schemas['EvalSetCreate']
export type Estimate = Schemas['EvalEstimate']
export type TargetEstimate = Schemas['TargetEstimate']
export type RunProgress = Schemas['EvalProgress']

export interface TargetParams {
  temperature?: number | null
  max_tokens?: number | null
}

/** What a run evaluates: a gateway route, a deployment, a prompt version on a route, or a column of outputs. */
export interface EvalTarget {
  key: string
  kind: TargetKind
  route?: string | null
  deployment_id?: string | null
  prompt?: string | null
  column?: string | null
  params?: TargetParams
  label?: string | null
}

export interface MetricChoice {
  name: string
  params?: Record<string, unknown>
}

export interface JudgeChoice {
  name: string
  route: string
  mode?: JudgeMode
  scale?: number
  criteria?: string
  prompt?: string
}

/** The body of a run (and of its estimate), as evaluation/schemas.py EvalRunCreate. */
export interface EvalRunCreate {
  name?: string
  eval_set_id: string
  targets: EvalTarget[]
  metrics: MetricChoice[]
  judges: JudgeChoice[]
  tokenizer: Tokenizer
  sample_size?: number | null
  seed?: number
  concurrency?: number
  max_cost?: number | null
  model_version_id?: string | null
}

/** A run as the API sends it, with its JSON columns (targets, metrics, judges, summary) typed. */
export type EvalRun = Omit<Schemas['EvalRunOut'], 'targets' | 'metrics' | 'judges' | 'summary' | 'tokenizer'> & {
  targets: EvalTarget[]
  metrics: MetricChoice[]
  judges: JudgeChoice[]
  tokenizer: Tokenizer
  /** The report's metric means: metric → target key → mean (judges as `judge:<name>`). */
  summary?: Record<string, Record<string, number | null>> | null
}

/** A metric of the catalogue: `params` is the JSON schema of its parameters. */
export interface MetricSpec {
  name: string
  kind: 'lexical' | 'check' | 'embedding'
  higher_is_better: boolean
  params: {
    properties?: Record<string, { type?: string | string[]; enum?: unknown[] } & Record<string, unknown>>
  } & Record<string, unknown>
  summary_en: string
  summary_ko: string
}

export interface RubricSpec {
  name: string
  title_en?: string
  title_ko?: string
  language?: string
  needs_reference?: boolean
  criteria?: string
}

export interface Catalogue {
  metrics: MetricSpec[]
  rubrics: RubricSpec[]
  tokenizers: string[]
}

export interface JudgeResult {
  score: number | null
  raw?: number | null
  reasoning?: string
  error?: string | null
}

export type TargetResult = Omit<Schemas['EvalResultOut'], 'judges'> & { judges: Record<string, JudgeResult> }

export interface PairwiseResult {
  winner: 'A' | 'B' | 'tie' | null
  consistent: boolean
  reasoning: string[]
  error?: string | null
}

/** One row of a run: the input, references, each target's result and the pairwise verdicts per pair `A|B`. */
export type EvalRow = Omit<Schemas['EvalRowOut'], 'results' | 'pairwise'> & {
  results: Record<string, TargetResult>
  pairwise: Record<string, Record<string, PairwiseResult>>
}

export interface Interval {
  mean: number | null
  lo: number | null
  hi: number | null
  n?: number
}

export interface ReportMetric {
  higher_is_better: boolean
  by_target: Record<string, Interval>
}

export interface MetricComparison {
  wins: number
  losses: number
  ties: number
  n: number
  diff?: Interval | null
}

export interface PairwiseSummary {
  a_wins: number
  b_wins: number
  ties: number
  inconsistent: number
  n: number
}

export interface Comparison {
  a: string
  b: string
  metrics: Record<string, MetricComparison>
  pairwise?: Record<string, PairwiseSummary>
}

export interface TargetUsage {
  rows: number
  errors: number
  latency_p50_ms: number | null
  latency_p95_ms: number | null
  prompt_tokens: number
  completion_tokens: number
  cost: number | null
  judge_errors?: Record<string, number>
}

export interface Report {
  /** How many rows it covers (the rows done so far while the run is still going). */
  rows?: number
  targets: EvalTarget[]
  baseline?: string | null
  metrics: Record<string, ReportMetric>
  comparisons: Comparison[]
  usage: Record<string, TargetUsage>
  currency: string
}

export interface Page<T> {
  items: T[]
  next_cursor?: string | null
  total?: number | null
}

export interface RunQuery {
  set_id?: string
  suite_id?: string
  model_id?: string
  model_version_id?: string
  status?: string
  /** part of the run's name, its set's name or a target (route, prompt, column, label) */
  q?: string
}

export interface RowQuery {
  /** Only this target's results. */
  target?: string
  /** Rows where this target beats `against` (default: the first other target) on `metric`. */
  better?: string
  /** Rows where this target loses to `against` on `metric`. */
  worse?: string
  against?: string
  metric?: string
  /** Only rows where a target failed. */
  errors?: boolean
}

/** A progress event of a run's event stream (`progress` until the last, `end`). */
export interface ProgressEvent extends Partial<RunProgress> {
  status?: RunStatus
  cost?: number
}

/** A failed call: the translated message, plus the problem body (its extensions: column, route…). */
export type EvalError = ApiError & { problem: Problem | null }

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await call(method, path, body === undefined ? undefined : JSON.stringify(body), body !== undefined)
  if (!response.ok) {
    const problem = (await response.json().catch(() => null)) as Problem | null
    const error = apiError(problem, response.status) as EvalError
    error.problem = problem
    throw error
  }
  return (response.status === 204 ? undefined : await response.json()) as T
}

function query(params: object, cursor?: string | null, limit?: number): string {
  const search = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') search.set(k, String(v))
  if (cursor) search.set('cursor', cursor)
  if (limit) search.set('limit', String(limit))
  const text = search.toString()
  return text ? `?${text}` : ''
}

const runPath = (id: string) => `/api/eval/runs/${encodeURIComponent(id)}`

export const getCatalogue = () => request<Catalogue>('GET', '/api/eval/metrics')

export const listSets = (params: { q?: string } = {}, cursor?: string | null, limit = 50) =>
  request<Page<EvalSet>>('GET', `/api/eval/sets${query(params, cursor, limit)}`)
export const getSet = (id: string) => request<EvalSet>('GET', `/api/eval/sets/${encodeURIComponent(id)}`)
export const createSet = (body: EvalSetCreate) => request<EvalSet>('POST', '/api/eval/sets', body)
export const deleteSet = (id: string) => request<void>('DELETE', `/api/eval/sets/${encodeURIComponent(id)}`)

export const listRuns = (params: RunQuery = {}, cursor?: string | null, limit = 50) =>
  request<Page<EvalRun>>('GET', `/api/eval/runs${query(params, cursor, limit)}`)
export const getRun = (id: string) => request<EvalRun>('GET', runPath(id))
export const createRun = (body: EvalRunCreate) => request<EvalRun>('POST', '/api/eval/runs', body)
export const estimateRun = (body: EvalRunCreate) => request<Estimate>('POST', '/api/eval/runs/estimate', body)
export const cancelRun = (id: string) => request<EvalRun>('POST', `${runPath(id)}/cancel`)
export const listRows = (id: string, params: RowQuery = {}, cursor?: string | null, limit = 50) =>
  request<Page<EvalRow>>('GET', `${runPath(id)}/rows${query(params, cursor, limit)}`)
export const getReport = (id: string, baseline?: string | null) =>
  request<Report>('GET', `${runPath(id)}/report${query({ baseline })}`)

/** A report file (CSV, or self-contained HTML in the reader's language), fetched with the session's token. */
export async function downloadReport(id: string, kind: 'csv' | 'html', lang: string): Promise<Blob> {
  const response = await call('GET', `${runPath(id)}/report.${kind}${kind === 'html' ? query({ lang }) : ''}`)
  if (!response.ok) {
    const problem = (await response.json().catch(() => null)) as Problem | null
    throw apiError(problem, response.status)
  }
  return response.blob()
}

/** Follow a run's progress (SSE) until its `end` event, the stream closing, or `signal` aborting. */
export function followRun(id: string, onProgress: (event: ProgressEvent) => void, signal: AbortSignal): Promise<void> {
  return followEvents(
    `${runPath(id)}/events`,
    (data) => {
      let event: unknown
      try {
        event = JSON.parse(data)
      } catch {
        return // a keep-alive or something not ours
      }
      if (event && typeof event === 'object') onProgress(event as ProgressEvent)
    },
    signal,
  )
}

// ---------------------------------------------------------------------------------------------
// Reading runs

/** The fraction of a run done (0..1), or null while its size is unknown. */
export function progressFraction(p: Partial<RunProgress> | null | undefined): number | null {
  if (!p || !p.total) return null
  return Math.min(1, Math.max(0, (p.done ?? 0) / p.total))
}

/** A target's name for people: its label, else what it points at. */
export function targetName(target: EvalTarget): string {
  if (target.label) return target.label
  switch (target.kind) {
    case 'route':
      return target.route ?? target.key
    case 'prompt':
      return [target.prompt, target.route].filter(Boolean).join(' → ') || target.key
    case 'column':
      return target.column ?? target.key
    case 'deployment':
      return target.deployment_id ? target.deployment_id.slice(0, 8) : target.key
  }
  return target.key
}

/**
 * The summary's mean of `metric` for target `key`. The summary may be metric → target → mean, or
 * metric → target → {mean, lo, hi}, or the report's `{metrics: {m: {by_target: …}}}`.
 */
export function summaryMean(summary: Record<string, unknown> | null | undefined, metric: string, key: string) {
  if (!summary) return null
  const metrics = (summary.metrics as Record<string, unknown> | undefined) ?? summary
  const entry = metrics[metric] as Record<string, unknown> | undefined
  if (!entry || typeof entry !== 'object') return null
  const byTarget = (entry.by_target as Record<string, unknown> | undefined) ?? entry
  const value = byTarget[key]
  if (typeof value === 'number') return value
  if (value && typeof value === 'object' && typeof (value as Interval).mean === 'number')
    return (value as Interval).mean
  return null
}

/** The metric a run is summarised by in lists: its first metric, else its first judge. */
export function mainMetric(run: Pick<EvalRun, 'metrics' | 'judges'>): string | null {
  if (run.metrics.length) return run.metrics[0]!.name
  if (run.judges.length) return `judge:${run.judges[0]!.name}`
  return null
}

/** A score in [0, 1] as people read it: "0.412". */
export function formatScore(value: number | null | undefined, digits = 3): string {
  return value === null || value === undefined || Number.isNaN(value) ? '—' : value.toFixed(digits)
}

/** A cost with its currency: "0.0123 USD". */
export function formatMoney(value: number | null | undefined, currency: string): string {
  if (value === null || value === undefined) return '—'
  const digits = value === 0 ? 2 : Math.abs(value) < 0.01 ? 5 : Math.abs(value) < 1 ? 4 : 2
  return `${value.toFixed(digits)} ${currency}`.trim()
}
