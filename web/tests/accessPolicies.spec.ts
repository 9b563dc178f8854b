import { describe, expect, it } from 'vitest'

import { draftErrors, sortRules, toBody, type AccessRule, type AccessRuleDraft } from '@/api/policy'

const draft = (over: Partial<AccessRuleDraft> = {}): AccessRuleDraft => ({
  subject_type: 'team',
  subject: '0190a1b2-0000-7000-8000-000000000001',
  action: 'call',
  resource: 'chat-small',
  effect: 'deny',
  description: '',
  ...over,
})

const rule = (over: Partial<AccessRule>): AccessRule => ({
  id: 'x',
  subject_type: 'everyone',
  subject: '',
  subject_name: null,
  action: 'call',
  resource: 'a',
  effect: 'allow',
  description: '',
  created_at: '',
  updated_at: '',
  ...over,
})

describe('access rule drafts', () => {
  it('accepts a team rule, * and Korean model names', () => {
    expect(draftErrors(draft())).toEqual({})
    expect(draftErrors(draft({ resource: '*' }))).toEqual({})
    expect(draftErrors(draft({ resource: '한국어-모델_v2', action: 'download' }))).toEqual({})
  })

  it('names what is missing or malformed', () => {
    expect(draftErrors(draft({ subject: null }))).toEqual({ subject: 'team' })
    expect(draftErrors(draft({ subject_type: 'role', subject: 'root' }))).toEqual({ subject: 'role' })
    expect(draftErrors(draft({ resource: 'two words' }))).toEqual({ resource: 'resource' })
    expect(draftErrors(draft({ resource: '  ' }))).toEqual({ resource: 'resource' })
    expect(draftErrors(draft({ resource: 'a'.repeat(201) }))).toEqual({ resource: 'resource' })
    expect(draftErrors(draft({ description: 'x'.repeat(501) }))).toEqual({ description: 'description' })
  })

  it('sends no subject for everyone and trims the resource', () => {
    const body = toBody(draft({ subject_type: 'everyone', subject: 'stale', resource: ' gpt-4o ' }))
    expect(body).toMatchObject({ subject_type: 'everyone', subject: null, resource: 'gpt-4o' })
    expect(toBody(draft({ subject_type: 'role', subject: 'viewer' })).subject).toBe('viewer')
  })
})

describe('rule order', () => {
  it('puts denies first, then by action, then * before names', () => {
    const sorted = sortRules([
      rule({ id: '1', effect: 'allow', action: 'call', resource: 'b' }),
      rule({ id: '2', effect: 'deny', action: 'download', resource: 'a' }),
      rule({ id: '3', effect: 'deny', action: 'call', resource: 'z' }),
      rule({ id: '4', effect: 'deny', action: 'call', resource: '*' }),
    ])
    expect(sorted.map((r) => r.id)).toEqual(['4', '3', '2', '1'])
  })
})
