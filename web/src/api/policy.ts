/** Access policies (`/api/policy/...`): who may call, deploy or download which model or route, and
 * whether a team's requests may leave the organisation. Hand-typed until the lead regenerates the schema. */
import { requestJson } from '@/api/http'

export const SUBJECT_TYPES = ['team', 'role', 'everyone'] as const
export const ACTIONS = ['call', 'deploy', 'download'] as const
export const EFFECTS = ['allow', 'deny'] as const
export const ROLES = ['admin', 'operator', 'developer', 'viewer'] as const
export type SubjectType = (typeof SUBJECT_TYPES)[number]
export type Action = (typeof ACTIONS)[number]
export type Effect = (typeof EFFECTS)[number]
export type Transfer = 'allowed' | 'forbidden'

export interface AccessRule {
  id: string
  subject_type: SubjectType
  subject: string
  subject_name: string | null
  action: Action
  resource: string
  effect: Effect
  description: string
  created_at: string
  updated_at: string
}

export interface AccessRuleDraft {
  subject_type: SubjectType
  subject: string | null
  action: Action
  resource: string
  effect: Effect
  description: string
}

export interface TransferSetting {
  id: string
  team_id: string | null
  team_name: string | null
  api_key_id: string | null
  api_key_name: string | null
  external: Transfer
  updated_at: string
}

export interface MyPolicies {
  rules: AccessRule[]
  external_transfer: Transfer
}

/** `*`, or a route / model name: mirrors policy/schemas.py `Resource`. */
export const RESOURCE = /^(\*|[\p{L}\p{N}_.:/@-]+)$/u

/** What keeps a draft from being a rule the API accepts: field → i18n key under governance.access.errors. */
export function draftErrors(d: AccessRuleDraft): Partial<Record<'subject' | 'resource' | 'description', string>> {
  const out: Partial<Record<'subject' | 'resource' | 'description', string>> = {}
  if (d.subject_type === 'team' && !d.subject) out.subject = 'team'
  if (d.subject_type === 'role' && !(ROLES as readonly string[]).includes(d.subject ?? '')) out.subject = 'role'
  const resource = d.resource.trim()
  if (!resource || resource.length > 200 || !RESOURCE.test(resource)) out.resource = 'resource'
  if (d.description.length > 500) out.description = 'description'
  return out
}

/** The body to send: `subject` only where the subject type takes one, the resource trimmed. */
export function toBody(d: AccessRuleDraft): Record<string, unknown> {
  return {
    subject_type: d.subject_type,
    subject: d.subject_type === 'everyone' ? null : d.subject,
    action: d.action,
    resource: d.resource.trim(),
    effect: d.effect,
    description: d.description,
  }
}

/** Rules shown denies first, then by action and resource (how an admin reads "what wins"). */
export function sortRules(rules: AccessRule[]): AccessRule[] {
  return [...rules].sort(
    (a, b) =>
      (a.effect === b.effect ? 0 : a.effect === 'deny' ? -1 : 1) ||
      a.action.localeCompare(b.action) ||
      (a.resource === '*' ? -1 : b.resource === '*' ? 1 : a.resource.localeCompare(b.resource, 'ko')),
  )
}

const BASE = '/api/policy'
export const listRules = () => requestJson<AccessRule[]>('GET', `${BASE}/model-access`)
export const createRule = (d: AccessRuleDraft) => requestJson<AccessRule>('POST', `${BASE}/model-access`, toBody(d))
export const updateRule = (id: string, d: AccessRuleDraft) =>
  requestJson<AccessRule>('PATCH', `${BASE}/model-access/${encodeURIComponent(id)}`, toBody(d))
export const deleteRule = (id: string) => requestJson<void>('DELETE', `${BASE}/model-access/${encodeURIComponent(id)}`)
export const listTransfer = () => requestJson<TransferSetting[]>('GET', `${BASE}/transfer`)
export const setTransfer = (body: { team_id?: string; api_key_id?: string; external: Transfer }) =>
  requestJson<TransferSetting>('PUT', `${BASE}/transfer`, body)
export const myPolicies = () => requestJson<MyPolicies>('GET', `${BASE}/mine`)
