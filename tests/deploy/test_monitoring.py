"""Offline checks of the monitoring assets: dashboards/*.json and deploy/monitoring/.

- the rule file passes `promtool check rules` and its unit tests `promtool test rules`, and
  every alert is tested firing and not firing, labelled and annotated with a runbook that exists;
- every dashboard is a provisioning-ready Grafana model (unique uids, the `datasource`
  variable on every panel, units, titles, descriptions, sane grid, unique panel ids);
- every PromQL expression of dashboards and rules parses (promql_parser), after Grafana's
  variables are filled in;
- every metric an expression selects is one the code, daprd or Kubernetes exports (names read
  from the crates' names modules, Dapr's and Kubernetes' from the tables below), with only the
  labels it really has;
- the kube-prometheus-stack values select what the LearnFlow chart labels, and hold no password.

The live counterpart is tests/e2e/dashboards.rs: every query against the real stack.
"""

import json
import re
import urllib.parse
import subprocess

import promql_parser
import pytest

from conftest import REPO, load_yaml_docs

DASHBOARDS = sorted((REPO / "dashboards").glob("*.json"))
MONITORING = REPO / "deploy" / "monitoring"
RULES = MONITORING / "rules" / "learnflow.rules.yaml"
RULE_TESTS = MONITORING / "rules" / "learnflow.rules.test.yaml"
VALUES = MONITORING / "kube-prometheus-stack.values.yaml"
README = MONITORING / "README.md"
CHART_VALUES = REPO / "deploy" / "helm" / "learnflow" / "values.yaml"

EXPECTED_DASHBOARDS = {"learnflow-flow.json", "kafka-traffic.json", "dapr-sidecars.json", "service-red-slo.json"}
DATASOURCE = {"type": "prometheus", "uid": "$datasource"}
# Labels a scrape adds to every series: the native stack's and Kubernetes' target labels.
TARGET_LABELS = {"job", "instance", "service", "app_id", "namespace", "pod", "container", "endpoint", "stack"}

# Grafana unit ids the dashboards may use (a typo such as "sec" renders as a bare number).
GRAFANA_UNITS = {
    "none", "short", "percent", "percentunit", "s", "ms", "µs", "ns", "m", "h", "d", "dtdurations",
    "bytes", "decbytes", "bits", "kbytes", "mbytes", "Bps", "binBps", "bps",
    "reqps", "rps", "wps", "iops", "ops", "cps", "eps", "mps", "recps", "rowsps", "hertz",
    "reqpm", "rpm", "wpm", "opm", "cpm", "epm", "mpm", "bool", "bool_yes_no", "bool_on_off",
    "dateTimeAsIso", "dateTimeFromNow",
}

