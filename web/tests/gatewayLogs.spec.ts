import { describe, expect, it } from 'vitest'
import { apiQuery, errorsLink, filtersFromQuery, narrowed, queryFromFilters, statusValid } from '@/views/gateway/logs'
import { maxCharsOk, targetProblems, timeoutOk } from '@/views/gateway/validate'
import { formatCost } from '@/views/gateway/usage'
import type { Target } from '@/api/gateway'

describe('request log filters in the URL', () => {
  it('round-trips a filtered view through the query', () => {
    const q = {
      model: 'chat',
      outcome: 'error',
      status: '502',
      since: '2026-01-01T00:00:00Z',
      until: '2026-01-02T00:00:00Z',
    }
    const f = filtersFromQuery(q)
    expect(f.window).toBe('custom')
    expect(f.outcome).toBe('error')
    expect(queryFromFilters(f)).toEqual(q)
    expect(apiQuery(f)).toEqual({ model: 'chat', outcome: 'error', status: 502, since: q.since, until: q.until })
    expect(narrowed(f)).toBe(true)
  })

  it('defaults to the last 24 hours and drops values the API would refuse', () => {
    const f = filtersFromQuery({ outcome: 'nonsense', window: 'forever' })
    expect(f.outcome).toBe('')
    expect(f.window).toBe('24h')
    expect(queryFromFilters(f)).toEqual({})
    expect(narrowed(f)).toBe(false)
    const now = new Date('2026-03-01T12:00:00Z')
    expect(apiQuery(f, now)).toEqual({ since: '2026-02-28T12:00:00.000Z' })
    expect(apiQuery({ ...f, window: 'all' }, now)).toEqual({})
    expect(apiQuery({ ...f, status: '99' }, now).status).toBeUndefined()
  })

  it('validates a status code as the API does', () => {
    expect(['', '200', '599'].every(statusValid)).toBe(true)
    expect(['99', '600', '5xx', '20 0'].some(statusValid)).toBe(false)
  })

  it("links a usage row's errors to the failing requests of that window", () => {
    expect(errorsLink({ by: 'model', value: 'chat' }, 'a', 'b')).toEqual({
      path: '/gateway/logs',
      query: { outcome: 'error', since: 'a', until: 'b', model: 'chat' },
    })
    expect(errorsLink({ by: 'other' }, 'a', 'b').query).toEqual({ outcome: 'error', since: 'a', until: 'b' })
  })
})

describe('gateway form checks', () => {
  const row = (over: Partial<Target> = {}): Target => ({
    provider_id: 'p',
    model: 'm',
    weight: 1,
    priority: 0,
    input_price: 0,
    output_price: 0,
    gpu_hour_price: null,
    gpus: null,
    throughput_tokens_per_s: null,
    tokenizer: null,
    ...over,
  })

  it('names the target fields the API would refuse', () => {
    expect(targetProblems(row())).toEqual([])
    expect(targetProblems(row({ provider_id: '', model: ' ' }))).toEqual(['provider', 'model'])
    expect(targetProblems(row({ weight: -1, priority: 1.5, input_price: -5 }))).toEqual(['weight', 'priority', 'price'])
    expect(targetProblems(row({ gpu_hour_price: 3, gpus: 1 }))).toEqual(['gpu'])
    expect(targetProblems(row({ gpu_hour_price: 3, gpus: 0, throughput_tokens_per_s: 5 }))).toEqual(['gpu'])
  })

  it('checks timeouts and request sizes', () => {
    expect([1, 3600, '30'].every(timeoutOk)).toBe(true)
    expect([0, -1, 3601, '', null].some(timeoutOk)).toBe(false)
    expect([null, '', 1, 5000].every(maxCharsOk)).toBe(true)
    expect([0, -3, 1.5].some(maxCharsOk)).toBe(false)
  })
})

describe('cost figures', () => {
  it('keeps fractions of a cent instead of rounding them to 0.00', () => {
    expect(formatCost(0.0000345)).toBe('0.0000345')
    expect(formatCost(0)).toBe('0.00')
    expect(formatCost(0.5)).toBe('0.50')
    expect(formatCost(1234.567)).toBe('1,234.57')
  })
})
