import createClient from 'openapi-fetch'
import type { components, paths } from './schema'
import { i18n } from '@/i18n'

export type Schemas = components['schemas']
export type UserInfo = Schemas['UserInfo']
export type Role = UserInfo['role']
export const ROLES: Role[] = ['admin', 'operator', 'developer', 'viewer']

/** One page of a cursor-paginated list. */
export interface Page<T> {
  items: T[]
  next_cursor?: string | null
}

/** How the client reaches the session: the auth store plugs itself in (avoids an import cycle). */
export interface TokenSource {
  access(): string | null
  refresh(): Promise<boolean>
  expired(): void
}

let tokens: TokenSource | null = null
export function useTokenSource(source: TokenSource) {
  tokens = source
}

/** The server reads the refresh cookie only from requests with this header, which cross-site pages cannot send. */
export const SAME_ORIGIN_HEADER = ['X-Requested-With', 'axops'] as const

function withAuth(request: Request): Request {
  const token = tokens?.access()
  if (token) request.headers.set('Authorization', `Bearer ${token}`)
  request.headers.set(...SAME_ORIGIN_HEADER)
  return request
}

/** fetch with the bearer token; on a 401 it refreshes the session once and retries. */
async function sessionFetch(input: Request): Promise<Response> {
  const retry = input.clone()
  const response = await fetch(withAuth(input))
  if (response.status !== 401 || new URL(input.url).pathname.startsWith('/api/auth/') || !tokens) return response
  if (await tokens.refresh()) return fetch(withAuth(retry))
  tokens.expired()
  return response
}

/** Asks the user for a two-factor code and confirms it with the server: true once confirmed, false if they gave up.
 * The step-up dialog (mounted once in App.vue) plugs itself in. */
export type StepUpHandler = () => Promise<boolean>
let stepUpHandler: StepUpHandler | null = null
let pendingStepUp: Promise<boolean> | null = null
export function useStepUp(handler: StepUpHandler | null) {
  stepUpHandler = handler
}

async function wantsStepUp(response: Response): Promise<boolean> {
  if (response.status !== 403) return false
  return (
    problemCode(
      await response
        .clone()
        .json()
        .catch(() => null),
    ) === 'mfa_step_up_required'
  )
}

/** sessionFetch; a destructive request refused for want of a recent two-factor code (403 mfa_step_up_required)
 * asks for one and is sent again once. Requests refused together share one prompt; giving up answers the original
 * refusal. */
export async function authFetch(input: Request): Promise<Response> {
  const handler = new URL(input.url).pathname.startsWith('/api/auth/') ? null : stepUpHandler
  const again = handler ? input.clone() : null
  const response = await sessionFetch(input)
  if (!handler || !again || !(await wantsStepUp(response))) return response
  pendingStepUp ??= handler().finally(() => (pendingStepUp = null))
  return (await pendingStepUp.catch(() => false)) ? sessionFetch(again) : response
}

export const api = createClient<paths>({ baseUrl: window.location.origin, fetch: authFetch })

/** An RFC 9457 problem as the server sends it: `type` ends in a stable code (docs/PROBLEMS.md), extension fields
 * carry the values its message needs, `errors` the field errors of a 422. */
export interface Problem {
  type?: string
  title?: string
  status?: number
  detail?: string
  request_id?: string
  errors?: { loc?: unknown[]; msg?: string; type?: string; ctx?: Record<string, unknown> }[]
  [extension: string]: unknown
}

const STANDARD = new Set(['type', 'title', 'status', 'detail', 'request_id', 'errors', 'instance'])

/** The stable code of a problem: the last segment of its `type` URI (`https://axops.dev/problems/<code>`). */
export function problemCode(problem: unknown): string | null {
  const type = (problem as Problem | null)?.type
  if (typeof type !== 'string' || !type) return null
  const code = type.slice(type.lastIndexOf('/') + 1)
  return /^[a-z][a-z0-9_]*$/.test(code) ? code : null
}

/** The message parameters of a problem: its extension fields, lists joined, status and sensitivity words translated. */
function problemParams(problem: Problem): Record<string, unknown> {
  const { t, te } = i18n.global
  const params: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(problem)) {
    if (STANDARD.has(key)) continue
    let shown = Array.isArray(value) ? value.join(', ') : value
    if (typeof shown === 'string' && key.endsWith('status') && te(`status.${shown}`)) shown = t(`status.${shown}`)
    if (typeof shown === 'string' && key === 'sensitivity' && te(`datasets.sensitivity.${shown}`))
      shown = t(`datasets.sensitivity.${shown}`)
    params[key] = shown
  }
  return params
}

