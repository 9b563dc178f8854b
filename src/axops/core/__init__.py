"""Shared plumbing (database, storage, errors, tasks, telemetry). Knows no domain."""
