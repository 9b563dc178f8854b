"""Metric history (issue 17): time series kept in PostgreSQL — raw points, per-minute and per-hour
rollups, retention — and the collectors that fill them (the gateway's usage per route)."""
