// The semantic cache: a route's settings (part of the route, changed by gateway admins in the route dialog) and
// its figures for the Cost page (`GET /api/gateway/semantic-cache/stats`).
import type { SeriesData } from '@/api/monitoring'
import { query, requestJson } from '@/api/http'

export type SemanticScope = 'team' | 'key'

export interface SemanticCacheSettings {
  enabled: boolean
  embeddings_route: string | null
  /** Least cosine similarity that counts as the same prompt (0.5–1). */
  threshold: number
  ttl_s: number
  scope: SemanticScope
  max_entries: number
}

export interface SemanticCacheTotals {
  hits: number
  misses: number
  hit_rate: number | null
  saved_cost: number
}

export interface SemanticCacheRoute extends SemanticCacheTotals {
  route: string
  threshold: number | null
  enabled: boolean
}

export interface SemanticCachePoint extends SemanticCacheTotals {
  ts: string
}

export interface SemanticCacheStats {
  since: string
  until: string
  bucket: 'hour' | 'day'
  currency: string
  totals: SemanticCacheTotals
  routes: SemanticCacheRoute[]
  series: SemanticCachePoint[]
}

/** Hits, misses, hit rate and saved cost per route and over time, between unix seconds `from` and `to`. */
export function fetchSemanticCacheStats(from: number, to: number): Promise<SemanticCacheStats> {
  const q = query({ from: new Date(from * 1000).toISOString(), to: new Date(to * 1000).toISOString() })
  return requestJson<SemanticCacheStats>('GET', `/api/gateway/semantic-cache/stats${q}`)
}

export const SEMANTIC_DEFAULTS: SemanticCacheSettings = {
  enabled: false,
  embeddings_route: null,
  threshold: 0.95,
  ttl_s: 3600,
  scope: 'team',
  max_entries: 10000,
}

/** The form's copy of a route's settings (defaults where the route has none). */
export function settingsForm(saved: Partial<SemanticCacheSettings> | null | undefined): SemanticCacheSettings {
  return { ...SEMANTIC_DEFAULTS, ...(saved ?? {}) }
}

/** What keeps the settings from being accepted, as field keys (empty: fine). Off: nothing to check. */
export function settingsProblems(s: SemanticCacheSettings): ('route' | 'threshold' | 'ttl' | 'maxEntries')[] {
  if (!s.enabled) return []
  const out: ('route' | 'threshold' | 'ttl' | 'maxEntries')[] = []
  if (!s.embeddings_route) out.push('route')
  const threshold = Number(s.threshold)
  if (!(threshold >= 0.5 && threshold <= 1)) out.push('threshold')
  const ttl = Number(s.ttl_s)
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > 30 * 86400) out.push('ttl')
  const max = Number(s.max_entries)
  if (!Number.isInteger(max) || max < 1 || max > 1_000_000) out.push('maxEntries')
  return out
}

/** The body's `semantic_cache`: null when off (the route then makes no embeddings call), else the settings. */
export function settingsBody(s: SemanticCacheSettings): SemanticCacheSettings | null {
  if (!s.enabled) return null
  return {
    enabled: true,
    embeddings_route: s.embeddings_route,
    threshold: Number(s.threshold),
    ttl_s: Number(s.ttl_s),
    scope: s.scope,
    max_entries: Number(s.max_entries),
  }
}

/** The hit-rate line for `lineOption`: percent per bucket; buckets without lookups are left out. */
export function hitRateSeries(points: SemanticCachePoint[]): SeriesData[] {
  const kept = points.filter((p) => p.hit_rate !== null)
  return [
    {
      labels: {},
      points: kept.map((p) => [Math.floor(Date.parse(p.ts) / 1000), Math.round((p.hit_rate as number) * 1000) / 10]),
    },
  ]
}

/** A hit rate as a percentage with one decimal, or a dash without lookups. */
export function percent(rate: number | null): string {
  return rate === null ? '—' : `${(Math.round(rate * 1000) / 10).toFixed(1)}%`
}
