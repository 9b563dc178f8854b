import { query, requestJson } from '@/api/http'

/** Alert rules, alerts, silences and notifications (`/api/alerts`); hand-typed until the client is regenerated. */

export type Severity = 'critical' | 'warning' | 'info'
export type AlertState = 'pending' | 'firing' | 'resolved'

export interface AlertRule {
  id: string
  team_id: string
  team_name: string | null
  name: string
  description: string
  expression: string
  for: string
  severity: Severity
  labels: Record<string, string>
  annotations: Record<string, string>
  group_by: string[]
  repeat_interval: string
  channel_ids: string[]
  enabled: boolean
  builtin: string | null
  last_evaluated_at: string | null
  last_error: string | null
  firing: number
  pending: number
  created_at: string
  updated_at: string
}

export interface RuleInput {
  name: string
  expression: string
  for: string
  severity: Severity
  group_by: string[]
  repeat_interval: string
  channel_ids: string[]
  description?: string
  annotations?: Record<string, string>
  enabled?: boolean
}

export interface Alert {
  id: string
  rule_id: string
  rule_name: string
  team_id: string
  severity: Severity
  fingerprint: string
  labels: Record<string, string>
  state: AlertState
  value: number | null
  summary: string
  started_at: string
  fired_at: string | null
  resolved_at: string | null
  evaluated_at: string
  silenced: boolean
  acked_at: string | null
  acked_by_name: string | null
}

export interface Matcher {
  name: string
  op: '=' | '!='
  value: string
}

export interface Silence {
  id: string
  team_id: string
  matchers: Matcher[]
  starts_at: string
  ends_at: string
  comment: string
  created_by_name: string | null
  created_at: string
  active: boolean
}

export interface PreviewSample {
  labels: Record<string, string>
  value: number
  matches: boolean
}

export interface Preview {
  samples: PreviewSample[]
  total: number
  has_condition: boolean
}

export interface Channel {
  id: string
  name: string
  kind?: string
}

interface PageOf<T> {
  items: T[]
  next_cursor: string | null
  total?: number | null
}

export const listRules = (cursor?: string | null) =>
  requestJson<PageOf<AlertRule>>('GET', `/api/alerts/rules${query({ limit: 200, cursor })}`)
export const createRule = (body: RuleInput) => requestJson<AlertRule>('POST', '/api/alerts/rules', body)
export const updateRule = (id: string, body: Partial<RuleInput>) =>
  requestJson<AlertRule>('PATCH', `/api/alerts/rules/${id}`, body)
export const deleteRule = (id: string) => requestJson<void>('DELETE', `/api/alerts/rules/${id}`)
export const previewRule = (expression: string) =>
  requestJson<Preview>('POST', '/api/alerts/rules/preview', { expression })
export const installBuiltin = (enabled: boolean) =>
  requestJson<PageOf<AlertRule>>('POST', '/api/alerts/rules/builtin', { enabled })

export const listAlerts = (params: { state?: string; severity?: string | null; cursor?: string | null }) =>
  requestJson<PageOf<Alert>>('GET', `/api/alerts${query({ limit: 100, ...params })}`)
export const ackAlert = (id: string) => requestJson<Alert>('POST', `/api/alerts/${id}/ack`)

export const listSilences = (cursor?: string | null) =>
  requestJson<PageOf<Silence>>('GET', `/api/alerts/silences${query({ limit: 100, cursor })}`)
export const createSilence = (body: { matchers: Matcher[]; duration: string; comment: string }) =>
  requestJson<Silence>('POST', '/api/alerts/silences', body)
export const expireSilence = (id: string) => requestJson<void>('DELETE', `/api/alerts/silences/${id}`)

/** The channels a rule may notify (made on the Channels tab); none when that API is not there. */
export async function listChannels(): Promise<Channel[]> {
  try {
    const page = await requestJson<PageOf<Channel> | Channel[]>('GET', '/api/alerts/channels')
    return Array.isArray(page) ? page : page.items
  } catch {
    return []
  }
}

const SEVERITY_RANK: Record<Severity, number> = { critical: 0, warning: 1, info: 2 }
const STATE_RANK: Record<AlertState, number> = { firing: 0, pending: 1, resolved: 2 }

/** Firing before pending before resolved, then the more severe, then the most recent. */
export function sortAlerts(alerts: Alert[]): Alert[] {
  return [...alerts].sort(
    (a, b) =>
      STATE_RANK[a.state] - STATE_RANK[b.state] ||
      SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] ||
      b.started_at.localeCompare(a.started_at),
  )
}

export const severityColor = (s: Severity) => ({ critical: 'error', warning: 'warning', info: 'info' })[s]

/** The labels shown on an alert: the series' own, without the ones every alert of the rule has. */
export function shownLabels(labels: Record<string, string>): [string, string][] {
  return Object.entries(labels).filter(([k]) => !['alertname', 'severity', 'team'].includes(k))
}

/** A silence matching exactly this alert: its rule and its series' labels. */
export function matchersFor(alert: Alert): Matcher[] {
  return [
    { name: 'alertname', op: '=', value: alert.rule_name },
    ...shownLabels(alert.labels).map(([name, value]) => ({ name, op: '=' as const, value })),
  ]
}

/** The server's durations: numbers with s, m, h or d, e.g. 30s, 5m, 1h30m. */
export const DURATION = /^(\d+[smhd])+$/

export function durationSeconds(text: string): number | null {
  const value = text.trim()
  if (!DURATION.test(value)) return null
  const units: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 }
  let total = 0
  for (const [, n, u] of value.matchAll(/(\d+)([smhd])/g)) total += Number(n) * units[u!]!
  return total
}

/** `key="value"` pairs, the way the expression language writes label matchers. */
export const labelText = (labels: Record<string, string>) =>
  shownLabels(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(', ')