# Series daprd 1.18 exports (dapr/dapr pkg/diagnostics/*_monitoring.go, pkg/metrics), with their
# Prometheus type and own labels. Histograms expose _bucket (plus le), _sum and _count.
_PUBSUB_EGRESS = {"app_id", "component", "namespace", "success", "topic"}
_PUBSUB_INGRESS = {"app_id", "component", "namespace", "process_status", "status", "topic"}
_RESILIENCY = {"app_id", "name", "policy", "namespace", "flow_direction", "target", "status"}
_HTTP = {"app_id", "method", "path", "status"}
_GRPC_SERVER = {"app_id", "grpc_server_method", "grpc_server_status"}
_GRPC_CLIENT = {"app_id", "grpc_client_method", "grpc_client_status"}
DAPR_SERIES = {
    "dapr_component_pubsub_egress_count": ("counter", _PUBSUB_EGRESS),
    "dapr_component_pubsub_egress_latencies": ("histogram", _PUBSUB_EGRESS),
    "dapr_component_pubsub_ingress_count": ("counter", _PUBSUB_INGRESS),
    "dapr_component_pubsub_ingress_latencies": ("histogram", _PUBSUB_INGRESS),
    "dapr_component_pubsub_egress_bulk_count": ("counter", _PUBSUB_EGRESS),
    "dapr_component_pubsub_egress_bulk_event_count": ("counter", _PUBSUB_EGRESS),
    "dapr_component_pubsub_egress_bulk_latencies": ("histogram", _PUBSUB_EGRESS),
    "dapr_component_pubsub_ingress_bulk_count": ("counter", _PUBSUB_INGRESS - {"status"}),
    "dapr_component_pubsub_ingress_bulk_event_count": ("counter", _PUBSUB_INGRESS - {"status"}),
    "dapr_component_pubsub_ingress_bulk_latencies": ("histogram", _PUBSUB_INGRESS - {"status"}),
    "dapr_component_state_count": ("counter", {"app_id", "component", "namespace", "operation", "success"}),
    "dapr_component_state_latencies": ("histogram", {"app_id", "component", "namespace", "operation", "success"}),
    "dapr_runtime_service_invocation_req_sent_total": ("counter", {"app_id", "dst_app_id", "type"}),
    "dapr_runtime_service_invocation_req_recv_total": ("counter", {"app_id", "src_app_id"}),
    "dapr_runtime_service_invocation_res_sent_total": ("counter", {"app_id", "dst_app_id", "status"}),
    "dapr_runtime_service_invocation_res_recv_total": ("counter", {"app_id", "src_app_id", "status", "type"}),
    "dapr_runtime_service_invocation_res_recv_latency_ms": ("histogram", {"app_id", "src_app_id", "status"}),
    "dapr_runtime_component_loaded": ("counter", {"app_id"}),
    "dapr_runtime_component_init_total": ("counter", {"app_id", "component"}),
    "dapr_runtime_component_init_fail_total": ("counter", {"app_id", "component", "reason", "componentName"}),
    "dapr_http_server_request_count": ("counter", _HTTP),
    "dapr_http_server_response_count": ("counter", _HTTP),
    "dapr_http_server_latency": ("histogram", _HTTP),
    "dapr_http_server_request_bytes": ("histogram", {"app_id"}),
    "dapr_http_server_response_bytes": ("histogram", {"app_id"}),
    "dapr_http_client_completed_count": ("counter", _HTTP),
    "dapr_http_client_roundtrip_latency": ("histogram", _HTTP),
    "dapr_http_client_sent_bytes": ("histogram", {"app_id", "method", "path"}),
    "dapr_http_client_received_bytes": ("histogram", {"app_id"}),
    "dapr_http_healthprobes_completed_count": ("counter", {"app_id", "status"}),
    "dapr_http_healthprobes_roundtrip_latency": ("histogram", {"app_id", "status"}),
    "dapr_grpc_io_server_completed_rpcs": ("counter", _GRPC_SERVER),
    "dapr_grpc_io_server_server_latency": ("histogram", _GRPC_SERVER),
    "dapr_grpc_io_server_received_bytes_per_rpc": ("histogram", {"app_id", "grpc_server_method"}),
    "dapr_grpc_io_server_sent_bytes_per_rpc": ("histogram", {"app_id", "grpc_server_method"}),
    "dapr_grpc_io_client_completed_rpcs": ("counter", _GRPC_CLIENT),
    "dapr_grpc_io_client_roundtrip_latency": ("histogram", _GRPC_CLIENT),
    "dapr_grpc_io_client_sent_bytes_per_rpc": ("histogram", {"app_id", "grpc_client_method"}),
    "dapr_grpc_io_client_received_bytes_per_rpc": ("histogram", {"app_id", "grpc_client_method"}),
    "dapr_grpc_io_healthprobes_completed_count": ("counter", {"app_id", "grpc_client_status"}),
    "dapr_grpc_io_healthprobes_roundtrip_latency": ("histogram", {"app_id", "grpc_client_status"}),
    "dapr_resiliency_loaded": ("counter", {"app_id", "name", "namespace"}),
    "dapr_resiliency_count": ("counter", _RESILIENCY),
    "dapr_resiliency_activations_total": ("counter", _RESILIENCY),
    "dapr_resiliency_cb_state": ("gauge", _RESILIENCY),
    "dapr_error_code_total": ("counter", {"app_id", "error_code", "category"}),
    # The Go client's process and runtime collectors in daprd.
    "process_cpu_seconds_total": ("counter", set()),
    "process_resident_memory_bytes": ("gauge", set()),
    "process_virtual_memory_bytes": ("gauge", set()),
    "process_open_fds": ("gauge", set()),
    "process_start_time_seconds": ("gauge", set()),
    "go_goroutines": ("gauge", set()),
    "go_threads": ("gauge", set()),
    "go_memstats_alloc_bytes": ("gauge", set()),
}
# Kubernetes only (the learnflow-kubernetes-alerts group): kube-state-metrics v2 and the
# kubelet's cAdvisor, as kube-prometheus-stack scrapes them.
KUBERNETES_SERIES = {
    "kube_pod_container_status_restarts_total": ("counter", {"namespace", "pod", "container", "uid"}),
    "kube_pod_container_status_last_terminated_reason": ("gauge", {"namespace", "pod", "container", "uid", "reason"}),
    "kube_pod_container_resource_limits": ("gauge", {"namespace", "pod", "container", "uid", "node", "resource", "unit"}),
    "kube_horizontalpodautoscaler_status_current_replicas": ("gauge", {"namespace", "horizontalpodautoscaler"}),
    "kube_horizontalpodautoscaler_spec_max_replicas": ("gauge", {"namespace", "horizontalpodautoscaler"}),
    "kube_horizontalpodautoscaler_status_desired_replicas": ("gauge", {"namespace", "horizontalpodautoscaler"}),
    "container_memory_working_set_bytes": ("gauge", {"namespace", "pod", "container", "id", "image", "name"}),
}
# Recorded and described by the metrics-process crate (lf-telemetry's `process` module,
# prefix PROCESS_PREFIX); the names modules name the ones dashboards use.
PROCESS_SERIES = {
    "learnflow_process_cpu_seconds_total": ("counter", set()),
    "learnflow_process_resident_memory_bytes": ("gauge", set()),
    "learnflow_process_virtual_memory_bytes": ("gauge", set()),
    "learnflow_process_threads": ("gauge", set()),
    "learnflow_process_open_fds": ("gauge", set()),
    "learnflow_process_max_fds": ("gauge", set()),
    "learnflow_process_start_time_seconds": ("gauge", set()),
}
# postgres_exporter v0.11.1's default collectors (the Debian package and the image compose
# runs), as it serves them: every series carries the `server` it scrapes.
_PG = {"server"}
_PG_DB = {"server", "datid", "datname"}
POSTGRES_EXPORTER_SERIES = {
    "pg_up": ("gauge", set()),
    "pg_settings_max_connections": ("gauge", _PG),
    "pg_stat_activity_count": ("gauge", _PG | {"datname", "state"}),
    "pg_stat_activity_max_tx_duration": ("gauge", _PG | {"datname", "state"}),
    "pg_locks_count": ("gauge", _PG | {"datname", "mode"}),
    "pg_database_size_bytes": ("gauge", _PG | {"datname"}),
    **{f"pg_stat_database_{c}": ("counter", _PG_DB) for c in (
        "xact_commit", "xact_rollback", "blks_hit", "blks_read", "deadlocks", "conflicts",
        "temp_bytes", "tup_inserted", "tup_updated", "tup_deleted", "tup_fetched", "tup_returned")},
    "pg_stat_database_numbackends": ("gauge", _PG_DB),
}
JMX_EXPORTER_RULES = REPO / "deploy/local/kafka-jmx-exporter.yaml"
_ALTERNATIVES = re.compile(r"\(((?:\w+\|)*\w+)\)")


