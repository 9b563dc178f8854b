import { apiError, authFetch, problemDetail, type ApiError, type Problem } from '@/api/client'

/** A plain authenticated request to the API (for bodies openapi-fetch does not stream: file chunks). */
export async function call(method: string, path: string, body?: BodyInit, json = false): Promise<Response> {
  const headers = json ? { 'Content-Type': 'application/json' } : undefined
  return authFetch(new Request(window.location.origin + path, { method, body, headers }))
}

/** The human message of a failed response, in the reader's language (its problem translated by code, else its
 * HTTP status). */
export async function failure(response: Response): Promise<string> {
  const body = await response.json().catch(() => null)
  return problemDetail({ status: response.status, ...(body && typeof body === 'object' ? body : {}) })
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Worth retrying: the server is busy or failed, not the request. */
export const transient = (status: number) => status === 429 || status >= 500

/** A JSON request to the API: the parsed answer (undefined for 204), or an ApiError carrying the problem+json body
 * (`error.problem`) when the status is not 2xx. */
export async function requestJson<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await call(method, path, body === undefined ? undefined : JSON.stringify(body), body !== undefined)
  if (!response.ok) {
    const problem = (await response.json().catch(() => null)) as Problem | null
    const error = apiError(problem, response.status) as ApiError & { problem: Problem | null }
    error.problem = problem
    throw error
  }
  return (response.status === 204 ? undefined : await response.json()) as T
}

/** A query string from the values given (null and undefined left out), with its leading `?` (or '' when empty). */
export function query(params: Record<string, string | number | boolean | null | undefined>): string {
  const search = new URLSearchParams()
  for (const [key, value] of Object.entries(params))
    if (value !== null && value !== undefined) search.set(key, String(value))
  const text = search.toString()
  return text ? `?${text}` : ''
}
