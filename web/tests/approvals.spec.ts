import { describe, expect, it } from 'vitest'
import {
  approvalState,
  approvalTarget,
  cancellable,
  needsApproval,
  splitApprovals,
  type Approval,
} from '@/api/approvals'

const base: Approval = {
  id: 'a1',
  kind: 'promote',
  status: 'pending',
  team_id: 't',
  target_type: 'model',
  target_id: 'm',
  target_name: '요약-모델',
  version_id: 'v',
  version: 3,
  action: null,
  requester_team_id: null,
  requested_by: 'u1',
  requested_by_name: 'dev',
  reason: '',
  decided_by: null,
  decided_by_name: null,
  decided_at: null,
  comment: '',
  expires_at: null,
  used_at: null,
  created_at: '2026-01-01T00:00:00Z',
  expired: false,
  can_decide: false,
}

describe('approvals', () => {
  it('shows an approval past its week as expired, other states as they are', () => {
    expect(approvalState({ status: 'approved', expired: true })).toBe('expired')
    expect(approvalState({ status: 'approved', expired: false })).toBe('approved')
    expect(approvalState({ status: 'rejected', expired: false })).toBe('rejected')
  })

  it("splits the reader's own requests from the ones they decide, keeping the server's order", () => {
    const items = [
      { ...base, id: '1', requested_by: 'u2' },
      { ...base, id: '2', requested_by: 'u1' },
      { ...base, id: '3', requested_by: 'u3', status: 'approved' as const },
    ]
    const { inbox, mine } = splitApprovals(items, 'u1')
    expect(inbox.map((a) => a.id)).toEqual(['1', '3'])
    expect(mine.map((a) => a.id)).toEqual(['2'])
    expect(splitApprovals(items, null).mine).toEqual([])
  })

  it('names the target with its version when there is one', () => {
    expect(approvalTarget(base)).toBe('요약-모델 v3')
    expect(approvalTarget({ target_name: 'chat-ko', version: null })).toBe('chat-ko')
  })

  it('recognises an approval refusal by its code only', () => {
    expect(needsApproval({ code: 'approval_required' })).toBe(true)
    expect(needsApproval({ code: 'evaluation_gate_failed' })).toBe(false)
    expect(needsApproval(null)).toBe(false)
    expect(needsApproval(new Error('approval_required'))).toBe(false)
  })

  it('lets the requester cancel open requests and unused approvals only', () => {
    expect(cancellable({ status: 'pending', expired: false })).toBe(true)
    expect(cancellable({ status: 'approved', expired: false })).toBe(true)
    expect(cancellable({ status: 'approved', expired: true })).toBe(false)
    expect(cancellable({ status: 'used', expired: false })).toBe(false)
    expect(cancellable({ status: 'rejected', expired: false })).toBe(false)
  })
})