/** One field error, translated: the field's label (`fields.<name>`) and the pydantic error type (`validation.<type>`). */
function fieldError(error: unknown): string {
  const { t, te, locale } = i18n.global
  const { loc, msg, type, ctx } = (error ?? {}) as { loc?: unknown; msg?: unknown; type?: unknown; ctx?: unknown }
  const path = Array.isArray(loc) ? loc.filter((p) => p !== 'body' && p !== 'query' && p !== 'path').map(String) : []
  const name = [...path].reverse().find((p) => !/^\d+$/.test(p))
  const where = name && te(`fields.${name}`) ? t(`fields.${name}`) : path.join('.')
  const params = ctx && typeof ctx === 'object' ? (ctx as Record<string, unknown>) : {}
  let what: string
  if (
    typeof type === 'string' &&
    te(`validation.${type}`) &&
    placeholders(`validation.${type}`).every((k) => k in params)
  )
    what = t(`validation.${type}`, params)
  else if (locale.value === 'en' && typeof msg === 'string' && msg) what = msg
  else what = t('validation.other')
  return where ? `${where}: ${what}` : what
}

/** The named parameters a message of the current locale expects ({min_length}, ...). */
function placeholders(key: string): string[] {
  const message = i18n.global.tm(key)
  return typeof message === 'string' ? [...message.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!) : []
}

/** The message for an HTTP status alone (no problem body, or a code this UI does not know). */
export function statusMessage(status: number): string {
  const { t, te } = i18n.global
  return te(`problems.status.${status}`) ? t(`problems.status.${status}`) : t('problems.status.other', { status })
}

/** The human message of a problem (or anything else thrown), in the reader's language: translated by the problem's
 * code with its fields as parameters, field errors by location and type; an unknown code falls back to the message
 * for its HTTP status (the English UI shows the server's `detail`). The request id is kept for server errors and
 * unknown codes, so that support can find the request. `fallback` is used when `error` is no problem at all; a
 * fallback starting with an HTTP status ("404 Not Found") is translated as that status. */
export function problemDetail(error: unknown, fallback?: string): string {
  const { t, te, locale } = i18n.global
  if (error instanceof ApiError) return error.message // already translated
  if (error instanceof TypeError && /fetch|network|load failed/i.test(error.message)) return t('problems.network')
  if (error instanceof Error && error.message) return error.message
  const problem = error && typeof error === 'object' ? (error as Problem) : null
  const code = problemCode(problem)
  const status = typeof problem?.status === 'number' ? problem.status : null
  if (problem && (code || status || typeof problem.detail === 'string')) {
    let message: string
    let known = true
    if (code && te(`problems.${code}`)) message = t(`problems.${code}`, problemParams(problem))
    else {
      known = false
      if (locale.value === 'en' && typeof problem.detail === 'string' && problem.detail) message = problem.detail
      else message = status ? statusMessage(status) : t('problems.http_error')
    }
    const fields = Array.isArray(problem.errors) ? problem.errors.map(fieldError).filter(Boolean) : []
    if (fields.length) message = `${message} (${fields.join('; ')})`
    if (typeof problem.request_id === 'string' && problem.request_id && (!known || (status ?? 0) >= 500))
      message = `${message} (${t('problems.requestId', { id: problem.request_id })})`
    return message
  }
  const statusFallback = fallback?.match(/^(\d{3})\b/)
  if (statusFallback) return statusMessage(Number(statusFallback[1]))
  return fallback ?? t('problems.http_error')
}

/** A failed API call: `message` is already translated; `code`, `status` and `requestId` are the problem's. */
export class ApiError extends Error {
  code: string | null = null
  status: number | null = null
  requestId: string | null = null
}

/** The ApiError of a failed response's problem body (anything that is not an object counts as no body). */
export function apiError(body: unknown, status: number): ApiError {
  const problem: Problem = { status, ...(body && typeof body === 'object' ? (body as Problem) : {}) }
  const error = new ApiError(problemDetail(problem))
  error.code = problemCode(problem)
  error.status = status
  error.requestId = typeof problem.request_id === 'string' ? problem.request_id : null
  return error
}

/** Unwrap an openapi-fetch result: the data, or an ApiError carrying the problem's translated message. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.error !== undefined || !result.response.ok) throw apiError(result.error, result.response.status)
  return result.data as T
}
