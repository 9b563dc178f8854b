import { describe, expect, it } from 'vitest'
import { codeShaped, normaliseCode, recoveryCodesText, ssoErrorReason, svgDataUri } from '@/api/twoFactor'

describe('two-factor codes', () => {
  it('normalises what people type', () => {
    expect(normaliseCode(' 123 456 ')).toBe('123456')
    expect(normaliseCode('AB12C-3DE45')).toBe('ab12c-3de45')
  })

  it('knows a code from a typo', () => {
    expect(codeShaped('123456')).toBe(true)
    expect(codeShaped('12345')).toBe(false)
    expect(codeShaped('12345a')).toBe(false)
    expect(codeShaped('3f9a1-0b2c4')).toBe(true)
    expect(codeShaped('3F9A1-0B2C4')).toBe(true)
    expect(codeShaped('3f9a1-0b2c4', false)).toBe(false)
    expect(codeShaped('일이삼사오육')).toBe(false)
  })

  it('writes recovery codes one a line', () => {
    expect(recoveryCodesText(['a', 'b'], 'axops 복구 코드')).toBe('axops 복구 코드\n\na\nb\n')
  })

  it('embeds the QR code as an image, never as markup', () => {
    const uri = svgDataUri('<svg onload="alert(1)"><path/></svg>')
    expect(uri.startsWith('data:image/svg+xml;charset=utf-8,')).toBe(true)
    expect(uri).not.toContain('<')
  })
})

describe('SSO errors', () => {
  it('maps the known reasons and nothing else', () => {
    expect(ssoErrorReason('token_invalid')).toBe('token_invalid')
    expect(ssoErrorReason('<script>')).toBe('unknown')
    expect(ssoErrorReason(undefined)).toBeNull()
    expect(ssoErrorReason(['token_invalid'])).toBeNull()
  })
})
