"""Guardrails: the checks every gateway request and answer passes (PII, banned words, harmful content,
prompt injection), the policies that attach them to routes, teams and keys, and their decisions."""
