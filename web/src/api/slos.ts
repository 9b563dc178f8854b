// SLOs, the monthly SLA report and the model dashboards from the browser (/api/monitoring/slos, /sla-report,
// /models). Hand-typed after monitoring/slo_schemas.py until the client is regenerated.
import type { SeriesData } from './monitoring'
import { call, failure, query, requestJson } from './http'

export type SloKind = 'availability' | 'success'
export type SloWindow = 'rolling_30d' | 'calendar_month'
export const SLO_DEFAULT_TARGET: Record<SloKind, number> = { availability: 99.5, success: 99 }

export interface SloStatus {
  /** 0..1 over the window so far; null without traffic (a success SLO). */
  attainment: number | null
  met: boolean
  /** 1 - bad / allowed bad; below 0 when overspent. */
  budget_remaining: number
  bad: number
  allowed_bad: number
  requests: number
  errors_5xx: number
  errors_4xx: number
  downtime_minutes: number
  minutes: number
  burn_rate_1h: number
  burn_rate_6h: number
  window_start: string
  window_end: string
}

export interface Slo {
  id: string
  team_id: string
  team_name: string | null
  name: string
  description: string
  route: string
  deployment_id: string | null
  kind: SloKind
  target: number
  window: SloWindow
  created_at: string
  updated_at: string
  status: SloStatus
}

export interface SloIn {
  name: string
  description?: string
  route?: string | null
  deployment_id?: string | null
  kind: SloKind
  target?: number | null
  window: SloWindow
  team_id?: string | null
}

export interface SloChip {
  id: string
  name: string
  kind: SloKind
  target: number
  attainment: number | null
  met: boolean
  budget_remaining: number
  burn_rate_1h: number
}

export interface ModelRow {
  route: string
  team_id: string | null
  visibility: string
  enabled: boolean
  deployment: boolean
  requests: number
  error_rate: number | null
  p95_ms: number | null
  cost: number
  slos: SloChip[]
}

export interface Figures {
  requests: number
  error_rate: number | null
  p50_ms: number | null
  p95_ms: number | null
  p99_ms: number | null
  prompt_tokens: number
  completion_tokens: number
  cost: number
  cache_hits: number
}

export interface StepFigures extends Figures {
  t: number
  qps: number
  client_error_rate: number | null
}

export interface VersionFigures extends Figures {
  upstream: string
}

export interface ModelDashboard {
  route: string
  start: string
  end: string
  step: number
  latency_source: 'usage_records' | 'metric_history'
  steps: StepFigures[]
  totals: VersionFigures
  versions: VersionFigures[]
  slos: Slo[]
}

export const listSlos = (route?: string) => requestJson<Slo[]>('GET', `/api/monitoring/slos${query({ route })}`)
export const createSlo = (body: SloIn) => requestJson<Slo>('POST', '/api/monitoring/slos', body)
export const deleteSlo = (id: string) => requestJson<void>('DELETE', `/api/monitoring/slos/${encodeURIComponent(id)}`)
export const listModels = () => requestJson<ModelRow[]>('GET', '/api/monitoring/models')

/** A route's dashboard from `from` to `to` (unix seconds). */
export function fetchModelDashboard(route: string, from: number, to: number): Promise<ModelDashboard> {
  const params = { from: new Date(from * 1000).toISOString(), to: new Date(to * 1000).toISOString() }
  return requestJson<ModelDashboard>('GET', `/api/monitoring/models/${encodeURIComponent(route)}${query(params)}`)
}

/** The SLA report's address for a month (YYYY-MM) as HTML (to open) or CSV (to download). */
export function reportUrl(month: string, format: 'html' | 'csv', lang: string): string {
  return `/api/monitoring/sla-report${query({ month, format, lang: lang === 'en' ? 'en' : 'ko' })}`
}

/** The last `count` months (YYYY-MM, UTC), newest first: the report picker's choices. */
export function recentMonths(now: Date, count = 12): string[] {
  const out: string[] = []
  for (let i = 0; i < count; i++) {
    const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - i, 1))
    out.push(`${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`)
  }
  return out
}

/** A fraction as a percentage with `digits` decimals; a dash for null. */
export function percent(v: number | null | undefined, digits = 2): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—'
  return `${(v * 100).toFixed(digits)}%`
}

/** The colour of a budget left: red when spent, orange under a quarter, else green. */
export function budgetColor(remaining: number): 'error' | 'warning' | 'success' {
  if (remaining <= 0) return 'error'
  return remaining < 0.25 ? 'warning' : 'success'
}

/** The colour of a burn rate: above 1 the budget runs out before the window ends. */
export function burnColor(rate: number): 'error' | 'warning' | undefined {
  if (rate >= 10) return 'error'
  return rate > 1 ? 'warning' : undefined
}

/** One figure of the dashboard's steps as a chart series (steps without a value are left out). */
export function stepSeries(
  steps: StepFigures[],
  pick: (s: StepFigures) => number | null,
  labels: Record<string, string>,
): SeriesData {
  const points: [number, number][] = []
  for (const s of steps) {
    const v = pick(s)
    if (v !== null && Number.isFinite(v)) points.push([s.t, v])
  }
  return { labels, points }
}

/** The report for a month as a file (HTML or CSV); a refused request throws with the translated message. */
export async function downloadReport(month: string, format: 'html' | 'csv', lang: string): Promise<Blob> {
  const response = await call('GET', reportUrl(month, format, lang))
  if (!response.ok) throw new Error(await failure(response))
  return response.blob()
}
