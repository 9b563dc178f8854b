// Policy violations (/api/governance/violations) and their rule settings (/api/governance/violation-rules).
// Hand-typed after governance/violation_schemas.py until the client is regenerated.
import { query, requestJson } from './http'

export const VIOLATION_KINDS = [
  'blocked_prompts',
  'restricted_downloads',
  'off_hours',
  'new_network',
  'privilege_change',
] as const
export type ViolationKind = (typeof VIOLATION_KINDS)[number]
export const VIOLATION_SEVERITIES = ['critical', 'warning', 'info'] as const
export type ViolationSeverity = (typeof VIOLATION_SEVERITIES)[number]
export const VIOLATION_STATUSES = ['open', 'acknowledged', 'resolved'] as const
export type ViolationStatus = (typeof VIOLATION_STATUSES)[number]

export interface Violation {
  id: string
  kind: ViolationKind
  severity: ViolationSeverity
  status: ViolationStatus
  subject_type: 'user' | 'apikey' | 'team'
  subject_id: string
  subject_name: string
  team_id: string | null
  /** Ids and counts only (request ids, event ids, networks, codes), never prompt text. */
  evidence: Record<string, unknown>
  event_count: number
  first_seen: string
  last_seen: string
  action: string | null
  acked_at: string | null
  acked_by: string | null
  resolved_at: string | null
  resolved_by: string | null
  comment: string | null
  created_at: string
}

export interface ViolationPage {
  items: Violation[]
  next_cursor: string | null
  total: number | null
}

export interface ViolationFilter {
  status?: ViolationStatus | null
  kind?: ViolationKind | null
  severity?: ViolationSeverity | null
}

export const fetchViolations = (filter: ViolationFilter, cursor?: string | null, limit = 50) =>
  requestJson<ViolationPage>('GET', `/api/governance/violations${query({ ...filter, cursor, limit })}`)
export const fetchViolation = (id: string) =>
  requestJson<Violation>('GET', `/api/governance/violations/${encodeURIComponent(id)}`)
export const ackViolation = (id: string) =>
  requestJson<Violation>('POST', `/api/governance/violations/${encodeURIComponent(id)}/ack`)
export const resolveViolation = (id: string, comment: string) =>
  requestJson<Violation>('POST', `/api/governance/violations/${encodeURIComponent(id)}/resolve`, { comment })

export type RuleSettings = Record<string, unknown>
export const fetchViolationRules = () =>
  requestJson<{ rules: Record<string, RuleSettings> }>('GET', '/api/governance/violation-rules')
export const saveViolationRules = (rules: Record<string, RuleSettings>) =>
  requestJson<{ rules: Record<string, RuleSettings> }>('PUT', '/api/governance/violation-rules', rules)

/** What the reader may do next with a violation in its workflow. */
export function nextSteps(status: ViolationStatus): { ack: boolean; resolve: boolean } {
  return { ack: status === 'open', resolve: status !== 'resolved' }
}

export const SEVERITY_COLORS: Record<ViolationSeverity, string> = {
  critical: 'error',
  warning: 'warning',
  info: 'info',
}

/** The evidence as label/value lines: numbers and short lists joined, nested counts as `code × n`. */
export function evidenceLines(evidence: Record<string, unknown>): { key: string; value: string }[] {
  return Object.entries(evidence).map(([key, value]) => {
    if (Array.isArray(value)) return { key, value: value.map(String).join(', ') }
    if (value && typeof value === 'object')
      return {
        key,
        value: Object.entries(value as Record<string, unknown>)
          .map(([k, n]) => `${k} × ${String(n)}`)
          .join(', '),
      }
    return { key, value: String(value ?? '') }
  })
}

/** A resolution comment is required and at most 2,000 characters once trimmed (violation_schemas.ResolveIn). */
export function commentError(comment: string): 'required' | 'tooLong' | null {
  const text = comment.trim()
  if (!text) return 'required'
  return text.length > 2000 ? 'tooLong' : null
}
