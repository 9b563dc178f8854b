import { describe, expect, it } from 'vitest'

import { checkNames, emptyForm, formOf, parseWords, policyOf, type GuardrailPolicy } from '@/api/guardrails'

const stub: GuardrailPolicy = {
  id: '1',
  name: 'p',
  description: '',
  scope: 'global',
  target_id: null,
  target_name: null,
  direction: 'both',
  checks: {},
  enabled: true,
  created_at: '',
  updated_at: '',
}

describe('guardrail policy form', () => {
  it('parses words one per line or comma-separated, trimmed and unique (Korean too)', () => {
    expect(parseWords(' 프로젝트X \nsecret, secret,,\n\n 기밀 ')).toEqual(['프로젝트X', 'secret', '기밀'])
    expect(parseWords('  ')).toEqual([])
  })

  it('sends only the checks switched on, and no target for a global policy', () => {
    const f = emptyForm()
    f.name = ' pii-mask '
    f.targetId = 'x'
    f.pii.entities = ['EMAIL']
    f.pii.restore = true
    f.injection.on = true
    f.injection.route = '  '
    const p = policyOf(f)
    expect(p.name).toBe('pii-mask')
    expect(p.target_id).toBeNull()
    expect(p.checks).toEqual({
      pii: { entities: ['EMAIL'], action: 'mask', restore: true },
      injection: { action: 'block', classifier_route: null },
    })
  })

  it('round-trips a stored policy through the form', () => {
    const stored: GuardrailPolicy = {
      id: '1',
      name: 'team-words',
      description: '',
      scope: 'team',
      target_id: 't1',
      target_name: 'alpha',
      direction: 'input',
      checks: {
        banned_words: { words: ['a', '비밀'], action: 'mask' },
        harmful: { action: 'block', categories: ['violence'] },
      },
      enabled: true,
      created_at: '',
      updated_at: '',
    }
    const back = policyOf(formOf(stored))
    expect(back.scope).toBe('team')
    expect(back.target_id).toBe('t1')
    expect(back.checks).toEqual({
      banned_words: { words: ['a', '비밀'], action: 'mask' },
      harmful: { categories: ['violence'], action: 'block', moderation_route: null },
    })
    expect(checkNames(back.checks)).toEqual(['banned_words', 'harmful'])
  })

  it('keeps how a model route answers and what its failure does', () => {
    const f = emptyForm()
    f.pii.on = false
    f.harmful = { ...f.harmful, on: true, route: 'llama-guard', api: 'guard_chat', onError: 'block' }
    f.injection = { ...f.injection, on: true, route: 'injection-clf' }
    const checks = policyOf(f).checks
    expect(checks.harmful).toEqual({
      categories: null,
      action: 'block',
      moderation_route: 'llama-guard',
      moderation_api: 'guard_chat',
      on_model_error: 'block',
    })
    expect(checks.injection).toEqual({ action: 'block', classifier_route: 'injection-clf', on_model_error: 'allow' })
    const again = formOf({ ...stub, checks })
    expect(again.harmful.api).toBe('guard_chat')
    expect(again.harmful.onError).toBe('block')
  })
})
