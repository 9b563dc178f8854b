// The Cost page's API (/api/cost) and the pure logic its tabs share: money formatting, the daily stack, month
// choices, the simulator's form → request, and the savings' order.
import { query, requestJson } from '@/api/http'

export const COST_GROUPS = ['model', 'team', 'user', 'upstream', 'api_key'] as const
export type CostGroup = (typeof COST_GROUPS)[number]

export interface DailySpend {
  day: string
  group: string
  cost: number
  requests: number
}
export interface GroupSpend {
  group: string
  cost: number
  requests: number
  prompt_tokens: number
  completion_tokens: number
}
export interface GpuItem {
  kind: 'deployment' | 'training'
  id: string
  name: string
  team: string
  status: string
  gpu_type: string | null
  gpus: number
  hours: number
  gpu_hours: number
  rate: number
  cost: number
}
export interface Spend {
  since: string
  until: string
  group_by: CostGroup
  scope: 'all' | 'teams'
  currency: string
  total: number
  daily: DailySpend[]
  monthly: { month: string; cost: number }[]
  totals: GroupSpend[]
  gpu: { currency: string; default_rate: number; total: number; gpu_hours: number; items: GpuItem[] }
}
export interface GpuRate {
  gpu_type: string
  hourly_rate: number
  currency: string
  updated_at?: string
}
export interface Projection {
  spent: number
  rate_per_day: number
  rate_stdev: number
  remaining_days: number
  projected: number
  projected_low: number
  projected_high: number
}
export type BudgetStatus = 'on_track' | 'at_risk' | 'over'
export interface BudgetBurn extends Projection {
  id: string
  scope: 'key' | 'user' | 'team'
  subject_id: string
  subject: string
  budget: number
  status: BudgetStatus
  runs_out_on: string | null
}
export interface ForecastDay {
  day: string
  actual: number | null
  projected: number | null
  low: number | null
  high: number | null
}
export interface Forecast extends Projection {
  as_of: string
  month: string
  method: string
  currency: string
  days: ForecastDay[]
  budgets: BudgetBurn[]
}
export type Scenario =
  | { kind: 'shift'; route: string; percent: number; to_route: string; to_upstream?: string | null }
  | { kind: 'cache'; route: string; hit_rate: number }
  | { kind: 'price'; upstream: string; input_price: number; output_price: number }
export interface SimRoute {
  route: string
  targets: { upstream: string; input_price: number; output_price: number }[]
}
export interface SimulatedRoute {
  route: string
  requests: number
  prompt_tokens: number
  completion_tokens: number
  hit_rate: number
  baseline: number
  projected: number
  delta: number
}
export interface Simulation {
  days: number
  currency: string
  baseline_monthly: number
  projected_monthly: number
  delta: number
  delta_percent: number | null
  routes: SimulatedRoute[]
}
export type SavingKind = 'cache' | 'idle_deployment' | 'overprovisioned' | 'cheaper_route'
export interface SavingItem {
  kind: SavingKind
  subject: string
  monthly_saving: number
  evidence: Record<string, unknown>
  link: string
}
export interface Savings {
  currency: string
  total: number
  items: SavingItem[]
  notes: string[]
}

export const fetchSpend = (params: { since?: string; until?: string; month?: string; group_by: CostGroup }) =>
  requestJson<Spend>('GET', `/api/cost/spend${query(params)}`)
export const fetchForecast = (asOf?: string) =>
  requestJson<Forecast>('GET', `/api/cost/forecast${query({ as_of: asOf })}`)
export const fetchRates = () => requestJson<GpuRate[]>('GET', '/api/cost/gpu-rates')
export const saveRates = (rates: GpuRate[]) =>
  requestJson<GpuRate[]>('PUT', '/api/cost/gpu-rates', {
    rates: rates.map((r) => ({
      gpu_type: r.gpu_type.trim(),
      hourly_rate: Number(r.hourly_rate),
      currency: r.currency,
    })),
  })
export const fetchSimRoutes = () => requestJson<SimRoute[]>('GET', '/api/cost/simulate/routes')
export const simulate = (days: number, scenarios: Scenario[]) =>
  requestJson<Simulation>('POST', '/api/cost/simulate', { days, scenarios })
export const fetchSavings = () => requestJson<Savings>('GET', '/api/cost/savings')

/** An amount in the gateway's currency, in the reader's locale (small amounts keep 4 decimals). */
export function money(value: number | null | undefined, currency: string, locale: string): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—'
  const lang = locale === 'ko' ? 'ko-KR' : 'en-US'
  const digits = Math.abs(value) > 0 && Math.abs(value) < 1 ? 4 : 2
  try {
    return new Intl.NumberFormat(lang, {
      style: 'currency',
      currency,
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    }).format(value)
  } catch {
    return `${value.toFixed(digits)} ${currency}`
  }
}

