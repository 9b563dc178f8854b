"""The built-in alert rules (PRD §5.7, §9.2) as data: what `POST /api/alerts/rules/builtin` installs
per team (idempotent by `builtin` key) and what the Prometheus rule files in deploy/ are rendered
from (`promql` is the same rule in PromQL over the exported series)."""

from __future__ import annotations

PACK: list[dict] = [
    {
        "builtin": "replica_restart_loop",
        "name": "Replica restart loop",
        "description": "A deployment's replicas restarted 3 or more times in 15 minutes.",
        "expression": "delta(deployment_replica_restarts[15m]) >= 3",
        "promql": "increase(deployment_replica_restarts[15m]) >= 3",
        "for": "0s",
        "severity": "critical",
        "group_by": ["deployment"],
        "summary": "{{labels.deployment}}: {{value}} restarts in 15 minutes",
    },
    {
        "builtin": "gpu_node_down",
        "name": "GPU node down",
        "description": "A GPU node stopped answering (gpu_node_up is 0) for 5 minutes.",
        "expression": "max(gpu_node_up[5m]) == 0",
        "promql": "max_over_time(gpu_node_up[5m]) == 0",
        "for": "0s",
        "severity": "critical",
        "group_by": ["node"],
        "summary": "GPU node {{labels.node}} is not answering",
    },
    {
        "builtin": "gpu_overheating",
        "name": "GPU overheating",
        "description": "A GPU is at 85 °C or more.",
        "expression": "last(gpu_temperature_c[5m]) >= 85",
        "promql": "gpu_temperature_c >= 85",
        "for": "2m",
        "severity": "critical",
        "group_by": ["node"],
        "summary": "GPU {{labels.gpu}} on {{labels.node}} at {{value}} °C",
    },
    {
        "builtin": "gpu_memory_full",
        "name": "GPU memory at 95%",
        "description": "A GPU's memory is 95% used or more.",
        "expression": "last(gpu_memory_used_bytes[5m]) / last(gpu_memory_total_bytes[5m]) >= 0.95",
        "promql": "gpu_memory_used_bytes / gpu_memory_total_bytes >= 0.95",
        "for": "5m",
        "severity": "warning",
        "group_by": ["node"],
        "summary": "GPU {{labels.gpu}} on {{labels.node}}: memory {{value}} used",
    },
    {
        "builtin": "gateway_5xx_rate",
        "name": "5xx error rate over 5%",
        "description": "More than 5% of a route's requests failed with a server error in 5 minutes.",
        "expression": "sum(gateway_server_errors[5m]) / sum(gateway_requests[5m]) > 0.05",
        "promql": "sum by (route) (increase(gateway_server_errors[5m])) / "
        "sum by (route) (increase(gateway_requests[5m])) > 0.05",
        "for": "0s",
        "severity": "critical",
        "group_by": ["route"],
        "summary": "{{labels.route}}: server error rate {{value}}",
    },
    {
        "builtin": "token_spike",
        "name": "Tokens at 3x the trailing average",
        "description": "A route used 3 times or more tokens in the last hour than its hourly average "
        "over the 24 hours before.",
        "expression": "(sum(gateway_prompt_tokens[1h]) + sum(gateway_completion_tokens[1h])) >= 3 * "
        "(sum(gateway_prompt_tokens[24h] offset 1h) + sum(gateway_completion_tokens[24h] offset 1h)) / 24",
        "promql": "sum by (route) (increase(gateway_prompt_tokens[1h]) + increase(gateway_completion_tokens[1h])) "
        ">= 3 * sum by (route) (increase(gateway_prompt_tokens[24h] offset 1h) "
        "+ increase(gateway_completion_tokens[24h] offset 1h)) / 24",
        "for": "0s",
        "severity": "warning",
        "group_by": ["route"],
        "summary": "{{labels.route}}: {{value}} tokens in the last hour",
    },
    {
        "builtin": "latency_p95",
        "name": "p95 latency over 5 s",
        "description": "A route's p95 latency stayed over 5,000 ms for 5 minutes.",
        "expression": "last(gateway_latency_p95_ms[5m]) > 5000",
        "promql": "gateway_latency_p95_ms > 5000",
        "for": "5m",
        "severity": "warning",
        "group_by": ["route"],
        "summary": "{{labels.route}}: p95 latency {{value}} ms",
    },
    {
        "builtin": "gpu_utilization_high",
        "name": "GPU utilisation at 90% for 10 minutes",
        "description": "A GPU's utilisation stayed at 90% or more for 10 minutes.",
        "expression": "avg(gpu_utilization[5m]) >= 90",
        "promql": "avg_over_time(gpu_utilization[5m]) >= 90",
        "for": "10m",
        "severity": "info",
        "group_by": ["node"],
        "summary": "GPU {{labels.gpu}} on {{labels.node}} at {{value}}%",
    },
    {
        "builtin": "autoscaler_at_max",
        "name": "Autoscaler at its maximum",
        "description": "A deployment has wanted its maximum number of replicas for 10 minutes.",
        "expression": "last(deployment_replicas_desired[5m]) >= last(deployment_replicas_max[5m])",
        "promql": "deployment_replicas_desired >= deployment_replicas_max",
        "for": "10m",
        "severity": "warning",
        "group_by": ["deployment"],
        "summary": "{{labels.deployment}} runs at its maximum of {{value}} replicas",
    },
]