def jmx_exporter_series():
    """{series: (type, labels)} the broker's JMX exporter serves, read from its rules: a
    `$1` in a rule's name takes each alternative of the pattern's first group, lower-cased
    (the rules set lowercaseOutputName)."""
    config = load_yaml_docs(JMX_EXPORTER_RULES)[0]
    assert config.get("lowercaseOutputName") is True
    out = {}
    for rule in config["rules"]:
        name, kind = rule["name"], rule["type"].lower()
        labels = set((rule.get("labels") or {}).keys())
        names = [name]
        if "$1" in name:
            first = _ALTERNATIVES.search(rule["pattern"])
            assert first, f"{name}: $1 needs a group of alternatives in {rule['pattern']!r}"
            names = [name.replace("$1", alt) for alt in first.group(1).split("|")]
        for n in names:
            out[n.lower()] = (kind, labels)
    return out


# Prometheus's own synthetic series.
PROMETHEUS_SERIES = {"up": ("gauge", set()), "ALERTS": ("gauge", {"alertname", "alertstate", "severity", "slo"})}

# Grafana's interval variables, as a 15 s scrape would fill them.
GRAFANA_INTERVALS = {"__rate_interval": "1m", "__interval": "30s", "__range": "1h"}


# ------------------------------------------------------------------------------ metrics in code

def _rust_files():
    return sorted(list((REPO / "crates").glob("*/src/**/*.rs")) + list((REPO / "services").glob("*/src/**/*.rs")))


def _names_modules():
    """The modules that hold metric names: one per crate (house rule)."""
    return sorted(list((REPO / "crates").glob("*/src/names.rs")) + list((REPO / "services").glob("*/src/metrics.rs")))


_CONST = re.compile(r'pub const (\w+): &str = "(learnflow_\w+)";')
_DESCRIBE = re.compile(r"describe_(counter|gauge|histogram)!\(\s*(?:names::)?(\w+)\s*,")
_RECORD = re.compile(r"\b(counter|gauge|histogram)!\(\s*(?:names::)?([A-Z][A-Z0-9_]*)\s*(?:,(.*?))?\)\s*\.\s*(?:set|increment|record|absolute)\(", re.S)
_PAIR = re.compile(r'"(\w+)"\s*=>')
_LABEL_ARRAY = re.compile(r"let labels = \[(.*?)\];", re.S)
_ARRAY_KEY = re.compile(r'\(\s*"(\w+)"\s*,')


def code_metrics():
    """{exposed family name: (type, labels)} for every learnflow_* metric, read from the code:
    names from the names modules, types from their describe_* calls, labels from the
    counter!/gauge!/histogram! calls that record them."""
    consts, kinds = {}, {}
    for f in _names_modules():
        text = f.read_text()
        for ident, name in _CONST.findall(text):
            assert consts.get(ident, name) == name, f"{ident} means two metrics"
            consts[ident] = name
        for kind, ident in _DESCRIBE.findall(text):
            kinds[ident] = kind
    labels = {ident: set() for ident in consts}
    for f in _rust_files():
        text = f.read_text()
        for m in _RECORD.finditer(text):
            kind, ident, args = m.group(1), m.group(2), m.group(3) or ""
            if ident not in consts:
                continue
            assert kinds.get(ident) == kind, f"{f}: {ident} recorded as a {kind}, described as {kinds.get(ident)}"
            labels[ident] |= set(_PAIR.findall(args))
            if "&labels" in args:
                arrays = [a for a in _LABEL_ARRAY.finditer(text) if a.start() < m.start()]
                assert arrays, f"{f}: {ident} recorded with &labels but no `let labels = [...]` before it"
                labels[ident] |= set(_ARRAY_KEY.findall(arrays[-1].group(1)))
    for ident, name in consts.items():
        if name in PROCESS_SERIES:
            assert ident not in kinds, f"{ident} is described by metrics-process, not here"
            kinds[ident] = PROCESS_SERIES[name][0]
    missing = sorted(i for i in consts if i not in kinds)
    assert not missing, f"metrics without a describe_* call: {missing}"
    return {**PROCESS_SERIES, **{consts[i]: (kinds[i], labels[i]) for i in consts}}


def exported_series():
    """{series name: labels} for everything the code, daprd and Kubernetes expose, histograms expanded."""
    out = {}
    everything = {**code_metrics(), **DAPR_SERIES, **KUBERNETES_SERIES, **PROMETHEUS_SERIES,
                  **POSTGRES_EXPORTER_SERIES, **jmx_exporter_series()}
    for family, (kind, labels) in everything.items():
        if kind == "histogram":
            out[family + "_bucket"] = labels | {"le"}
            out[family + "_sum"] = set(labels)
            out[family + "_count"] = set(labels)
        else:
            out[family] = set(labels)
    return out