/** The last `n` months as YYYY-MM, newest first (the month picker). */
export function recentMonths(now: Date, n = 12): string[] {
  const out: string[] = []
  for (let i = 0; i < n; i++) {
    const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - i, 1))
    out.push(`${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`)
  }
  return out
}

export const OTHER_GROUP = '\u0000other'

/** Every UTC day from `since` to `until` (exclusive) as YYYY-MM-DD. */
export function daysBetween(since: string, until: string): string[] {
  const out: string[] = []
  const end = new Date(until).getTime()
  for (
    let d = new Date(new Date(since).toISOString().slice(0, 10) + 'T00:00:00Z');
    d.getTime() < end;
    d = new Date(d.getTime() + 86400_000)
  )
    out.push(d.toISOString().slice(0, 10))
  return out
}

/** Cost per day for the `top` costliest groups and the rest summed as OTHER_GROUP (a stacked bar per day). */
export function stackByDay(spend: Pick<Spend, 'daily' | 'totals'>, days: string[], top = 8): Map<string, number[]> {
  const ranked = [...spend.totals].sort((a, b) => b.cost - a.cost).map((t) => t.group)
  const kept = ranked.slice(0, top)
  const out = new Map<string, number[]>(kept.map((g) => [g, days.map(() => 0)]))
  if (ranked.length > top)
    out.set(
      OTHER_GROUP,
      days.map(() => 0),
    )
  const index = new Map(days.map((d, i) => [d, i]))
  for (const row of spend.daily) {
    const i = index.get(row.day)
    if (i === undefined) continue
    const series = out.get(row.group) ?? out.get(OTHER_GROUP)
    if (series) series[i] += row.cost
  }
  return out
}

/** Savings with the largest first; equal savings by kind, then subject (a stable order). */
export function sortSavings(items: SavingItem[]): SavingItem[] {
  return [...items].sort(
    (a, b) => b.monthly_saving - a.monthly_saving || a.kind.localeCompare(b.kind) || a.subject.localeCompare(b.subject),
  )
}

/** The simulator form's row: what the reader typed (strings from number fields included). */
export interface ScenarioDraft {
  kind: Scenario['kind']
  route: string
  percent: number | string
  to_route: string
  to_upstream: string | null
  hit_rate: number | string
  upstream: string
  input_price: number | string
  output_price: number | string
}

export const emptyDraft = (kind: Scenario['kind'] = 'shift'): ScenarioDraft => ({
  kind,
  route: '',
  percent: 50,
  to_route: '',
  to_upstream: null,
  hit_rate: 30,
  upstream: '',
  input_price: 0,
  output_price: 0,
})

const num = (v: number | string) => (typeof v === 'number' ? v : v.trim() === '' ? NaN : Number(v))
const pct = (v: number) => Number.isFinite(v) && v >= 0 && v <= 100
const price = (v: number) => Number.isFinite(v) && v >= 0

/** What a draft still needs (field keys), before it is sent. */
export function draftProblems(d: ScenarioDraft): string[] {
  const out: string[] = []
  if (d.kind === 'price') {
    if (!d.upstream) out.push('upstream')
    if (!price(num(d.input_price))) out.push('input_price')
    if (!price(num(d.output_price))) out.push('output_price')
    return out
  }
  if (!d.route) out.push('route')
  if (d.kind === 'shift') {
    if (!pct(num(d.percent))) out.push('percent')
    if (!d.to_route) out.push('to_route')
    else if (d.to_route === d.route && !d.to_upstream) out.push('to_route')
  } else if (!pct(num(d.hit_rate))) out.push('hit_rate')
  return out
}

/** The request body of a valid draft. */
export function scenarioOf(d: ScenarioDraft): Scenario {
  if (d.kind === 'price')
    return { kind: 'price', upstream: d.upstream, input_price: num(d.input_price), output_price: num(d.output_price) }
  if (d.kind === 'cache') return { kind: 'cache', route: d.route, hit_rate: num(d.hit_rate) }
  return {
    kind: 'shift',
    route: d.route,
    percent: num(d.percent),
    to_route: d.to_route,
    ...(d.to_upstream ? { to_upstream: d.to_upstream } : {}),
  }
}

/** The colour of a budget's status chip. */
export const BUDGET_COLORS: Record<BudgetStatus, string> = { on_track: 'success', at_risk: 'warning', over: 'error' }
export const budgetColor = (status: string) => BUDGET_COLORS[status as BudgetStatus] ?? 'default'
