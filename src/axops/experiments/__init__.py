"""Experiment tracking: experiments → runs with params, tags, metric series; MLflow-compatible API."""