def test_the_broker_series_are_read_from_the_jmx_exporter_rules():
    series = jmx_exporter_series()
    # The parser must expand alternatives and carry labels, or the dashboard check is hollow.
    assert series["kafka_server_bytesin_total"] == ("counter", set())
    assert series["kafka_controller_offlinepartitionscount"] == ("gauge", set())
    assert series["kafka_network_request_total_time_ms"] == ("gauge", {"request", "quantile"})
    assert series["kafka_log_size_bytes"] == ("gauge", {"topic", "partition"})


def test_code_metrics_are_read_from_the_names_modules():
    metrics = code_metrics()
    # The parser must find the flow metrics and their labels, or every later check is hollow.
    assert metrics["learnflow_http_server_requests_total"] == (
        "counter", {"http_route", "http_request_method", "http_response_status_class"})
    assert metrics["learnflow_lesson_to_db_seconds"][0] == "histogram"
    assert metrics["learnflow_kafka_consumergroup_lag"] == ("gauge", {"group", "topic", "partition"})
    assert metrics["learnflow_events_consumed_total"] == ("counter", {"outcome", "reason"})
    assert metrics["learnflow_build_info"] == ("gauge", {"service", "version"})
    assert len(metrics) >= 20


# ------------------------------------------------------------------------------ PromQL helpers

def fill_grafana_variables(expr: str) -> str:
    """Grafana's variables filled in: intervals by durations, template variables by `.*`."""
    def repl(m):
        name = m.group(1) or m.group(2)
        return GRAFANA_INTERVALS.get(name, ".*")
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", repl, expr)


def selectors_and_labels(expr: str):
    """(vector selectors as (name, matcher labels), labels used in by/without/on/ignoring/
    group_*, labels created by label_replace) of a PromQL expression."""
    ast = promql_parser.parse(expr)
    selectors, grouping, created = [], set(), set()

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector):
            names = {m.name for m in node.matchers.matchers} - {"__name__"}
            for group in node.matchers.or_matchers or []:
                names |= {m.name for m in group} - {"__name__"}
            selectors.append((node.name, names))
        elif isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
            grouping.update(node.modifier.labels)
        elif isinstance(node, promql_parser.BinaryExpr) and node.modifier is not None:
            if node.modifier.matching is not None:
                grouping.update(node.modifier.matching.labels)
            grouping.update(node.modifier.group_labels or [])
        elif isinstance(node, promql_parser.Call) and node.func.name in ("label_replace", "label_join"):
            created.add(node.args[1].val)
        return True

    promql_parser.walk(ast, visit)
    return selectors, grouping, created


def recorded_series(rules_doc):
    """{recorded name: labels}: a rule's own `labels`, its by-labels and those of recorded
    series it reads, to a fixed point (rules read each other)."""
    rules = [r for g in rules_doc["groups"] for r in g["rules"] if "record" in r]
    out = {r["record"]: set() for r in rules}
    changed = True
    while changed:
        changed = False
        for r in rules:
            selectors, grouping, created = selectors_and_labels(r["expr"])
            labels = set(r.get("labels", {})) | grouping | created
            for name, _ in selectors:
                if name in out:
                    labels |= out[name]
            labels -= {"le"}
            if not labels <= out[r["record"]]:
                out[r["record"]] |= labels
                changed = True
    return out


def check_expr(expr: str, known: dict) -> list[str]:
    """Problems of one expression: unknown metrics, labels a metric does not have."""
    problems = []
    selectors, grouping, created = selectors_and_labels(expr)
    available = set(TARGET_LABELS) | created
    for name, matchers in selectors:
        if not name:
            problems.append("a selector without a metric name")
            continue
        if name not in known:
            problems.append(f"metric {name} is not exported by the code, daprd, the exporters or Kubernetes")
            continue
        own = known[name] | TARGET_LABELS
        available |= own
        bad = matchers - own
        if bad:
            problems.append(f"{name} has no label(s) {sorted(bad)}")
    bad = grouping - available - {"le"}
    if bad:
        problems.append(f"grouping by label(s) {sorted(bad)} no selected series has")
    return problems


# ------------------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def rules_doc():
    docs = load_yaml_docs(RULES)
    assert len(docs) == 1 and "groups" in docs[0]
    return docs[0]


@pytest.fixture(scope="module")
def known_series(rules_doc):
    exported = exported_series()
    return {**exported, **recorded_series(rules_doc)}


@pytest.fixture(scope="module")
def dashboards():
    return {p.name: json.loads(p.read_text()) for p in DASHBOARDS}


def all_panels(model):
    for p in model.get("panels", []):
        yield p
        yield from p.get("panels", [])


def data_panels(model):
    return [p for p in all_panels(model) if p.get("type") != "row"]


def alerts(rules_doc):
    return [r for g in rules_doc["groups"] for r in g["rules"] if "alert" in r]


# ------------------------------------------------------------------------------ rules

