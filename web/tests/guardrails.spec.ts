import { describe, expect, it } from 'vitest'

import { checkNames, emptyForm, formOf, parseWords, policyOf, type GuardrailPolicy } from '@/api/guardrails'

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
})
