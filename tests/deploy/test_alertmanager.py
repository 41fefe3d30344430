"""Alertmanager's route tree (deploy/monitoring/alertmanager.yml) and its copies.

amtool (built from the same Alertmanager module the native stack runs, ADR 0026) checks the
file and answers, for every alert in the rule file, which receiver it reaches. The
kube-prometheus-stack values must carry the same tree, and compose must mount the file and
the webhook files where the tree reads them. The native stack runs the file itself
(tests/e2e/alerts.rs: a Kafka outage reaches the pager webhook and resolves).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO

CONFIG = REPO / "deploy/monitoring/alertmanager.yml"
KPS_VALUES = REPO / "deploy/monitoring/kube-prometheus-stack.values.yaml"
RULES = REPO / "deploy/monitoring/rules/learnflow.rules.yaml"
COMPOSE = REPO / "docker/compose.observability.yaml"
SECRET = "learnflow-alert-webhooks"
SECRET_DIR = f"/etc/alertmanager/secrets/{SECRET}/"
RECEIVER_OF = {"critical": "pager", "warning": "chat"}


def config() -> dict:
    return yaml.safe_load(CONFIG.read_text())


def alerts() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [r for g in groups for r in g["rules"] if "alert" in r]


def routes_to(amtool: str, config_file: Path, labels: dict[str, str]) -> str:
    out = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={config_file}"]
        + [f"{k}={v}" for k, v in labels.items()],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip()


def test_amtool_accepts_the_config(amtool):
    out = subprocess.run(
        [amtool, "check-config", str(CONFIG)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_amtool_refuses_a_broken_config(amtool, tmp_path):
    """The check above can fail: a route to a receiver that does not exist is refused."""
    broken = config()
    broken["route"]["routes"][1]["receiver"] = "no-such-receiver"
    path = tmp_path / "broken.yml"
    path.write_text(yaml.safe_dump(broken))
    out = subprocess.run(
        [amtool, "check-config", str(path)], capture_output=True, text=True, check=False
    )
    assert out.returncode != 0


@pytest.mark.parametrize("rule", alerts(), ids=lambda r: r["alert"])
def test_every_alert_reaches_the_receiver_of_its_severity(amtool, rule):
    labels = dict(rule.get("labels", {}))
    severity = labels.get("severity")
    assert severity in RECEIVER_OF, f"{rule['alert']}: severity {severity!r} has no receiver"
    labels |= {"alertname": rule["alert"], "service": "course-agent"}
    assert routes_to(amtool, CONFIG, labels) == RECEIVER_OF[severity]


def test_the_route_test_can_fail(amtool, tmp_path):
    swapped = config()
    for route in swapped["route"]["routes"]:
        if route["receiver"] == "pager":
            route["receiver"] = "chat"
    path = tmp_path / "swapped.yml"
    path.write_text(yaml.safe_dump(swapped))
    labels = {"alertname": "LearnFlowKafkaUnreachable", "severity": "critical"}
    assert routes_to(amtool, path, labels) == "chat"


def test_kube_prometheus_stack_heartbeats_are_never_sent(amtool):
    for name in ["Watchdog", "InfoInhibitor"]:
        assert routes_to(amtool, CONFIG, {"alertname": name, "severity": "none"}) == "null"


def test_alerts_are_grouped_by_alertname_and_service():
    assert config()["route"]["group_by"] == ["alertname", "service"]


def test_a_critical_inhibits_the_warnings_of_the_same_service_and_slo():
    rules = config()["inhibit_rules"]
    assert rules == [
        {
            "source_matchers": ['severity="critical"'],
            "target_matchers": ['severity="warning"'],
            "equal": ["service", "slo"],
        }
    ]


def test_webhook_urls_come_from_the_secret_files_only():
    for receiver in config()["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            assert "url" not in hook, f"{receiver['name']}: a URL in the file"
            assert hook["url_file"] == f"{SECRET_DIR}{receiver['name']}-url"
            assert hook["send_resolved"] is True


def test_kube_prometheus_stack_carries_the_same_tree_and_mounts_the_secret():
    values = yaml.safe_load(KPS_VALUES.read_text())["alertmanager"]
    assert values["config"] == config(), (
        "kube-prometheus-stack.values.yaml's alertmanager.config differs from "
        "deploy/monitoring/alertmanager.yml"
    )
    # The operator mounts each listed Secret at /etc/alertmanager/secrets/<name>/.
    assert SECRET in values["alertmanagerSpec"]["secrets"]


def test_compose_mounts_the_config_and_the_webhook_files_where_it_reads_them():
    doc = yaml.safe_load(COMPOSE.read_text())
    svc = doc["services"]["alertmanager"]
    assert any(
        v.startswith("../deploy/monitoring/alertmanager.yml:/etc/alertmanager/alertmanager.yml")
        for v in svc["volumes"]
    )
    targets = {s["target"] for s in svc["secrets"]}
    wanted = {
        hook["url_file"]
        for receiver in config()["receivers"]
        for hook in receiver.get("webhook_configs", [])
    }
    assert targets == wanted
    for secret in svc["secrets"]:
        # A file a variable names, /dev/null (empty) when unset: compose refuses to start
        # over an unset `environment:` secret.
        assert re.fullmatch(r"\$\{LEARNFLOW_ALERT_(PAGER|CHAT)_URL_FILE:-/dev/null\}",
                            doc["secrets"][secret["source"]]["file"]), doc["secrets"][secret["source"]]
    prometheus = yaml.safe_load((REPO / "docker/prometheus/prometheus.yml").read_text())
    senders = [
        t
        for am in prometheus["alerting"]["alertmanagers"]
        for c in am["static_configs"]
        for t in c["targets"]
    ]
    assert senders == ["alertmanager:9093"]
