import { authFetch, problemDetail } from '@/api/client'

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
