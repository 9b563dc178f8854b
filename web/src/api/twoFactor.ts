import { requestJson } from '@/api/http'

/** GET /api/user/2fa */
export interface TwoFactorStatus {
  enabled: boolean
  enabled_at: string | null
  recovery_codes_left: number
  /** An admin while the server requires admins to use two-factor authentication. */
  required: boolean
}

/** POST /api/user/2fa/enrol: shown once. */
export interface TwoFactorEnrolment {
  secret: string
  otpauth_uri: string
  qr_svg: string
}

/** GET /api/auth/sso/config */
export interface SsoConfig {
  enabled: boolean
  login_url: string | null
}

export const getTwoFactor = () => requestJson<TwoFactorStatus>('GET', '/api/user/2fa')
export const enrolTwoFactor = () => requestJson<TwoFactorEnrolment>('POST', '/api/user/2fa/enrol')
export const confirmTwoFactor = (code: string) =>
  requestJson<{ recovery_codes: string[] }>('POST', '/api/user/2fa/confirm', { code: normaliseCode(code) })
export const disableTwoFactor = (code: string) =>
  requestJson<void>('POST', '/api/user/2fa/disable', { code: normaliseCode(code) })
export const stepUp = (code: string) =>
  requestJson<void>('POST', '/api/auth/mfa/step-up', { code: normaliseCode(code) })
export const getSsoConfig = () => requestJson<SsoConfig>('GET', '/api/auth/sso/config')

/** What a user types, as the server compares it: no spaces, lower case (recovery codes are hex). */
export function normaliseCode(code: string): string {
  return code.replace(/\s+/g, '').toLowerCase()
}

/** A 6-digit authenticator code, or (when allowed) a recovery code like `3f9a1-0b2c4`. */
export function codeShaped(code: string, allowRecovery = true): boolean {
  const c = normaliseCode(code)
  return /^\d{6}$/.test(c) || (allowRecovery && /^[0-9a-f]{5}-[0-9a-f]{5}$/.test(c))
}

/** The QR code's SVG as an <img> source: an image never runs scripts, unlike inline SVG markup. */
export function svgDataUri(svg: string): string {
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`
}

/** Recovery codes as a text file's content, one a line. */
export function recoveryCodesText(codes: string[], heading: string): string {
  return [heading, '', ...codes].join('\n') + '\n'
}

const SSO_ERRORS = ['state_mismatch', 'token_invalid', 'idp_error', 'account_conflict', 'inactive'] as const
export type SsoError = (typeof SSO_ERRORS)[number] | 'unknown'

/** The login page's `?sso_error=` as one of the reasons it has a message for. */
export function ssoErrorReason(value: unknown): SsoError | null {
  if (typeof value !== 'string' || !value) return null
  return (SSO_ERRORS as readonly string[]).includes(value) ? (value as SsoError) : 'unknown'
}
