import { query, requestJson } from '@/api/http'

export type GuardAction = 'allow' | 'mask' | 'block'
export type Scope = 'global' | 'route' | 'team' | 'key'
export type Direction = 'input' | 'output' | 'both'
/** How the moderation route answers: OpenAI /moderations, or a chat model whose answer starts with safe/unsafe. */
export type ModerationApi = 'moderation' | 'guard_chat'

export interface Checks {
  pii?: { entities?: string[] | null; action: GuardAction; restore?: boolean }
  banned_words?: { words: string[]; action: GuardAction }
  harmful?: {
    categories?: string[] | null
    action: 'allow' | 'block'
    moderation_route?: string | null
    moderation_api?: ModerationApi
    on_model_error?: 'allow' | 'block'
  }
  injection?: { action: 'allow' | 'block'; classifier_route?: string | null; on_model_error?: 'allow' | 'block' }
}

export interface GuardrailPolicy {
  id: string
  name: string
  description: string
  scope: Scope
  target_id: string | null
  target_name: string | null
  direction: Direction
  checks: Checks
  enabled: boolean
  created_at: string
  updated_at: string
}

export interface PolicyInput {
  name: string
  description: string
  scope: Scope
  target_id: string | null
  direction: Direction
  checks: Checks
  enabled: boolean
}

export interface CheckVerdict {
  policy_id: string | null
  policy: string
  check: string
  action: GuardAction
  kinds: string[]
  hits: number
}

export interface TestResult {
  action: GuardAction
  masked_text: string | null
  verdicts: CheckVerdict[]
}

export interface GuardrailDecision {
  id: string
  created_at: string
  policy_name: string
  check: string
  kinds: string
  action: string
  direction: string
  excerpt: string
  route: string | null
}

export const PII_ENTITIES = [
  'RRN',
  'ARN',
  'PASSPORT',
  'DRIVER_LICENSE',
  'PHONE',
  'EMAIL',
  'CREDIT_CARD',
  'BANK_ACCOUNT',
  'BRN',
  'IP_ADDRESS',
  'ADDRESS_KR',
  'PERSON',
]

export const listPolicies = () => requestJson<{ items: GuardrailPolicy[] }>('GET', '/api/guardrails/policies')
export const createPolicy = (body: PolicyInput) =>
  requestJson<GuardrailPolicy>('POST', '/api/guardrails/policies', body)
export const updatePolicy = (id: string, body: Partial<PolicyInput>) =>
  requestJson<GuardrailPolicy>('PATCH', `/api/guardrails/policies/${id}`, body)
export const deletePolicy = (id: string) => requestJson<void>('DELETE', `/api/guardrails/policies/${id}`)
export const testText = (body: {
  text: string
  route?: string | null
  policy_id?: string | null
  direction?: string
}) => requestJson<TestResult>('POST', '/api/guardrails/test', body)
export const listDecisions = (limit = 100) =>
  requestJson<{ items: GuardrailDecision[] }>('GET', `/api/guardrails/decisions${query({ limit })}`)

/** One word or phrase per line (or comma-separated), trimmed, without blanks or repeats. */
export function parseWords(text: string): string[] {
  const seen = new Set<string>()
  for (const part of text.split(/[\n,]/)) {
    const word = part.trim()
    if (word) seen.add(word)
  }
  return [...seen]
}

/** The editor's form: every check has an on/off switch; only the switched-on ones are sent. */
export interface PolicyForm {
  name: string
  description: string
  scope: Scope
  targetId: string | null
  direction: Direction
  enabled: boolean
  pii: { on: boolean; entities: string[]; action: GuardAction; restore: boolean }
  banned: { on: boolean; words: string; action: GuardAction }
  harmful: {
    on: boolean
    categories: string
    action: 'allow' | 'block'
    route: string
    api: ModerationApi
    onError: 'allow' | 'block'
  }
  injection: { on: boolean; action: 'allow' | 'block'; route: string; onError: 'allow' | 'block' }
}

export function emptyForm(): PolicyForm {
  return {
    name: '',
    description: '',
    scope: 'global',
    targetId: null,
    direction: 'both',
    enabled: true,
    pii: { on: true, entities: [], action: 'mask', restore: false },
    banned: { on: false, words: '', action: 'block' },
    harmful: { on: false, categories: '', action: 'block', route: '', api: 'moderation', onError: 'allow' },
    injection: { on: false, action: 'block', route: '', onError: 'allow' },
  }
}

export function formOf(p: GuardrailPolicy): PolicyForm {
  const c = p.checks
  return {
    name: p.name,
    description: p.description,
    scope: p.scope,
    targetId: p.target_id,
    direction: p.direction,
    enabled: p.enabled,
    pii: { on: !!c.pii, entities: c.pii?.entities ?? [], action: c.pii?.action ?? 'mask', restore: !!c.pii?.restore },
    banned: {
      on: !!c.banned_words,
      words: (c.banned_words?.words ?? []).join('\n'),
      action: c.banned_words?.action ?? 'block',
    },
    harmful: {
      on: !!c.harmful,
      categories: (c.harmful?.categories ?? []).join(', '),
      action: c.harmful?.action ?? 'block',
      route: c.harmful?.moderation_route ?? '',
      api: c.harmful?.moderation_api ?? 'moderation',
      onError: c.harmful?.on_model_error ?? 'allow',
    },
    injection: {
      on: !!c.injection,
      action: c.injection?.action ?? 'block',
      route: c.injection?.classifier_route ?? '',
      onError: c.injection?.on_model_error ?? 'allow',
    },
  }
}

export function policyOf(f: PolicyForm): PolicyInput {
  const checks: Checks = {}
  if (f.pii.on)
    checks.pii = {
      entities: f.pii.entities.length ? f.pii.entities : null,
      action: f.pii.action,
      restore: f.pii.restore,
    }
  if (f.banned.on) checks.banned_words = { words: parseWords(f.banned.words), action: f.banned.action }
  if (f.harmful.on) {
    const categories = parseWords(f.harmful.categories)
    const route = f.harmful.route.trim()
    checks.harmful = {
      categories: categories.length ? categories : null,
      action: f.harmful.action,
      moderation_route: route || null,
      ...(route && { moderation_api: f.harmful.api, on_model_error: f.harmful.onError }),
    }
  }
  if (f.injection.on)
    checks.injection = {
      action: f.injection.action,
      classifier_route: f.injection.route.trim() || null,
      ...(f.injection.route.trim() && { on_model_error: f.injection.onError }),
    }
  return {
    name: f.name.trim(),
    description: f.description,
    scope: f.scope,
    target_id: f.scope === 'global' ? null : f.targetId,
    direction: f.direction,
    checks,
    enabled: f.enabled,
  }
}

/** The checks a policy runs, in a fixed order, for the list's chips. */
export function checkNames(c: Checks): string[] {
  return (['pii', 'banned_words', 'harmful', 'injection'] as const).filter((k) => c[k])
}
