import { afterEach, describe, expect, it } from 'vitest'
import { i18n, setLocale } from '@/i18n'
import en from '@/i18n/en'
import ko from '@/i18n/ko'
import type { AuditEvent } from '@/stores/audit'
import { summaryLine } from '@/views/audit/summary'

// The audit actions of issue 18 (guardrails, access policies, violations, approvals, two-factor, SSO, reports).
const ACTIONS = [
  'guardrails.policy_create',
  'guardrails.policy_update',
  'guardrails.policy_delete',
  'policy.access_create',
  'policy.access_update',
  'policy.access_delete',
  'policy.transfer_set',
  'violation.open',
  'violation.acknowledge',
  'violation.resolve',
  'violation_rules.update',
  'approval.request',
  'approval.approve',
  'approval.reject',
  'approval.use',
  'mfa.enable',
  'mfa.disable',
  'mfa.step_up',
  'mfa.recovery_used',
  'compliance_report.generate',
  'compliance_report.download',
  'auth.sso_failed',
]
const RESOURCES = [
  'access_policy',
  'transfer_policy',
  'guardrail_policy',
  'violation',
  'violation_rules',
  'approval',
  'compliance_report',
]

const event = (action: string, summary: Record<string, unknown>): AuditEvent => ({
  id: '0190c3f0-0000-7000-8000-000000000001',
  created_at: '2026-12-01T10:00:00Z',
  actor_id: null,
  actor_name: 'admin',
  actor_type: 'user',
  action,
  resource_type: 'approval',
  resource_id: '0190c3f0-0000-7000-8000-0000000000aa',
  team_id: null,
  summary,
  request_id: null,
  ip: null,
  outcome: 'success',
})

function line(e: AuditEvent) {
  const { t, te, locale } = i18n.global
  return summaryLine(e, t as never, te as never, locale.value === 'ko')
}

const get = (messages: unknown, path: string) =>
  path.split('.').reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], messages)

afterEach(() => setLocale('ko'))

describe('governance audit labels', () => {
  it('has a sentence for every action and a name for every resource, in both languages', () => {
    for (const messages of [en, ko]) {
      for (const action of ACTIONS) expect(typeof get(messages, `audit.actions.${action}`), action).toBe('string')
      for (const type of RESOURCES) expect(typeof get(messages, `audit.resourceTypes.${type}`), type).toBe('string')
    }
  })

  it('reads the summaries in the reader language', () => {
    setLocale('ko')
    expect(line(event('approval.request', { kind: 'promote', target: 'chat-ko', version: 3 }))).toBe(
      'chat-ko v3 승인 요청',
    )
    expect(line(event('violation.open', { kind: 'off_hours', severity: 'critical', subject_type: 'user' }))).toBe(
      '심각 위반 발생: 업무 시간 외 접근',
    )
    expect(line(event('policy.transfer_set', { external: false, before: true }))).toBe('외부 전송 설정 변경 (금지)')
    expect(line(event('policy.access_create', { effect: 'deny', action: 'call' }))).toBe('접근 정책 규칙 추가 (거부)')
    setLocale('en')
    expect(line(event('approval.approve', { kind: 'deploy', target: 'chat-ko', version: 2 }))).toBe(
      'Approved the request for chat-ko v2',
    )
    expect(line(event('mfa.step_up', { via: 'totp' }))).toBe('Confirmed with a two-factor code')
    expect(line(event('violation.resolve', { kind: 'new_network' }))).toBe(
      'Resolved a violation: Key used from a new network',
    )
  })
})
