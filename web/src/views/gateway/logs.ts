// The request log's filters live in the page's URL query, so a link (the Usage page's "errors: N")
// opens a filtered view and a filtered view can be shared. These convert between the two.
import type { LocationQuery, LocationQueryRaw } from 'vue-router'
import type { LogQuery } from '@/api/gateway'

export type LogWindow = '1h' | '24h' | '7d' | '30d' | 'all' | 'custom'
export const LOG_WINDOWS: Exclude<LogWindow, 'custom'>[] = ['1h', '24h', '7d', '30d', 'all']
const HOURS: Record<string, number> = { '1h': 1, '24h': 24, '7d': 24 * 7, '30d': 24 * 30 }

/** What the page's filter controls hold. `window` is a relative span unless since/until came in the URL. */
export interface LogFilters {
  model: string
  upstream: string
  apiKeyId: string
  userId: string
  outcome: '' | 'ok' | 'error'
  status: string
  window: LogWindow
  since: string
  until: string
  /** Text searched in the masked request and answer (2-200 characters; the server looks 7 days back without a period). */
  q: string
}

export const SEARCH_MIN = 2
export const SEARCH_MAX = 200

const one = (v: LocationQuery[string]): string => (Array.isArray(v) ? (v[0] ?? '') : (v ?? '')) as string

export function filtersFromQuery(q: LocationQuery): LogFilters {
  const outcome = one(q.outcome)
  const since = one(q.since)
  const until = one(q.until)
  const window = one(q.window) as LogWindow
  return {
    model: one(q.model),
    upstream: one(q.upstream),
    apiKeyId: one(q.api_key_id),
    userId: one(q.user_id),
    outcome: outcome === 'ok' || outcome === 'error' ? outcome : '',
    status: one(q.status),
    since,
    until,
    q: one(q.q),
    window: since || until ? 'custom' : LOG_WINDOWS.includes(window as never) ? window : '24h',
  }
}

export function queryFromFilters(f: LogFilters): LocationQueryRaw {
  const q: LocationQueryRaw = {}
  if (f.model) q.model = f.model
  if (f.upstream) q.upstream = f.upstream
  if (f.apiKeyId) q.api_key_id = f.apiKeyId
  if (f.userId) q.user_id = f.userId
  if (f.outcome) q.outcome = f.outcome
  if (f.status) q.status = f.status
  if (f.q) q.q = f.q
  if (f.window === 'custom') {
    if (f.since) q.since = f.since
    if (f.until) q.until = f.until
  } else if (f.window !== '24h') q.window = f.window
  return q
}

/** A status filter the API accepts: empty, or a whole number from 100 to 599. */
export function statusValid(status: string): boolean {
  return status === '' || (/^\d{3}$/.test(status) && Number(status) >= 100 && Number(status) <= 599)
}

/** A search the API accepts: empty, or 2 to 200 characters once trimmed (counted as the server does). */
export function searchValid(text: string): boolean {
  const length = [...text.trim()].length
  return length === 0 || (length >= SEARCH_MIN && length <= SEARCH_MAX)
}

/** The API's query for these filters; a relative window ends now. */
export function apiQuery(f: LogFilters, now = new Date()): LogQuery {
  const q: LogQuery = {}
  if (f.model) q.model = f.model
  if (f.upstream) q.upstream = f.upstream
  if (f.apiKeyId) q.api_key_id = f.apiKeyId
  if (f.userId) q.user_id = f.userId
  if (f.outcome) q.outcome = f.outcome
  if (f.status && statusValid(f.status)) q.status = Number(f.status)
  if (f.q.trim() && searchValid(f.q)) q.q = f.q.trim()
  if (f.window === 'custom') {
    if (f.since) q.since = f.since
    if (f.until) q.until = f.until
  } else if (f.window !== 'all') q.since = new Date(now.getTime() - HOURS[f.window]! * 3_600_000).toISOString()
  return q
}

/** How many filters narrow the list beyond the default window (for the no-match state). */
export function narrowed(f: LogFilters): boolean {
  return !!(f.model || f.upstream || f.apiKeyId || f.userId || f.outcome || f.status || f.q || f.window === 'custom')
}

/** The log of one usage row's failing requests over the Usage page's window (its "errors: N"). */
export function errorsLink(
  group: { by: 'model' | 'upstream' | 'other'; value?: string },
  since: string,
  until: string,
): { path: string; query: LocationQueryRaw } {
  const query: LocationQueryRaw = { outcome: 'error', since, until }
  if (group.by !== 'other' && group.value) query[group.by] = group.value
  return { path: '/gateway/logs', query }
}
