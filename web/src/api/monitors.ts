// Quality monitors from the browser (/api/eval/monitors): an LLM judge grading a sampled share of a gateway route's
// production requests (PII-masked text of keys that log content), the scores as a series per hour or day, and the
// judged samples with the judge's reasoning. Types generated from evaluation/monitoring_schemas.py.
import { apiError, type ApiError, type Problem, type Schemas } from './client'
import { call } from './http'

/** The built-in rubrics a monitor can use: production traffic has no reference answer, so not `correctness`. */
export const MONITOR_RUBRICS = ['helpfulness', 'harmlessness', 'korean_fluency'] as const
export const STEPS = ['hour', 'day'] as const
export type Step = (typeof STEPS)[number]

export type Monitor = Schemas['MonitorOut']
export type MonitorIn = Schemas['MonitorCreate']
export type MonitorPatch = Schemas['MonitorUpdate']
/** One bucket of the series: the mean score (0..1), how many were judged, the 10th percentile, failed grades. */
export type SeriesPoint = Schemas['QualitySeriesPoint']
export type Series = Schemas['MonitorSeries']
/** One judged request: its score 0..1 (null when grading failed: `error`), the judge's raw grade and reasoning. */
export type Score = Schemas['ScoreOut']

export interface Page<T> {
  items: T[]
  next_cursor?: string | null
  total?: number | null
}

export type MonitorError = ApiError & { problem: Problem | null }

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await call(method, path, body === undefined ? undefined : JSON.stringify(body), body !== undefined)
  if (!response.ok) {
    const problem = (await response.json().catch(() => null)) as Problem | null
    const error = apiError(problem, response.status) as MonitorError
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

export const listMonitors = (params: { route?: string; cursor?: string | null; limit?: number } = {}) =>
  request<Page<Monitor>>('GET', `/api/eval/monitors${query({ limit: 100, ...params })}`)
export const getMonitor = (id: string) => request<Monitor>('GET', `/api/eval/monitors/${enc(id)}`)
export const createMonitor = (body: MonitorIn) => request<Monitor>('POST', '/api/eval/monitors', body)
export const updateMonitor = (id: string, body: MonitorPatch) =>
  request<Monitor>('PATCH', `/api/eval/monitors/${enc(id)}`, body)
export const deleteMonitor = (id: string) => request<void>('DELETE', `/api/eval/monitors/${enc(id)}`)
export const monitorSeries = (id: string, params: { from?: string; to?: string; step?: Step } = {}) =>
  request<Series>('GET', `/api/eval/monitors/${enc(id)}/series${query(params)}`)
export const monitorScores = (id: string, params: { cursor?: string | null; limit?: number } = {}) =>
  request<Page<Score>>('GET', `/api/eval/monitors/${enc(id)}/scores${query({ limit: 50, ...params })}`)

/** A share as people read it: 0.05 → "5%", 0.005 → "0.5%". */
export function formatRate(rate: number): string {
  const pct = rate * 100
  return `${pct >= 1 ? Math.round(pct * 10) / 10 : Math.round(pct * 100) / 100}%`
}
