// Approval requests (/api/governance/approvals): production promotions and deployments that need another
// person's approval, and access requests. Hand-typed after governance/approval_schemas.py until the client is
// regenerated.
import { query, requestJson } from './http'

export const APPROVAL_KINDS = ['promote', 'deploy', 'access'] as const
export type ApprovalKind = (typeof APPROVAL_KINDS)[number]
export const APPROVAL_STATUSES = ['pending', 'approved', 'rejected', 'cancelled', 'used'] as const
export type ApprovalStatus = (typeof APPROVAL_STATUSES)[number]
export const ACCESS_ACTIONS = ['call', 'deploy', 'download'] as const
export type AccessAction = (typeof ACCESS_ACTIONS)[number]

export interface Approval {
  id: string
  kind: ApprovalKind
  status: ApprovalStatus
  team_id: string
  target_type: 'model' | 'route'
  target_id: string | null
  target_name: string
  version_id: string | null
  version: number | null
  action: AccessAction | null
  requester_team_id: string | null
  requested_by: string | null
  requested_by_name: string | null
  reason: string
  decided_by: string | null
  decided_by_name: string | null
  decided_at: string | null
  comment: string
  expires_at: string | null
  used_at: string | null
  created_at: string
  expired: boolean
  can_decide: boolean
}

export interface ApprovalCreate {
  kind: ApprovalKind
  reason?: string
  version_id?: string | null
  model_id?: string | null
  route?: string | null
  action?: AccessAction | null
  team_id?: string | null
}

export const fetchApprovals = (filter: { status?: ApprovalStatus | null; mine?: boolean } = {}) =>
  requestJson<Approval[]>('GET', `/api/governance/approvals${query({ status: filter.status, mine: filter.mine })}`)
export const createApproval = (body: ApprovalCreate) => requestJson<Approval>('POST', '/api/governance/approvals', body)
export const decideApproval = (id: string, approve: boolean, comment: string) =>
  requestJson<Approval>(
    'POST',
    `/api/governance/approvals/${encodeURIComponent(id)}/${approve ? 'approve' : 'reject'}`,
    { comment },
  )
export const cancelApproval = (id: string) =>
  requestJson<Approval>('POST', `/api/governance/approvals/${encodeURIComponent(id)}/cancel`)

/** The word a request's chip shows: an approval past its week reads `expired`. */
export function approvalState(a: Pick<Approval, 'status' | 'expired'>): ApprovalStatus | 'expired' {
  return a.status === 'approved' && a.expired ? 'expired' : a.status
}

/** The requests the reader decides (others' requests, pending ones first as the server sends them) and their
 * own requests. */
export function splitApprovals(items: Approval[], userId: string | null): { inbox: Approval[]; mine: Approval[] } {
  const mine = items.filter((a) => a.requested_by === userId)
  const inbox = items.filter((a) => a.requested_by !== userId)
  return { inbox, mine }
}

/** What a request is for, in words of no language: `model v3`, `model` (access), `route`. */
export function approvalTarget(a: Pick<Approval, 'target_name' | 'version'>): string {
  return a.version === null ? a.target_name : `${a.target_name} v${a.version}`
}

/** Whether a failed call was refused for want of an approval (a pending request was made or reused). */
export function needsApproval(error: unknown): boolean {
  return (error as { code?: string | null } | null)?.code === 'approval_required'
}

/** The requester may withdraw a request still open, or an approval (or access) not used yet. */
export function cancellable(a: Pick<Approval, 'status' | 'expired'>): boolean {
  return a.status === 'pending' || (a.status === 'approved' && !a.expired)
}
