"""deploy/monitoring/ for clusters that run Prometheus, Alertmanager and Grafana, generated from code
so it stays in step (`python -m axops.monitoring.exporters [--check]`; tests/unit/test_deploy_monitoring.py
regenerates and diffs):

- `prometheus-rules.yaml`: a PrometheusRule (Prometheus Operator) and `axops.rules.yml`, the same
  groups as a plain rule file. Group `axops-series` records the metric history's series names from what
  a cluster's Prometheus scrapes: axops's own `/metrics` (axops_gateway_*), NVIDIA's DCGM exporter
  (DCGM_FI_DEV_*) and kube-state-metrics (kube_*: axops names its Kubernetes objects `axops-<name>`).
  Counts are counters there (the history keeps per-minute counts), which is why the alert pack's
  `promql` takes `increase()`. Group `axops-alerts` is the built-in alert pack (alert_pack.PACK).
- `grafana/axops-system.json`, `grafana/axops-models.json`: dashboards on the scraped names with a
  Prometheus datasource variable.

Not scraped anywhere, so neither recorded nor charted: cost (priced per request inside axops) and the
training series; the metric history and axops's own dashboards have them."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

from axops.monitoring.alert_pack import PACK

DEFAULT_OUT = Path(__file__).resolve().parents[3] / "deploy" / "monitoring"
DCGM_JOB = "nvidia-dcgm-exporter"  # the GPU Operator's scrape job; change with the cluster's


def _route(expr: str) -> str:
    return f'label_replace({expr}, "route", "$1", "model", "(.*)")'


def _per_route(expr: str) -> str:
    return f"sum by (route) ({_route(expr)})"


def _gpu(expr: str) -> str:
    return f'max by (node, gpu) (label_replace({expr}, "node", "$1", "Hostname", "(.*)"))'


def _deployment(expr: str, label: str = "deployment") -> str:
    return f'max by (deployment) (label_replace({expr}, "deployment", "$1", "{label}", "axops-(.*)"))'


def _quantile(q: float) -> str:
    inner = "sum by (model, le) (rate(axops_gateway_latency_seconds_bucket[5m]))"
    return f"max by (route) ({_route(f'1000 * histogram_quantile({q}, {inner})')})"


RECORDED: list[tuple[str, str]] = [
    ("gateway_requests", _per_route("axops_gateway_requests_total")),
    ("gateway_errors", _per_route('axops_gateway_requests_total{status=~"4xx|5xx"}')),
    ("gateway_server_errors", _per_route('axops_gateway_requests_total{status="5xx"}')),
    ("gateway_prompt_tokens", _per_route('axops_gateway_tokens_total{kind="prompt"}')),
    ("gateway_completion_tokens", _per_route('axops_gateway_tokens_total{kind="completion"}')),
    ("gateway_latency_p50_ms", _quantile(0.5)),
    ("gateway_latency_p95_ms", _quantile(0.95)),
    ("gateway_latency_p99_ms", _quantile(0.99)),
    ("gpu_utilization", _gpu("DCGM_FI_DEV_GPU_UTIL")),
    ("gpu_temperature_c", _gpu("DCGM_FI_DEV_GPU_TEMP")),
    ("gpu_power_w", _gpu("DCGM_FI_DEV_POWER_USAGE")),
    ("gpu_memory_used_bytes", _gpu("DCGM_FI_DEV_FB_USED * 1048576")),
    ("gpu_memory_total_bytes", _gpu("(DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE) * 1048576")),
    (
        "gpu_node_up",
        f'max by (node) (label_replace(up{{job="{DCGM_JOB}"}}, "node", "$1", "instance", "([^:]+)(:.*)?"))',
    ),
    ("deployment_replicas_ready", _deployment('kube_deployment_status_replicas_ready{deployment=~"axops-.*"}')),
    ("deployment_replicas_desired", _deployment('kube_deployment_spec_replicas{deployment=~"axops-.*"}')),
    (
        "deployment_replicas_max",
        _deployment(
            'kube_horizontalpodautoscaler_spec_max_replicas{horizontalpodautoscaler=~"axops-.*"}',
            "horizontalpodautoscaler",
        ),
    ),
    (
        "deployment_replica_restarts",
        'sum by (deployment) (label_replace(kube_pod_container_status_restarts_total{container="runtime", '
        'pod=~"axops-.*"}, "deployment", "$1", "pod", "axops-(.*)-[a-z0-9]+-[a-z0-9]+"))',
    ),
]


def _camel(key: str) -> str:
    return "Axops" + "".join(part.capitalize() for part in key.split("_"))


def _template(text: str) -> str:
    """The pack's `{{labels.x}}` / `{{value}}` in Prometheus's template language."""
    text = re.sub(r"\{\{\s*labels\.(\w+)\s*\}\}", r"{{ $labels.\1 }}", text)
    return re.sub(r"\{\{\s*value\s*\}\}", "{{ $value }}", text)


def rule_groups() -> list[dict]:
    alerts = [
        {
            "alert": _camel(rule["builtin"]),
            "expr": rule["promql"],
            "for": rule["for"],
            "labels": {"severity": rule["severity"], "axops_builtin": rule["builtin"]},
            "annotations": {"summary": _template(rule["summary"]), "description": rule["description"]},
        }
        for rule in PACK
    ]
    return [
        {"name": "axops-series", "interval": "15s", "rules": [{"record": n, "expr": e} for n, e in RECORDED]},
        {"name": "axops-alerts", "interval": "15s", "rules": alerts},
    ]


def prometheus_rule() -> dict:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "axops",
            "labels": {"app.kubernetes.io/name": "axops", "app.kubernetes.io/component": "monitoring"},
        },
        "spec": {"groups": rule_groups()},
    }


# --- Grafana --------------------------------------------------------------------------------------

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def _panel(pid: int, title: str, exprs: list[tuple[str, str]], unit: str, x: int, y: int, w: int = 12) -> dict:
    return {
        "id": pid,
        "type": "timeseries",
        "title": title,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": w, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(exprs)
        ],
    }


def _dashboard(uid: str, title: str, panels: list[dict], extra_vars: list[dict] = ()) -> dict:
    variables = [
        {
            "name": "datasource",
            "label": "Prometheus",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "hide": 0,
        },
        *extra_vars,
    ]
    return {
        "uid": uid,
        "title": title,
        "tags": ["axops"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": variables},
        "annotations": {"list": []},
        "panels": panels,
    }


def _layout(specs: list[tuple]) -> list[dict]:
    return [_panel(i + 1, *spec, x=(i % 2) * 12, y=(i // 2) * 8) for i, spec in enumerate(specs)]


def system_dashboard() -> dict:
    gpu = 'label_replace({m}, "node", "$1", "Hostname", "(.*)")'
    panels = _layout(
        [
            ("GPU utilisation", [(gpu.format(m="DCGM_FI_DEV_GPU_UTIL"), "{{node}} GPU {{gpu}}")], "percent"),
            (
                "GPU memory used",
                [
                    (
                        gpu.format(m="DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)"),
                        "{{node}} GPU {{gpu}}",
                    )
                ],
                "percentunit",
            ),
            ("GPU temperature", [(gpu.format(m="DCGM_FI_DEV_GPU_TEMP"), "{{node}} GPU {{gpu}}")], "celsius"),
            (
                "Ready replicas",
                [('kube_deployment_status_replicas_ready{deployment=~"axops-.*"}', "{{deployment}}")],
                "short",
            ),
            ("Requests per model", [("sum by (model) (rate(axops_gateway_requests_total[5m]))", "{{model}}")], "reqps"),
            (
                "Errors per model",
                [('sum by (model, status) (rate(axops_gateway_requests_total{status=~"4xx|5xx"}[5m]))', "{{model}} {{status}}")],
                "reqps",
            ),
            (
                "Gateway latency p95",
                [
                    (
                        "histogram_quantile(0.95, sum by (model, le) (rate(axops_gateway_latency_seconds_bucket[5m])))",
                        "{{model}}",
                    )
                ],
                "s",
            ),
            ("Firing alerts", [('count by (alertname, severity) (ALERTS{alertstate="firing", alertname=~"Axops.*"})', "{{alertname}} ({{severity}})")], "short"),
        ]
    )  # fmt: skip
    return _dashboard("axops-system", "axops / System", panels)


def models_dashboard() -> dict:
    sel = 'model=~"$route"'
    route_var = {
        "name": "route",
        "label": "Route",
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": "label_values(axops_gateway_requests_total, model)", "refId": "route"},
        "definition": "label_values(axops_gateway_requests_total, model)",
        "refresh": 2,
        "includeAll": True,
        "multi": True,
        "current": {},
        "hide": 0,
    }
    quantiles = [
        (f"histogram_quantile({q}, sum by (model, le) (rate(axops_gateway_latency_seconds_bucket{{{sel}}}[5m])))", f"{{{{model}}}} p{name}")
        for q, name in ((0.5, "50"), (0.95, "95"), (0.99, "99"))
    ]  # fmt: skip
    panels = _layout(
        [
            ("Requests per second", [(f"sum by (model) (rate(axops_gateway_requests_total{{{sel}}}[5m]))", "{{model}}")], "reqps"),
            (
                "Error rate",
                [
                    (
                        f'sum by (model) (rate(axops_gateway_requests_total{{{sel}, status=~"4xx|5xx"}}[5m])) '
                        f"/ sum by (model) (rate(axops_gateway_requests_total{{{sel}}}[5m]))",
                        "{{model}}",
                    )
                ],
                "percentunit",
            ),
            ("Latency p50 / p95 / p99", quantiles, "s"),
            (
                "Time to first token p95",
                [(f"histogram_quantile(0.95, sum by (model, le) (rate(axops_gateway_ttft_seconds_bucket{{{sel}}}[5m])))", "{{model}}")],
                "s",
            ),
            ("Tokens per second", [(f"sum by (model, kind) (rate(axops_gateway_tokens_total{{{sel}}}[5m]))", "{{model}} {{kind}}")], "short"),
            ("Replica queue depth", [("sum by (namespace, pod) (axops_runtime_queue_depth)", "{{pod}}")], "short"),
        ]
    )  # fmt: skip
    return _dashboard("axops-models", "axops / Models", panels, [route_var])


def render() -> dict[str, str]:
    """Every generated file by its path under deploy/monitoring/."""
    plain = {"groups": rule_groups()}
    header = (
        "# Generated by `python -m axops.monitoring.exporters` from src/axops/monitoring/alert_pack.py: do not edit.\n"
    )
    return {
        "prometheus-rules.yaml": header + yaml.safe_dump(prometheus_rule(), sort_keys=False, allow_unicode=True, width=1000),
        "axops.rules.yml": header + yaml.safe_dump(plain, sort_keys=False, allow_unicode=True, width=1000),
        "grafana/axops-system.json": json.dumps(system_dashboard(), indent=2, ensure_ascii=False) + "\n",
        "grafana/axops-models.json": json.dumps(models_dashboard(), indent=2, ensure_ascii=False) + "\n",
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check", action="store_true", help="Exit 1 when the files differ from what would be written.")
    args = parser.parse_args(argv)
    stale = []
    for name, content in render().items():
        path = args.out / name
        if args.check:
            if not path.exists() or path.read_text() != content:
                stale.append(str(path))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    if stale:
        print("out of date (run python -m axops.monitoring.exporters):", *stale, sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
