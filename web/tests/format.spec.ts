import { describe, expect, it } from 'vitest'
import en from '@/i18n/en'
import ko from '@/i18n/ko'

function keys(obj: object, prefix = ''): string[] {
  return Object.entries(obj).flatMap(([k, v]) =>
    typeof v === 'object' && v !== null ? keys(v, `${prefix}${k}.`) : [`${prefix}${k}`],
  )
}

describe('formatting and translations', () => {
  it('has every message in Korean and English', () => {
    expect(keys(ko).sort()).toEqual(keys(en).sort())
  })
})
