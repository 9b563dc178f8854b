"""Governance: policy violations found in the audit log and gateway records, approvals, compliance reports
and the governance dashboard."""
