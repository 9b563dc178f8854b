import { afterEach, describe, expect, it } from 'vitest'
import { i18n, setLocale } from '@/i18n'
import en from '@/i18n/en'
import ko from '@/i18n/ko'
import type { AuditEvent } from '@/stores/audit'
import { resourceLink, summaryLine, withRo } from '@/views/audit/summary'
import { formProblems } from '@/views/admin/formCheck'
import { CONTROL, EMAIL, USERNAME } from '@/rules'

const event = (action: string, summary: Record<string, unknown>, extra: Partial<AuditEvent> = {}): AuditEvent => ({
  id: '0190c3f0-0000-7000-8000-000000000001',
  created_at: '2026-12-01T10:00:00Z',
  actor_id: null,
  actor_name: 'admin',
  actor_type: 'user',
  action,
  resource_type: 'model',
  resource_id: '0190c3f0-0000-7000-8000-0000000000aa',
  team_id: null,
  summary,
  request_id: null,
  ip: null,
  outcome: 'success',
  ...extra,
})

function line(e: AuditEvent) {
  const { t, te, locale } = i18n.global
  return summaryLine(e, t as never, te as never, locale.value === 'ko')
}

afterEach(() => setLocale('ko'))

describe('audit summaries', () => {
  it('say what happened in one line, in Korean and English', () => {
    setLocale('ko')
    const stage = event('model.version_stage', { name: 'llama', version: 3, stage: ['staging', 'production'] })
    expect(line(stage)).toBe('모델 llama v3 단계를 운영으로 변경')
    expect(line(event('user.role_change', { username: 'kim', role: 'admin' }))).toBe(
      '사용자 kim의 역할을 관리자로 변경',
    )
    expect(line(event('team.member_add', { team: 'ops', username: 'kim' }))).toBe('팀 ops에 kim 추가')
    setLocale('en')
    expect(line(stage)).toBe('Moved model llama v3 to Production')
    expect(line(event('apikey.revoke', { name: 'ci', prefix: 'axk_1234' }))).toBe('Revoked API key ci (axk_1234…)')
  })

  it('never show raw JSON: an action without a sentence names its code and resource', () => {
    setLocale('ko')
    expect(line(event('model.something_new', { name: 'llama', nested: { a: 1 } }))).toBe('model.something_new · llama')
    expect(line(event('model.register', {}))).toBe('모델 — 등록')
  })

  it('has a sentence in both languages for every action it knows', () => {
    const families = (m: typeof en) => Object.keys(m.audit.actions).sort()
    expect(families(ko as typeof en)).toEqual(families(en))
  })

  it('picks the particle 으로 or 로 by the last syllable', () => {
    expect(withRo('운영')).toBe('운영으로')
    expect(withRo('스테이징')).toBe('스테이징으로')
    expect(withRo('관리자')).toBe('관리자로')
    expect(withRo('서울')).toBe('서울로') // ㄹ takes 로
    expect(withRo('prod')).toBe('prod(으)로')
  })

  it('links resources to their pages, admin pages only for those who may open them', () => {
    const id = '0190c3f0-0000-7000-8000-0000000000aa'
    const all = () => true
    const none = () => false
    expect(resourceLink({ resource_type: 'model', resource_id: id }, all)).toBe(`/models/${id}`)
    expect(resourceLink({ resource_type: 'dataset', resource_id: id }, all)).toBe(`/datasets/${id}`)
    expect(resourceLink({ resource_type: 'deployment', resource_id: id }, all)).toBe(`/deployments/${id}`)
    expect(resourceLink({ resource_type: 'training_job', resource_id: id }, all)).toBe(`/training/jobs/${id}`)
    expect(resourceLink({ resource_type: 'run', resource_id: id }, all)).toBe(`/experiments/runs/${id}`)
    expect(resourceLink({ resource_type: 'user', resource_id: id }, all)).toEqual({
      path: '/admin/users',
      query: { id },
    })
    expect(resourceLink({ resource_type: 'team', resource_id: id }, none)).toBeNull()
    expect(resourceLink({ resource_type: 'user', resource_id: 'not-an-id' }, all)).toBeNull()
    expect(resourceLink({ resource_type: 'session', resource_id: id }, all)).toBeNull()
    expect(resourceLink({ resource_type: null, resource_id: null }, all)).toBeNull()
  })
})

describe('account forms', () => {
  it('list what keeps a form from being sent, field by field', () => {
    expect(
      formProblems([
        ['Name', true],
        ['E-mail', true, 'Not valid', 'Other'],
      ]),
    ).toEqual(['E-mail: Not valid'])
    expect(formProblems([['Name', true]])).toEqual([])
  })

  it('check names and addresses as the API does', () => {
    expect(USERNAME.test('dev.park')).toBe(true)
    for (const bad of ['bad name with spaces!!', 'ab', '-dash', 'x'.repeat(65), '김개발'])
      expect(USERNAME.test(bad)).toBe(false)
    expect(EMAIL.test('kim@example.com')).toBe(true)
    for (const bad of ['kim@', 'kim@localhost', 'kim example.com', 'a@b@c.d']) expect(EMAIL.test(bad)).toBe(false)
    expect(CONTROL.test('two\nlines')).toBe(true)
    expect(CONTROL.test('한 줄 이름')).toBe(false)
  })
})
