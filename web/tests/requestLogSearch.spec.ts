import { describe, expect, it } from 'vitest'
import { apiQuery, filtersFromQuery, narrowed, queryFromFilters, searchValid } from '@/views/gateway/logs'

describe('request log search', () => {
  it('accepts 2 to 200 characters once trimmed, counting Korean syllables as one each', () => {
    expect(searchValid('')).toBe(true)
    expect(searchValid('서')).toBe(false)
    expect(searchValid(' a ')).toBe(false)
    expect(searchValid('서울')).toBe(true)
    expect(searchValid('가'.repeat(200))).toBe(true)
    expect(searchValid('가'.repeat(201))).toBe(false)
  })

  it('keeps the search in the URL and sends it trimmed to the API', () => {
    const f = filtersFromQuery({ q: ' 서울에서 ', window: '7d' })
    expect(f.q).toBe(' 서울에서 ')
    expect(queryFromFilters(f)).toEqual({ q: ' 서울에서 ', window: '7d' })
    const now = new Date('2026-01-08T00:00:00Z')
    expect(apiQuery(f, now)).toEqual({ q: '서울에서', since: '2026-01-01T00:00:00.000Z' })
    expect(narrowed(f)).toBe(true)
    expect(narrowed(filtersFromQuery({}))).toBe(false)
  })

  it('does not send a search the API would refuse', () => {
    expect(apiQuery(filtersFromQuery({ q: '서', window: 'all' }))).toEqual({})
  })
})
