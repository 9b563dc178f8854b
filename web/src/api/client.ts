import createClient from 'openapi-fetch'
import type { components, paths } from './schema'

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
export async function authFetch(input: Request): Promise<Response> {
  const retry = input.clone()
  const response = await fetch(withAuth(input))
  if (response.status !== 401 || new URL(input.url).pathname.startsWith('/api/auth/') || !tokens) return response
  if (await tokens.refresh()) return fetch(withAuth(retry))
  tokens.expired()
  return response
}

export const api = createClient<paths>({ baseUrl: window.location.origin, fetch: authFetch })

/** The human message of an RFC 9457 problem (or anything else thrown), with its field errors if any. */
export function problemDetail(error: unknown, fallback = 'Request failed'): string {
  if (error && typeof error === 'object') {
    const e = error as { detail?: unknown; message?: unknown; errors?: unknown }
    if (typeof e.detail === 'string') {
      const fields = Array.isArray(e.errors) ? e.errors.map(fieldError).filter(Boolean) : []
      return fields.length ? `${e.detail} (${fields.join('; ')})` : e.detail
    }
    if (typeof e.message === 'string') return e.message
  }
  return fallback
}

function fieldError(error: unknown): string {
  const { loc, msg } = (error ?? {}) as { loc?: unknown; msg?: unknown }
  if (typeof msg !== 'string' || !msg) return ''
  const where = Array.isArray(loc) ? loc.filter((p) => p !== 'body').join('.') : ''
  return where ? `${where}: ${msg}` : msg
}

export class ApiError extends Error {}

/** Unwrap an openapi-fetch result: the data, or an ApiError carrying the problem's detail. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.error !== undefined || !result.response.ok) {
    throw new ApiError(problemDetail(result.error, `${result.response.status} ${result.response.statusText}`))
  }
  return result.data as T
}
