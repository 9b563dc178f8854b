import type { RouteLocationRaw } from 'vue-router'
import type { AuditEvent } from '@/stores/audit'
import { statusKey } from '@/status'

type Translate = (key: string, params?: Record<string, unknown>) => string
type Exists = (key: string) => boolean

/** The message key of an action: `audit.actions.<family>.<verb>` (e.g. audit.actions.model.version_stage). */
export const actionKey = (action: string) => `audit.actions.${action}`

const text = (value: unknown): string => {
  if (value === null || value === undefined) return ''
  if (Array.isArray(value)) return value.map(text).join(', ')
  if (typeof value === 'object') return JSON.stringify(value)
  return String(value)
}

/** "운영" → "운영으로", "스테이징" → "스테이징으로", "보관됨" → "보관됨으로", "초안" → "초안으로"; "서울" → "서울로". */
export function withRo(word: string): string {
  const last = word.charCodeAt(word.length - 1)
  if (last >= 0xac00 && last <= 0xd7a3) {
    const final = (last - 0xac00) % 28
    return `${word}${final === 0 || final === 8 ? '로' : '으로'}`
  }
  return `${word}(으)로`
}

/**
 * The values an action's sentence may name, taken from its summary: the resource's name, a version as
 * "v3", a stage or status in the reader's words, a role, before/after, a count. Every message uses only
 * the ones its action records; missing ones read as "—".
 */
export function summaryParams(event: AuditEvent, t: Translate, te: Exists, korean: boolean): Record<string, string> {
  const s = (event.summary ?? {}) as Record<string, unknown>
  const word = (value: unknown) => {
    const raw = text(value)
    if (!raw) return '—'
    const key = `status.${statusKey(raw)}`
    return te(key) ? t(key) : raw
  }
  const known = (prefix: string, value: unknown) => {
    const raw = text(value)
    return raw && te(`${prefix}.${raw}`) ? t(`${prefix}.${raw}`) : raw || '—'
  }
  const pair = (value: unknown): [unknown, unknown] =>
    Array.isArray(value) ? [value[0], value[1]] : [undefined, value]
  const [stageFrom, stageTo] = pair(s.stage)
  const to = word(stageTo ?? s.to ?? s.status)
  const role = text(s.role)
  const roleWord = role && te(`roles.${role}`) ? t(`roles.${role}`) : role
  const params: Record<string, string> = {
    name: text(s.name ?? s.username ?? s.model ?? s.team ?? s.experiment) || '—',
    username: text(s.username) || '—',
    team: text(s.team) || '—',
    version: s.version !== undefined && s.version !== null ? `v${text(s.version)}` : '',
    stage: to,
    stageFrom: word(stageFrom ?? s.from),
    model: text(s.model) || '—',
    stageRo: korean ? withRo(to) : to,
    from: text(s.from) || '—',
    to: text(s.to) || '—',
    role: roleWord || '—',
    roleRo: korean && roleWord ? withRo(roleWord) : roleWord || '—',
    alias: text(s.alias) || '—',
    before: text(s.before) || '—',
    after: text(s.after) || '—',
    reason: text(s.reason) || '—',
    count: text(s.files ?? s.trials ?? s.sessions ?? s.versions ?? s.rows ?? s.count) || '0',
    path: text(s.path) || '/',
    key: text(s.key) || '—',
    prefix: text(s.prefix) || '—',
    gpus: text(s.gpus) || '—',
    changed: text(s.changed ?? Object.keys(s).filter((k) => k !== 'name')) || '—',
    what: text(s.what) || '—',
    comment: text(s.comment),
    // governance: an approval's target, a violation's kind and severity, an access rule's effect, a transfer setting
    target: text(s.target ?? s.name ?? s.model) || '—',
    kind: known('governance.violations.kinds', s.kind),
    severity: known('governance.violations.severities', s.severity),
    effect: known('governance.access.effects', s.effect),
    external:
      typeof s.external === 'boolean'
        ? t(`governance.access.transfer.${s.external ? 'allowed' : 'forbidden'}`)
        : text(s.external) || '—',
  }
  return params
}

/**
 * One readable line for an event, in the reader's language: "모델 llama v3 단계를 운영으로 변경" /
 * "Moved model llama v3 to Production". An action without a sentence of its own reads as its family and
 * verb with the resource's name, never as raw JSON.
 */
export function summaryLine(event: AuditEvent, t: Translate, te: Exists, korean: boolean): string {
  const params = summaryParams(event, t, te, korean)
  const key = actionKey(event.action)
  const line = te(key) ? t(key, params) : t('audit.actions.fallback', { action: event.action, name: params.name })
  return line.replace(/\s+/g, ' ').trim()
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** The page of an event's resource, when the UI has one (and the reader may open it). */
export function resourceLink(
  event: Pick<AuditEvent, 'resource_type' | 'resource_id'>,
  can: (permission: string) => boolean,
): RouteLocationRaw | null {
  const id = event.resource_id
  if (!event.resource_type || !id) return null
  switch (event.resource_type) {
    case 'model':
      return `/models/${id}`
    case 'dataset':
      return `/datasets/${id}`
    case 'deployment':
      return `/deployments/${id}`
    case 'training_job':
      return `/training/jobs/${id}`
    case 'training_sweep':
      return `/training/sweeps/${id}`
    case 'run':
      return `/experiments/runs/${id}`
    case 'user':
      return can('users:admin') && UUID.test(id) ? { path: '/admin/users', query: { id } } : null
    case 'team':
      return can('teams:admin') && UUID.test(id) ? { path: '/admin/teams', query: { id } } : null
    case 'apikey':
      return '/apikeys'
    case 'gateway_route':
      return '/gateway/routes'
    default:
      return null
  }
}
