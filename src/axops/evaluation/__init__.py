"""Evaluation: metrics (Korean-aware), LLM judges, runs through the gateway, comparison reports, suites with a promotion gate, human review."""
