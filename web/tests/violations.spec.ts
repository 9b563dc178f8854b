import { describe, expect, it } from 'vitest'
import { commentError, evidenceLines, nextSteps } from '@/api/violations'

describe('violations', () => {
  it('offers acknowledge only while open and resolve until resolved', () => {
    expect(nextSteps('open')).toEqual({ ack: true, resolve: true })
    expect(nextSteps('acknowledged')).toEqual({ ack: false, resolve: true })
    expect(nextSteps('resolved')).toEqual({ ack: false, resolve: false })
  })

  it('renders evidence lists, counts and numbers', () => {
    expect(
      evidenceLines({
        codes: { guardrail_blocked: 5, policy_denied: 2 },
        networks: ['10.0.0.0/24', 'fd00::/64'],
        count: 7,
      }),
    ).toEqual([
      { key: 'codes', value: 'guardrail_blocked × 5, policy_denied × 2' },
      { key: 'networks', value: '10.0.0.0/24, fd00::/64' },
      { key: 'count', value: '7' },
    ])
    expect(evidenceLines({})).toEqual([])
  })

  it('requires a comment of at most 2,000 characters, Korean included', () => {
    expect(commentError('   ')).toBe('required')
    expect(commentError('확인 완료')).toBeNull()
    expect(commentError('가'.repeat(2001))).toBe('tooLong')
    expect(commentError(` ${'가'.repeat(2000)} `)).toBeNull()
  })
})
