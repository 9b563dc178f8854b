// The system, training and data dashboards (/api/monitoring/dashboards/*): one read each over a time range.
import { query, requestJson } from './http'

export interface DashboardRange {
  from: string
  to: string
  /** The range asked for was longer than 400 days: its last 400 days are shown. */
  clipped: boolean
}

export interface SystemDashboard {
  range: DashboardRange
  gpus: {
    gpus: number
    gpu_utilization: number | null
    gpu_memory_used_bytes: number
    gpu_memory_total_bytes: number
    nodes_up: number
    nodes_known: number
  }
  deployments: { active: number; by_status: Record<string, number>; replicas_ready: number; replicas_desired: number }
  requests: {
    requests: number
    errors: number
    server_errors: number
    error_rate: number | null
    p95_ms: number | null
    /** Counted from the usage records (ranges up to a day); else from the per-minute series (p95: their mean). */
    exact: boolean
  }
  routes: { route: string; requests: number; errors: number; p95_ms: number | null }[]
  /** Of the caller's teams (Admin: all). */
  firing_alerts: number
}

export interface OutcomeDay {
  day: string
  succeeded: number
  failed: number
  cancelled: number
}

export interface Waits {
  jobs: number
  p50_s: number | null
  p95_s: number | null
  max_s: number | null
}

export interface TrainingDashboard {
  range: DashboardRange
  outcomes: { succeeded: number; failed: number; cancelled: number; success_rate: number | null; days: OutcomeDay[] }
  gpu_hours: {
    total: number
    teams: { team_id: string; team: string | null; gpu_hours: number; jobs: number }[]
    top_jobs: { id: string; name: string; team: string | null; status: string; gpus: number; gpu_hours: number }[]
  }
  queue: {
    overall: Waits
    days: (Waits & { day: string })[]
    queued_total: number
    queued: {
      id: string
      name: string
      team: string | null
      priority: number
      queued_at: string
      status_reason: string | null
      wait_s: number
    }[]
  }
}

export interface DatasetQuality {
  dataset_id: string
  name: string
  version_id: string
  version: number
  rows: number | null
  bytes: number
  duplicate_ratio: number | null
  max_null_ratio: number | null
  warnings: number
  review_status: string
  sensitivity: string | null
}

export interface GrowthDay {
  day: string
  versions: number
  rows: number
  bytes: number
  total_versions: number
  total_rows: number
  total_bytes: number
}

export interface LineageLink {
  job_id: string
  job: string
  status: string
  dataset_id: string
  dataset: string
  dataset_version: number
  model_id: string | null
  model: string | null
  model_version: number | null
}

export interface DataDashboard {
  range: DashboardRange
  quality: {
    datasets: number
    scanned: number
    mean_duplicate_ratio: number | null
    with_warnings: number
    warning_kinds: Record<string, number>
    reviews: Record<string, number>
    rows: DatasetQuality[]
  }
  pii: {
    scanned_versions: number
    versions_with_findings: number
    entities: Record<string, number>
    days: { day: string; entities: Record<string, number> }[]
  }
  growth: { before: { versions: number; rows: number; bytes: number }; days: GrowthDay[] }
  lineage: { links: LineageLink[]; truncated: boolean }
}

/** A firing alert as the alerting API lists it (the fields this page shows). */
export interface ActiveAlert {
  id: string
  rule_name: string
  severity: string
  labels: Record<string, string>
  summary: string
  value: number | null
  fired_at: string | null
  started_at: string
  silenced: boolean
  acked_at: string | null
}

const range = (from: number, to: number) =>
  query({ from: new Date(from * 1000).toISOString(), to: new Date(to * 1000).toISOString() })

export const fetchSystemDashboard = (from: number, to: number) =>
  requestJson<SystemDashboard>('GET', `/api/monitoring/dashboards/system${range(from, to)}`)
export const fetchTrainingDashboard = (from: number, to: number) =>
  requestJson<TrainingDashboard>('GET', `/api/monitoring/dashboards/training${range(from, to)}`)
export const fetchDataDashboard = (from: number, to: number) =>
  requestJson<DataDashboard>('GET', `/api/monitoring/dashboards/data${range(from, to)}`)

/** The firing alerts (the alerting API); null when that API is not there (404). */
export async function fetchFiringAlerts(): Promise<ActiveAlert[] | null> {
  try {
    const page = await requestJson<ActiveAlert[] | { items: ActiveAlert[] }>('GET', '/api/alerts?state=firing&limit=20')
    return Array.isArray(page) ? page : (page?.items ?? [])
  } catch (e) {
    if ((e as { status?: number }).status === 404 || (e as { status?: number }).status === 405) return null
    throw e
  }
}