def test_promtool_check_rules(promtool):
    out = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_promtool_rule_unit_tests(promtool):
    out = subprocess.run([promtool, "test", "rules", RULE_TESTS.name], cwd=RULE_TESTS.parent,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_rule_unit_tests_fail_on_a_broken_rule(promtool, tmp_path, rules_doc):
    # The unit tests must be able to fail: raise the consumer-lag threshold out of reach.
    text = RULES.read_text().replace("group_topic:learnflow_kafka_consumergroup_lag:sum > 1000",
                                     "group_topic:learnflow_kafka_consumergroup_lag:sum > 100000")
    assert text != RULES.read_text()
    (tmp_path / RULES.name).write_text(text)
    (tmp_path / RULE_TESTS.name).write_text(RULE_TESTS.read_text())
    out = subprocess.run([promtool, "test", "rules", RULE_TESTS.name], cwd=tmp_path,
                         capture_output=True, text=True)
    assert out.returncode != 0
    assert "LearnFlowConsumerLagHigh" in out.stdout + out.stderr


def test_every_alert_is_tested_firing_and_not_firing(rules_doc):
    tests = load_yaml_docs(RULE_TESTS)[0]["tests"]
    fires, quiet = set(), set()
    for t in tests:
        for a in t.get("alert_rule_test", []):
            (fires if a.get("exp_alerts") else quiet).add(a["alertname"])
    names = {a["alert"] for a in alerts(rules_doc)}
    assert (fires | quiet) <= names, f"tests name unknown alerts: {sorted((fires | quiet) - names)}"
    assert names - fires == set(), f"never made to fire: {sorted(names - fires)}"
    assert names - quiet == set(), f"never shown quiet: {sorted(names - quiet)}"


RUNBOOKS = REPO / "docs" / "runbooks"
RUNBOOK_SECTIONS = ("## What it means", "## First three commands", "## Recover")


def test_alerts_have_severity_summary_description_and_a_runbook(rules_doc):
    problems = []
    for a in alerts(rules_doc):
        name = a["alert"]
        if a.get("labels", {}).get("severity") not in ("critical", "warning"):
            problems.append(f"{name}: severity must be critical or warning")
        ann = a.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            if not ann.get(key, "").strip():
                problems.append(f"{name}: no {key}")
        url = ann.get("runbook_url", "")
        if url != f"docs/runbooks/{name}.md" or not (REPO / url).is_file():
            problems.append(f"{name}: runbook {url!r} is not docs/runbooks/{name}.md, or that page is missing")
    assert not problems, "\n".join(problems)


def test_every_runbook_page_belongs_to_an_alert_and_says_what_to_do(rules_doc):
    names = {a["alert"] for a in alerts(rules_doc)}
    pages = {p.stem: p.read_text() for p in RUNBOOKS.glob("*.md")}
    assert pages, "docs/runbooks/ has no pages"
    problems = [f"{stem}.md: no alert {stem} in the rules" for stem in pages if stem not in names]
    for stem, text in pages.items():
        if not text.startswith(f"# {stem}\n"):
            problems.append(f"{stem}.md: the title is not the alert's name")
        for section in RUNBOOK_SECTIONS:
            if section not in text:
                problems.append(f"{stem}.md: no '{section}'")
        commands = text.split("## First three commands", 1)[-1].split("```sh", 1)[-1].split("```", 1)[0]
        if len([line for line in commands.splitlines() if line.strip()]) < 3:
            problems.append(f"{stem}.md: fewer than three commands")
    assert not problems, "\n".join(problems)


def test_slo_alerts_use_the_workbook_windows(rules_doc):
    slo_alerts = [a for a in alerts(rules_doc) if "slo" in a.get("labels", {})]
    assert len(slo_alerts) == 6, [a["alert"] for a in slo_alerts]
    for a in slo_alerts:
        expr = a["expr"]
        if a["labels"]["severity"] == "critical":
            for window, factor in (("1h", "14.4"), ("5m", "14.4"), ("6h", "6"), ("30m", "6")):
                assert re.search(rf"ratio_rate{window}\{{[^}}]*\}} > \({factor} \*", expr), (a["alert"], window)
        else:
            for window in ("3d", "6h"):
                assert re.search(rf"ratio_rate{window}\{{[^}}]*\}} > \(1 \*", expr), (a["alert"], window)


def test_recording_rules_follow_the_naming_convention(rules_doc):
    for g in rules_doc["groups"]:
        for r in g["rules"]:
            if "record" in r:
                assert r["record"].count(":") == 2, f"{r['record']}: want level:metric:operations"


def test_rule_expressions_parse_and_select_real_metrics(rules_doc, known_series):
    problems = []
    for g in rules_doc["groups"]:
        for r in g["rules"]:
            name = r.get("record") or r.get("alert")
            try:
                problems += [f"{name}: {p}" for p in check_expr(r["expr"], known_series)]
            except Exception as e:  # a parse error names the rule
                problems.append(f"{name}: does not parse: {e}")
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------------ dashboards

def test_the_four_dashboards_exist():
    assert {p.name for p in DASHBOARDS} >= EXPECTED_DASHBOARDS


def test_dashboard_models(dashboards):
    uids, titles, problems = set(), set(), []
    for file, d in dashboards.items():
        for key in ("uid", "title", "description", "panels", "templating", "schemaVersion"):
            if not d.get(key):
                problems.append(f"{file}: no {key}")
        if not 36 <= d.get("schemaVersion", 0) <= 41:
            problems.append(f"{file}: schemaVersion {d.get('schemaVersion')} (want ~39)")
        if d.get("id") is not None:
            problems.append(f"{file}: id must be null for provisioning")
        if not re.fullmatch(r"[a-z0-9-]{1,40}", d.get("uid", "")):
            problems.append(f"{file}: uid {d.get('uid')!r} is not a short slug")
        if d["uid"] in uids or d["title"] in titles:
            problems.append(f"{file}: uid or title used twice")
        uids.add(d["uid"])
        titles.add(d["title"])
        if "learnflow" not in d.get("tags", []):
            problems.append(f"{file}: no learnflow tag (dashboard links use it)")
        ds_vars = [v for v in d["templating"]["list"] if v.get("type") == "datasource"]
        if [(v["name"], v["query"]) for v in ds_vars] != [("datasource", "prometheus")]:
            problems.append(f"{file}: want one datasource variable `datasource` of type prometheus")
        elif ds_vars[0].get("current", {}).get("value") != "prometheus":
            problems.append(f"{file}: the datasource variable should default to uid prometheus")
    assert not problems, "\n".join(problems)


def test_panels(dashboards):
    problems = []
    for file, d in dashboards.items():
        ids = [p.get("id") for p in all_panels(d)]
        if len(ids) != len(set(ids)) or None in ids:
            problems.append(f"{file}: panel ids missing or repeated: {ids}")
        for p in data_panels(d):
            where = f"{file} › {p.get('title') or p.get('id')}"
            if not p.get("title", "").strip():
                problems.append(f"{where}: no title")
            if not p.get("description", "").strip():
                problems.append(f"{where}: no description")
            if p.get("datasource") != DATASOURCE:
                problems.append(f"{where}: datasource {p.get('datasource')} is not $datasource")
            defaults = p.get("fieldConfig", {}).get("defaults", {})
            unit = defaults.get("unit")
            if not unit or not (unit in GRAFANA_UNITS or unit.startswith(("suffix:", "prefix:"))):
                problems.append(f"{where}: unit {unit!r} is not a Grafana unit")
            if unit == "none" and not defaults.get("mappings"):
                problems.append(f"{where}: unit none is only for panels that map values to text")
            targets = p.get("targets") or []
            if not targets:
                problems.append(f"{where}: no targets")
            if len({t.get("refId") for t in targets}) != len(targets):
                problems.append(f"{where}: refIds repeat")
            for t in targets:
                if not t.get("expr", "").strip():
                    problems.append(f"{where} › {t.get('refId')}: no expr")
                if t.get("datasource", DATASOURCE) != DATASOURCE:
                    problems.append(f"{where} › {t.get('refId')}: target datasource is not $datasource")
                # Strings first: a label regex such as "[1-4]xx" is no range.
                unquoted = re.sub(r'"(?:[^"\\]|\\.)*"', '""', t.get("expr", ""))
                for fn, window in re.findall(r"\b(rate|irate|increase)\([^\[]*\[([^\]]+)\]", unquoted):
                    if window != "$__rate_interval":
                        problems.append(f"{where} › {t.get('refId')}: {fn}() over [{window}], want [$__rate_interval]")
    assert not problems, "\n".join(problems)


def test_grid_is_sane(dashboards):
    problems = []
    for file, d in dashboards.items():
        cells = {}
        for p in all_panels(d):
            g = p.get("gridPos", {})
            x, y, w, h = (g.get(k) for k in ("x", "y", "w", "h"))
            if not all(isinstance(v, int) for v in (x, y, w, h)) or w < 1 or h < 1 or x < 0 or y < 0 or x + w > 24:
                problems.append(f"{file} › {p.get('title')}: gridPos {g}")
                continue
            for cx in range(x, x + w):
                for cy in range(y, y + h):
                    if (cx, cy) in cells:
                        problems.append(f"{file} › {p.get('title')} overlaps {cells[(cx, cy)]}")
                        break
                    cells[(cx, cy)] = p.get("title")
                else:
                    continue
                break
    assert not problems, "\n".join(problems)


def test_template_variables(dashboards):
    # Grafana's own: the intervals, and the time range a link passes on.
    builtin = set(GRAFANA_INTERVALS) | {"datasource", "__from", "__to"}
    problems = []
    for file, d in dashboards.items():
        defined = {v["name"] for v in d["templating"]["list"]}
        exprs = [t["expr"] for p in data_panels(d) for t in p.get("targets", [])]
        # A dashboard link may use a variable too (the flow dashboard's "Logs for this trace").
        exprs += [urllib.parse.unquote(link.get("url", "")) for link in d.get("links", [])]
        for v in d["templating"]["list"]:
            if v["type"] != "query":
                continue
            exprs.append(v["query"]["query"] if isinstance(v["query"], dict) else v["query"])
            if v.get("datasource") != DATASOURCE:
                problems.append(f"{file} › ${v['name']}: datasource is not $datasource")
            if not v.get("includeAll") or v.get("allValue") != ".*":
                problems.append(f"{file} › ${v['name']}: want includeAll with allValue .*")
        used = set()
        for e in exprs:
            for m in re.finditer(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", e):
                used.add(m.group(1) or m.group(2))
            # Multi-value variables only make sense in regex matchers.
            for label, op, value in re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', e):
                if "$" in value and op not in ("=~", "!~"):
                    problems.append(f"{file}: {label}{op}\"{value}\" needs =~ for a multi-value variable")
        for name in used - defined - builtin:
            problems.append(f"{file}: ${name} is not defined")
        for name in defined - used - {"datasource"}:
            problems.append(f"{file}: ${name} is defined but never used")
    assert not problems, "\n".join(problems)


def test_dashboard_expressions_parse_and_select_real_metrics(dashboards, known_series):
    problems = []
    for file, d in dashboards.items():
        queries = [(f"{file} › {p['title']} › {t['refId']}", t["expr"]) for p in data_panels(d) for t in p["targets"]]
        for v in d["templating"]["list"]:
            if v["type"] == "query":
                q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
                m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", q.strip())
                if not m:
                    problems.append(f"{file} › ${v['name']}: not label_values(selector, label)")
                    continue
                queries.append((f"{file} › ${v['name']}", f"group by ({m.group(2)}) ({m.group(1)})"))
        for where, expr in queries:
            try:
                problems += [f"{where}: {p}" for p in check_expr(fill_grafana_variables(expr), known_series)]
            except Exception as e:
                problems.append(f"{where}: does not parse: {e}")
    assert not problems, "\n".join(problems)


def test_the_metric_check_catches_typos(known_series):
    # The checks above must be able to fail: a misspelt metric, a label the metric lacks,
    # a histogram suffix on a counter, grouping by a label nobody has, and broken PromQL.
    assert check_expr('rate(learnflow_lesons_generated_total[1m])', known_series)
    assert check_expr('rate(learnflow_http_server_requests_total{route="/x"}[1m])', known_series)
    assert check_expr('rate(learnflow_completions_total_bucket[1m])', known_series)
    assert check_expr('sum by (topik) (learnflow_kafka_consumergroup_lag)', known_series)
    assert check_expr('dapr_resiliency_cb_state{state="open"}', known_series)
    with pytest.raises(Exception):
        check_expr('sum(rate(learnflow_completions_total[1m])', known_series)
    assert check_expr('sum by (topic) (learnflow_kafka_consumergroup_lag{group="x"})', known_series) == []


# ------------------------------------------------------------------------------ kube-prometheus-stack

def documented_release() -> str:
    """The release name the README's install command uses."""
    m = re.search(r"helm upgrade --install (\S+) prometheus-community/kube-prometheus-stack", README.read_text())
    assert m, "README has no kube-prometheus-stack install command"
    return m.group(1)


def test_values_select_the_documented_release():
    release = documented_release()
    values = load_yaml_docs(VALUES)[0]
    spec = values["prometheus"]["prometheusSpec"]
    for kind in ("serviceMonitor", "podMonitor", "rule"):
        assert spec[f"{kind}Selector"] == {"matchLabels": {"release": release}}, kind
        assert spec[f"{kind}NamespaceSelector"] == {}, kind
        # Explicit selectors, and no silent fallback to release=<name> if one is removed.
        assert spec[f"{kind}SelectorNilUsesHelmValues"] is False, kind
    assert spec["retention"] and spec["evaluationInterval"] and spec["scrapeInterval"]
    assert f"release: {release}" in VALUES.read_text().split("prometheus:")[0], "header documents the release"


def test_values_and_the_chart_agree(dashboards):
    release = documented_release()
    values = load_yaml_docs(VALUES)[0]
    chart = load_yaml_docs(CHART_VALUES)[0]["monitoring"]
    assert chart["release"] == release, "the chart labels its monitors for another release"
    sidecar = values["grafana"]["sidecar"]["dashboards"]
    assert sidecar["enabled"] is True
    assert (sidecar["label"], sidecar["labelValue"]) == (chart["dashboards"]["label"], chart["dashboards"]["labelValue"])
    assert sidecar["labelValue"] == "1" and sidecar["searchNamespace"] == "ALL"
    assert sidecar["folderAnnotation"] == chart["dashboards"]["folderAnnotation"]
    uid = values["grafana"]["sidecar"]["datasources"]["uid"]
    for file, d in dashboards.items():
        ds = next(v for v in d["templating"]["list"] if v["name"] == "datasource")
        assert ds["current"]["value"] == uid, file


def test_grafana_admin_comes_from_a_secret():
    grafana = load_yaml_docs(VALUES)[0]["grafana"]
    admin = grafana["admin"]
    assert admin["existingSecret"] and admin["userKey"] and admin["passwordKey"]
    assert "adminPassword" not in grafana and "adminUser" not in grafana
    assert not re.search(r"(?i)password\s*:\s*\S", VALUES.read_text().replace("passwordKey:", ""))
    # The README tells how to create that Secret, with those keys.
    readme = README.read_text()
    assert f"create secret generic {admin['existingSecret']}" in readme
    assert f"--from-literal={admin['userKey']}=" in readme and f"--from-literal={admin['passwordKey']}=" in readme


def test_native_prometheus_loads_the_rule_file():
    # deploy/local/prometheus.yml names the rule file through a placeholder the harness fills
    # with this path (crates/testkit/src/components/prometheus.rs).
    config = (REPO / "deploy" / "local" / "prometheus.yml").read_text()
    harness = (REPO / "crates" / "testkit" / "src" / "components" / "prometheus.rs").read_text()
    assert re.search(r'rule_files:\s*\n\s*-\s*"\$\{RULES_FILE\}"', config)
    assert f'"{RULES.relative_to(REPO)}"' in harness


def test_rendered_native_config_passes_promtool(promtool, tmp_path):
    # The template as the harness renders it (SCRAPE_CONFIGS with one target, RULES_FILE with
    # the absolute path, ALERTMANAGER with an address), then `promtool check config`, which also checks the rule file.
    config = (REPO / "deploy" / "local" / "prometheus.yml").read_text()
    scrape = ('  - job_name: learnflow-services\n    honor_labels: true\n    static_configs:\n'
              '      - targets: ["127.0.0.1:9464"]\n        labels: {service: "frontend-gateway", app_id: "frontend-gateway"}\n')
    rendered = (
        config.replace("${SCRAPE_CONFIGS}", scrape)
        .replace("${RULES_FILE}", str(RULES))
        .replace("${ALERTMANAGER}", "127.0.0.1:9093")
    )
    assert "${" not in rendered
    (tmp_path / "prometheus.yml").write_text(rendered)
    out = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 rule files found" in out.stdout + out.stderr


def _datasource_identity(ds):
    return (ds["name"], ds["uid"], ds["type"])


def test_grafana_has_the_same_data_sources_in_compose_and_helm():
    """Compose's provisioning files and the kube-prometheus-stack values give Grafana the same
    data sources (name, uid, type): Prometheus as the default, and the trace backend."""
    compose = []
    for f in sorted((REPO / "docker/grafana/provisioning/datasources").glob("*.yaml")):
        compose += load_yaml_docs(f)[0]["datasources"]
    grafana = load_yaml_docs(VALUES)[0]["grafana"]
    default = grafana["sidecar"]["datasources"]
    assert default["defaultDatasourceEnabled"] is True and default["isDefaultDatasource"] is True
    helm = [{"name": "Prometheus", "uid": default["uid"], "type": "prometheus"},
            *grafana.get("additionalDataSources", [])]
    assert sorted(map(_datasource_identity, compose)) == sorted(map(_datasource_identity, helm))
    assert {ds["type"] for ds in compose} >= {"prometheus", "jaeger"}
    assert [ds["uid"] for ds in compose if ds.get("isDefault")] == ["prometheus"]
    # Each points at the query API of the backend its stack runs.
    jaeger = {ds["uid"]: ds for ds in compose}["jaeger"]
    assert jaeger["url"].endswith(":16686")
    helm_jaeger = {ds["uid"]: ds for ds in helm}["jaeger"]
    assert re.fullmatch(r"http://learnflow-jaeger\.learnflow\.svc\.cluster\.local:16686", helm_jaeger["url"])
    # The log backend: compose's VictoriaLogs service, the chart's (logs.deploy); its plugin
    # is installed where Grafana starts.
    logs = {ds["uid"]: ds for ds in compose}["victorialogs"]
    assert logs["type"] == "victoriametrics-logs-datasource" and logs["url"] == "http://victorialogs:9428"
    helm_logs = {ds["uid"]: ds for ds in helm}["victorialogs"]
    assert helm_logs["url"] == "http://learnflow-victorialogs.learnflow.svc.cluster.local:9428"
    assert logs["type"] in grafana["plugins"]
    observability = load_yaml_docs(REPO / "docker/compose.observability.yaml")[0]
    assert logs["type"] in observability["services"]["grafana"]["environment"]["GF_PLUGINS_PREINSTALL"]
    # Jaeger links a trace to its lines, under every field name a line can carry its id as.
    for jaeger_ds in (jaeger, helm_jaeger):
        link = jaeger_ds["jsonData"]["tracesToLogsV2"]
        assert link["datasourceUid"] == "victorialogs" and link["customQuery"] is True
        # $$ survives Grafana's environment expansion as one $.
        query = link["query"].replace("$$", "$")
        for field in ("span.trace_id", "event.line.span.trace_id"):
            assert f'{field}:="${{__trace.traceId}}"' in query, (field, query)


def test_the_flow_dashboard_links_a_trace_id_to_its_log_lines(dashboards):
    """A textbox takes a response's x-trace-id; the "Logs for this trace" link opens Explore
    on the VictoriaLogs data source with a query for that id under every field name a line
    carries it as (native and Helm: span.trace_id; compose: event.line.span.trace_id)."""
    flow = dashboards["learnflow-flow.json"]
    box = [v for v in flow["templating"]["list"] if v["name"] == "trace_id"]
    assert len(box) == 1 and box[0]["type"] == "textbox"
    (link,) = [l for l in flow["links"] if l["title"] == "Logs for this trace"]
    url = urllib.parse.urlsplit(link["url"])
    assert url.path == "/explore"
    panes = json.loads(urllib.parse.parse_qs(url.query)["panes"][0])
    (pane,) = panes.values()
    (query,) = pane["queries"]
    assert pane["datasource"] == query["datasource"]["uid"] == "victorialogs"
    for field in ("span.trace_id", "event.line.span.trace_id"):
        assert f'{field}:="${{trace_id}}"' in query["expr"], query["expr"]


def _grafana_datasources():
    """(compose's provisioned data sources, kube-prometheus-stack's additional ones) by uid."""
    compose = {}
    for f in sorted((REPO / "docker/grafana/provisioning/datasources").glob("*.yaml")):
        compose |= {ds["uid"]: ds for ds in load_yaml_docs(f)[0]["datasources"]}
    helm = {ds["uid"]: ds for ds in load_yaml_docs(VALUES)[0]["grafana"]["additionalDataSources"]}
    return compose, helm


def test_traces_link_to_their_services_metrics(known_series):
    """Jaeger's "metrics for this span" queries select real series, the span's service.name
    becoming the `service` label every target carries; compose and Helm say the same."""
    compose, helm = _grafana_datasources()
    link = compose["jaeger"]["jsonData"]["tracesToMetrics"]
    assert helm["jaeger"]["jsonData"]["tracesToMetrics"] == link
    assert link["datasourceUid"] == "prometheus"
    assert link["tags"] == [{"key": "service.name", "value": "service"}]
    assert link["queries"]
    for q in link["queries"]:
        # $$ is Grafana's escape for a literal $ in provisioning files.
        expr = q["query"].replace("$$__tags", 'service="user-progress"')
        assert "$" not in expr, expr
        assert not check_expr(expr, known_series), (q["name"], check_expr(expr, known_series))


def test_log_lines_link_to_their_traces():
    """A log line's trace id opens the trace in Jaeger, whichever field carries it."""
    compose, helm = _grafana_datasources()
    for logs in (compose["victorialogs"], helm["victorialogs"]):
        fields = logs["jsonData"]["derivedFields"]
        assert {f["matcherRegex"] for f in fields} == {"span.trace_id", "event.line.span.trace_id"}
        for f in fields:
            assert f["matcherType"] == "label" and f["datasourceUid"] == "jaeger"
            assert f["url"] == "$${__value.raw}"
