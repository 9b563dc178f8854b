"""deploy/monitoring/ stays what `python -m axops.monitoring.exporters` writes from the alert pack, has
the shapes Prometheus (Operator) and Grafana read, and its rules pass `promtool check rules` and a
`promtool test rules` case where a route's 5xx rate fires the built-in alert (when promtool is installed:
Debian's `prometheus` package)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from axops.monitoring import exporters
from axops.monitoring.alert_pack import PACK

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
DURATION = r"^\d+[smhd]$"


def test_committed_files_are_what_the_generator_writes(tmp_path):
    assert exporters.main(["--check", "--out", str(DEPLOY)]) == 0, "run: python -m axops.monitoring.exporters"
    assert exporters.main(["--out", str(tmp_path)]) == 0
    for name in exporters.render():
        assert (tmp_path / name).read_text() == (DEPLOY / name).read_text(), name
    (tmp_path / "axops.rules.yml").write_text("# edited by hand\n")
    assert exporters.main(["--check", "--out", str(tmp_path)]) == 1


def _check_groups(groups: list[dict]) -> None:
    import re

    names = [g["name"] for g in groups]
    assert names == ["axops-series", "axops-alerts"]
    recorded = {r["record"] for r in groups[0]["rules"]}
    for name in ("gateway_requests", "gateway_server_errors", "gateway_latency_p99_ms", "gpu_node_up",
                 "deployment_replicas_max", "deployment_replica_restarts"):  # fmt: skip
        assert name in recorded
    alerts = groups[1]["rules"]
    assert len(alerts) == len(PACK)
    for rule, built in zip(alerts, PACK, strict=True):
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}
        assert rule["alert"].startswith("Axops") and rule["expr"] == built["promql"]
        assert re.match(DURATION, rule["for"])
        assert rule["labels"] == {"severity": built["severity"], "axops_builtin": built["builtin"]}
        assert set(rule["annotations"]) == {"summary", "description"}
        assert "{{labels." not in rule["annotations"]["summary"]  # Prometheus's $labels, not the pack's syntax
    # every series the alerts use is recorded (or exported under that name)
    used = {m for a in alerts for m in re.findall(r"\b(gateway_\w+|gpu_\w+|deployment_\w+)\b", a["expr"])}
    assert used <= recorded, used - recorded


def test_prometheus_rule_and_plain_rule_file_shapes():
    crd = yaml.safe_load((DEPLOY / "prometheus-rules.yaml").read_text())
    assert crd["apiVersion"] == "monitoring.coreos.com/v1" and crd["kind"] == "PrometheusRule"
    assert crd["metadata"]["name"] == "axops"
    _check_groups(crd["spec"]["groups"])
    plain = yaml.safe_load((DEPLOY / "axops.rules.yml").read_text())
    assert plain == {"groups": crd["spec"]["groups"]}


@pytest.mark.parametrize("name", ["axops-system.json", "axops-models.json"])
def test_grafana_dashboards(name):
    board = json.loads((DEPLOY / "grafana" / name).read_text())
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 30
    assert board["uid"] and board["title"].startswith("axops")
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert len(board["panels"]) >= 6
    ids = [p["id"] for p in board["panels"]]
    assert len(set(ids)) == len(ids)
    for panel in board["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}"
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
        assert panel["targets"] and all(t["expr"] and t["refId"] for t in panel["targets"])
        assert all(any(m in t["expr"] for m in ("axops_", "DCGM_", "kube_", "ALERTS")) for t in panel["targets"])


promtool = shutil.which("promtool")


@pytest.mark.skipif(promtool is None, reason="promtool not installed (Debian package `prometheus`)")
def test_promtool_checks_and_fires_the_5xx_alert(tmp_path):
    check = subprocess.run(
        [promtool, "check", "rules", str(DEPLOY / "axops.rules.yml")], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    shutil.copy(DEPLOY / "axops.rules.yml", tmp_path / "axops.rules.yml")
    rule = next(r for r in PACK if r["builtin"] == "gateway_5xx_rate")
    case = {
        "rule_files": ["axops.rules.yml"],
        "evaluation_interval": "15s",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": 'axops_gateway_requests_total{model="chat", upstream="u", status="2xx"}',
                        "values": "0+90x20",
                    },
                    {
                        "series": 'axops_gateway_requests_total{model="chat", upstream="u", status="5xx"}',
                        "values": "0+10x20",
                    },
                    {
                        "series": 'axops_gateway_requests_total{model="calm", upstream="u", status="2xx"}',
                        "values": "0+100x20",
                    },
                ],
                "promql_expr_test": [
                    {
                        "expr": "gateway_server_errors",
                        "eval_time": "10m",
                        "exp_samples": [{"labels": 'gateway_server_errors{route="chat"}', "value": 100}],
                    }
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "10m",
                        "alertname": "AxopsGateway5xxRate",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "critical",
                                    "axops_builtin": "gateway_5xx_rate",
                                    "route": "chat",
                                },
                                "exp_annotations": {
                                    "summary": "chat: server error rate 0.1",
                                    "description": rule["description"],
                                },
                            }
                        ],
                    }
                ],
            }
        ],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(case, sort_keys=False))
    result = subprocess.run([promtool, "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
