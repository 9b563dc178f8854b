import { describe, expect, it } from 'vitest'
import { countPerDay } from '@/format'
import en from '@/i18n/en'
import ko from '@/i18n/ko'

function keys(obj: object, prefix = ''): string[] {
  return Object.entries(obj).flatMap(([k, v]) =>
    typeof v === 'object' && v !== null ? keys(v, `${prefix}${k}.`) : [`${prefix}${k}`],
  )
}

describe('formatting and translations', () => {
  it('counts events per day, oldest first', () => {
    const local = (y: number, m: number, d: number, h: number) => new Date(y, m - 1, d, h).toISOString()
    expect(countPerDay([local(2026, 11, 25, 9), local(2026, 11, 24, 23), local(2026, 11, 25, 10)])).toEqual([
      { day: '2026-11-24', count: 1 },
      { day: '2026-11-25', count: 2 },
    ])
    expect(countPerDay([])).toEqual([])
  })

  it('has every message in Korean and English', () => {
    expect(keys(ko).sort()).toEqual(keys(en).sort())
  })
})
