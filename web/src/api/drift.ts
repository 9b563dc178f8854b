// Drift per gateway route and usage anomalies per key and user (/api/monitoring/drift, /anomalies), with the
// small pure helpers their panels use (tested in tests/drift.spec.ts).
import { query, requestJson } from './http'
import type { SeriesData } from './monitoring'

export type Severity = 'stable' | 'moderate' | 'drifted'
export type AnomalyKind = 'requests' | 'tokens' | 'errors' | 'off_hours' | 'new_ip'
export const ANOMALY_KINDS: AnomalyKind[] = ['requests', 'tokens', 'errors', 'off_hours', 'new_ip']
/** The features in the order the panel lists them. */
export const FEATURES = [
  'prompt_chars',
  'prompt_tokens',
  'hangul_ratio',
  'language_mix',
  'embedding',
  'judge_score',
  'feedback_score',
] as const

export interface DriftResult {
  route: string
  feature: string
  test: 'psi' | 'ks' | 'tv' | 'cosine' | string
  statistic: number
  p_value: number | null
  severity: Severity | string
  n_current: number
  n_reference: number
  current_start: string
  current_end: string
  reference_start: string
  reference_end: string
  computed_at: string
}

export interface DriftRoute {
  route: string
  latest: DriftResult[]
  history: { t: string; feature: string; test: string; statistic: number }[]
  reference: { start: string; end: string; pinned: boolean }
  window_hours: number
}

export interface Anomaly {
  id: string
  kind: AnomalyKind
  subject_type: 'api_key' | 'user'
  subject_id: string
  subject_name: string
  observed: number
  expected: number
  score: number
  detail: Record<string, unknown>
  first_seen: string
  last_seen: string
  acknowledged_at: string | null
  acknowledged_by: string | null
}

export const fetchDriftRoute = (route: string, days = 7) =>
  requestJson<DriftRoute>('GET', `/api/monitoring/drift/${encodeURIComponent(route)}${query({ days })}`)

export const fetchAnomalies = (kind: AnomalyKind | null, open: boolean | null) =>
  requestJson<Anomaly[]>('GET', `/api/monitoring/anomalies${query({ kind, open })}`)

export const ackAnomaly = (id: string) =>
  requestJson<Anomaly>('POST', `/api/monitoring/anomalies/${encodeURIComponent(id)}/ack`)

/** One line of the drift table: a feature with its tests' newest results. */
export interface FeatureRow {
  feature: string
  psi: DriftResult | null
  ks: DriftResult | null
  tv: DriftResult | null
  cosine: DriftResult | null
  severity: Severity
  n_current: number
  n_reference: number
}

const RANK: Record<string, number> = { stable: 0, moderate: 1, drifted: 2 }

/** The worse of severities (unknown words count as stable). */
export function worst(severities: string[]): Severity {
  let best = 0
  for (const s of severities) best = Math.max(best, RANK[s] ?? 0)
  return (['stable', 'moderate', 'drifted'] as const)[best]!
}

export function featureRows(latest: DriftResult[]): FeatureRow[] {
  const rows = new Map<string, FeatureRow>()
  for (const r of latest) {
    const row = rows.get(r.feature) ?? {
      feature: r.feature,
      psi: null,
      ks: null,
      tv: null,
      cosine: null,
      severity: 'stable' as Severity,
      n_current: 0,
      n_reference: 0,
    }
    if (r.test === 'psi' || r.test === 'ks' || r.test === 'tv' || r.test === 'cosine') row[r.test] = r
    row.severity = worst([row.severity, r.severity])
    row.n_current = Math.max(row.n_current, r.n_current)
    row.n_reference = Math.max(row.n_reference, r.n_reference)
    rows.set(r.feature, row)
  }
  const order = (f: string) => {
    const i = (FEATURES as readonly string[]).indexOf(f)
    return i < 0 ? FEATURES.length : i
  }
  return [...rows.values()].sort((a, b) => order(a.feature) - order(b.feature) || a.feature.localeCompare(b.feature))
}

/** The PSI history as chart series, one per feature (points in unix seconds). */
export function psiSeries(history: DriftRoute['history']): SeriesData[] {
  const byFeature = new Map<string, [number, number][]>()
  for (const h of history) {
    if (h.test !== 'psi') continue
    const points = byFeature.get(h.feature) ?? []
    points.push([Math.floor(Date.parse(h.t) / 1000), h.statistic])
    byFeature.set(h.feature, points)
  }
  return [...byFeature.entries()].map(([feature, points]) => ({
    labels: { feature },
    points: points.sort((a, b) => a[0] - b[0]),
  }))
}

export const SEVERITY_COLORS: Record<Severity, string> = { stable: 'success', moderate: 'warning', drifted: 'error' }

export function severityColor(severity: string): string {
  return SEVERITY_COLORS[severity as Severity] ?? 'grey'
}

/** How far over its expectation an anomaly was: "12.5×", or "+N" when nothing was expected. */
export function overExpected(a: Pick<Anomaly, 'observed' | 'expected'>): string {
  if (a.expected > 0) return `${Number((a.observed / a.expected).toPrecision(3))}×`
  return `+${Number(a.observed.toPrecision(3))}`
}
