import { authFetch, problemDetail } from '@/api/client'

/** A plain authenticated request to the API (for bodies openapi-fetch does not stream: file chunks). */
export async function call(method: string, path: string, body?: BodyInit, json = false): Promise<Response> {
  const headers = json ? { 'Content-Type': 'application/json' } : undefined
  return authFetch(new Request(window.location.origin + path, { method, body, headers }))
}

/** The human message of a failed response (problem+json `detail`, else the status). */
export async function failure(response: Response): Promise<string> {
  try {
    return problemDetail(await response.json(), `${response.status}`)
  } catch {
    return `${response.status} ${response.statusText}`
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Worth retrying: the server is busy or failed, not the request. */
export const transient = (status: number) => status === 429 || status >= 500
