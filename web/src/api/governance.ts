// Compliance reports and the governance dashboard (`/api/governance/reports`, `/api/governance/dashboard`).
import { apiError, type Problem } from '@/api/client'
import { call, query, requestJson } from '@/api/http'

export type ReportPeriod = 'week' | 'month'
export type ControlStatus = 'met' | 'partial' | 'not_met'

export interface ComplianceReport {
  id: string
  period: ReportPeriod
  period_start: string
  period_end: string
  generated_at: string
  generated_by_name: string
  html_size: number
  html_sha256: string
  pdf_size: number | null
  pdf_sha256: string | null
  checklist: Record<string, ControlStatus>
}

export interface ChecklistItem {
  id: string
  pipa: string
  iso: string
  status: ControlStatus
  evidence: string
  facts: Record<string, number>
}

export interface ViolationCount {
  policy: string
  kind: string
  count: number
}

export interface HighRiskPrompt {
  at: string
  action: string
  excerpt: string
}

export interface GovernanceDashboard {
  start: string
  end: string
  violations: ViolationCount[]
  violations_recorded: boolean
  /** [weekday (0 = Monday), hour, count] in Asia/Seoul. */
  heatmap: [number, number, number][]
  high_risk: HighRiskPrompt[]
  high_risk_recorded: boolean
  checklist: ChecklistItem[]
}

export const listReports = () => requestJson<ComplianceReport[]>('GET', '/api/governance/reports')
export const generateReport = (period: ReportPeriod, start?: string | null) =>
  requestJson<ComplianceReport>('POST', '/api/governance/reports', start ? { period, start } : { period })
export const fetchDashboard = (from: string, to: string) =>
  requestJson<GovernanceDashboard>('GET', `/api/governance/dashboard${query({ from, to })}`)

/** A report file fetched with the session's token. */
export async function downloadReport(id: string, format: 'html' | 'pdf'): Promise<Blob> {
  const response = await call('GET', `/api/governance/reports/${encodeURIComponent(id)}/download${query({ format })}`)
  if (!response.ok) {
    const problem = (await response.json().catch(() => null)) as Problem | null
    throw apiError(problem, response.status)
  }
  return response.blob()
}

/** The file name a download is saved under: compliance-week-2026-11-02.pdf (the period's first day in Seoul). */
export function reportFileName(report: Pick<ComplianceReport, 'period' | 'period_start'>, format: 'html' | 'pdf') {
  const seoul = new Date(Date.parse(report.period_start) + 9 * 3600 * 1000).toISOString().slice(0, 10)
  return `compliance-${report.period}-${seoul}.${format}`
}

/** How many controls stand at each status. */
export function tallyChecklist(items: { status: ControlStatus }[]): Record<ControlStatus, number> {
  const tally: Record<ControlStatus, number> = { met: 0, partial: 0, not_met: 0 }
  for (const item of items) tally[item.status] += 1
  return tally
}

/** The 7 × 24 grid with every cell (zeros filled in), for the heatmap. */
export function heatmapGrid(cells: [number, number, number][]): [number, number, number][] {
  const counts = new Map(cells.map(([d, h, n]) => [d * 24 + h, n]))
  const grid: [number, number, number][] = []
  for (let d = 0; d < 7; d++) for (let h = 0; h < 24; h++) grid.push([h, d, counts.get(d * 24 + h) ?? 0])
  return grid
}
