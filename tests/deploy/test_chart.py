"""Offline checks of the Helm chart deploy/helm/learnflow.

`helm lint --strict`, then `helm template` under several value sets; every rendered object is
validated against the Kubernetes 1.30 schemas (kubernetes-validate, strict) or, for custom
resources, against the CRD schemas `cargo xtask deps` converts from the pinned Dapr, KEDA and
prometheus-operator modules ($LEARNFLOW_SCHEMAS/crds, ADR 0011); then the chart's promises are
asserted: hardened Deployments, string Dapr annotations, one owner per replica count,
ContainerResource HPAs, monitors and rules picked up by kube-prometheus-stack, ingress from
outside only to the gateway, no default secrets, every dashboard shipped, and Dapr objects equal
to deploy/dapr.
"""

import base64
import copy
import hashlib
import hmac
import json
import os
import re
import secrets as pysecrets
import shutil
import subprocess
import tomllib
import urllib.parse

import jsonschema
import kubernetes_validate
import pytest
import yaml

from conftest import REPO, load_yaml_docs

CHART = REPO / "deploy" / "helm" / "learnflow"
DAPR_SOURCES = REPO / "deploy" / "dapr"
DASHBOARDS = REPO / "dashboards"
RULES = REPO / "deploy" / "monitoring" / "rules" / "learnflow.rules.yaml"
NAMESPACE = "learnflow"
RELEASE = "lf"
KUBE_VERSION = "1.30"

# Values every render needs: external data stores (two brokers on different ports, to see
# both in the egress policy) and fresh random secrets, so any secret that shows up in the
# output and is not one of these came from a default.
BROKERS = "kafka-0.kafka.example.internal:9092,kafka-1.kafka.example.internal:9093"
PG_HOST = "pg.example.internal"
SECRETS = {
    "databasePassword": pysecrets.token_hex(16),
    "jwtSecret": pysecrets.token_hex(16),
    "daprApiToken": pysecrets.token_hex(16),
    "appApiToken": pysecrets.token_hex(16),
}
SECRET_ARGS = [a for k, v in SECRETS.items() for a in ("--set", f"secrets.{k}={v}")]
_ESCAPED_BROKERS = BROKERS.replace(",", "\\,")  # --set splits on unescaped commas
STORE_ARGS = ["--set", f"kafka.brokers={_ESCAPED_BROKERS}", "--set", f"postgresql.host={PG_HOST}"]
REQUIRED = SECRET_ARGS + STORE_ARGS

SCENARIOS = {
    "defaults": [],
    "keda": ["--set", "keda.enabled=true"],
    "minimal": [
        "--set", "monitoring.enabled=false",
        "--set", "networkPolicies.enabled=false",
        "--set", "autoscaling.enabled=false",
    ],
    "in-cluster-stores": [
        "--set", "kafka.brokers=",
        "--set", "postgresql.host=",
        "--set", "kafka.inCluster.enabled=true",
        "--set", "postgresql.inCluster.enabled=true",
    ],
    "everything-on": [
        "--set", "keda.enabled=true",
        "--set", "loadgen.enabled=true",
        "--set", "dapr.appHealthCheck.enabled=true",
        "--set", "tracing.otlpEndpoint=otel-collector.observability.svc.cluster.local:4318",
    ],
}

APPS = {  # app id -> values key
    "frontend-gateway": "frontendGateway",
    "course-agent": "courseAgent",
    "user-progress": "userProgress",
    "kafka-monitor": "kafkaMonitor",
}
SIDECAR_APPS = {"frontend-gateway", "course-agent", "user-progress"}
CR_GROUPS = {"dapr.io", "keda.sh", "monitoring.coreos.com"}
MONITORING_KINDS = {"PodMonitor", "ServiceMonitor", "PrometheusRule"}


# ------------------------------------------------------------------------------------------
# helpers


def helm_run(helm, *args, chart=CHART):
    return subprocess.run(
        [helm, "template", RELEASE, str(chart), "--namespace", NAMESPACE,
         "--kube-version", KUBE_VERSION, *args],
        capture_output=True, text=True, timeout=120,
    )


def render(helm, *args, chart=CHART):
    out = helm_run(helm, *args, chart=chart)
    assert out.returncode == 0, f"helm template {' '.join(args)} failed:\n{out.stderr}"
    return load_yaml_docs(out.stdout)


def render_fails(helm, *args, chart=CHART):
    out = helm_run(helm, *args, chart=chart)
    assert out.returncode != 0, f"helm template {' '.join(args)} should have failed"
    return out.stderr


def of_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def by_name(docs, kind, name):
    found = [d for d in of_kind(docs, kind) if d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def component(docs, kind, app):
    found = [
        d for d in of_kind(docs, kind)
        if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == app
    ]
    assert len(found) == 1, f"expected one {kind} for {app}, found {len(found)}"
    return found[0]


def app_container(deployment):
    app = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
    containers = deployment["spec"]["template"]["spec"]["containers"]
    match = [c for c in containers if c["name"] == app]
    assert len(match) == 1, f"{deployment['metadata']['name']}: no container named {app}"
    return match[0]


def labels_match(selector, labels):
    for k, v in selector.get("matchLabels", {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions", []):
        has, val = e["key"] in labels, labels.get(e["key"])
        op = e["operator"]
        if op == "In" and val not in e["values"]:
            return False
        if op == "NotIn" and has and val in e["values"]:
            return False
        if op == "Exists" and not has:
            return False
        if op == "DoesNotExist" and has:
            return False
    return True


def pod_labels(deployment):
    return deployment["spec"]["template"]["metadata"]["labels"]


def crd_schema(obj, schemas):
    group, version = obj["apiVersion"].split("/")
    path = schemas / "crds" / group / f"{obj['kind'].lower()}_{version}.json"
    assert path.is_file(), f"no schema for {obj['apiVersion']} {obj['kind']} at {path}"
    return json.loads(path.read_text())


def validation_errors(obj, schemas):
    """Kubernetes 1.30 schema (strict) for built-in kinds, the CRD schema for custom resources."""
    group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
    if group in CR_GROUPS:
        schema = crd_schema(obj, schemas)
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
        return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in cls(schema).iter_errors(obj)]
    try:
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        return [f"{'/'.join(map(str, e.path))}: {e.message}"]
    except kubernetes_validate.SchemaNotFoundError:
        return [f"no Kubernetes {KUBE_VERSION} schema for {obj['apiVersion']} {obj['kind']}"]
    return []


def validate(obj, schemas):
    errors = validation_errors(obj, schemas)
    assert not errors, f"{obj['kind']} {obj['metadata']['name']}: " + "; ".join(errors)


def _dapr_files():
    """What daprd loads from --resources-path: every *.yaml and *.yml."""
    return sorted([*DAPR_SOURCES.glob("*.yaml"), *DAPR_SOURCES.glob("*.yml")])


def dapr_sources():
    docs = []
    for path in _dapr_files():
        docs += load_yaml_docs(path)
    return docs


def source_consumer_group():
    for d in dapr_sources():
        if d["kind"] == "Component" and d["spec"]["type"] == "pubsub.kafka":
            for m in d["spec"]["metadata"]:
                if m["name"] in ("consumerGroup", "consumerID") and "value" in m:
                    return m["value"]
    return "user-progress"


def source_topic():
    subs = [d for d in dapr_sources()
            if d["kind"] == "Subscription" and "user-progress" in d.get("scopes", [])]
    assert subs, "deploy/dapr has no Subscription scoped to user-progress"
    return subs[0]["spec"]["topic"]


@pytest.fixture(scope="module", params=list(SCENARIOS))
def scenario(request, helm):
    name = request.param
    return name, render(helm, *REQUIRED, *SCENARIOS[name])


@pytest.fixture(scope="module")
def defaults(helm):
    return render(helm, *REQUIRED)


# ------------------------------------------------------------------------------------------
# chart metadata, lint


def test_chart_metadata():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == "learnflow"
    assert str(chart["appVersion"]) == "0.1.0"
    assert chart.get("dependencies") is None, "no subcharts: Kafka and PostgreSQL are values"
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["additionalProperties"] is False
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    jsonschema.Draft7Validator(schema).validate(values)
    for key, sub in schema["properties"].items():
        if sub.get("type") == "object" and "properties" in sub:
            assert sub.get("additionalProperties") is False, f"schema: {key} is not strict"


def test_shared_sources_are_symlinks_not_copies():
    for link, target in {
        "files/dapr": REPO / "deploy" / "dapr",
        "files/dashboards": DASHBOARDS,
        "files/monitoring": REPO / "deploy" / "monitoring",
    }.items():
        path = CHART / link
        assert path.is_symlink(), f"{link} must be a symlink to {target}"
        assert path.resolve() == target.resolve(), f"{link} -> {path.resolve()}, not {target}"
        assert target.is_dir(), f"{target} is missing: the symlink {link} dangles"


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_helm_lint_strict(helm, name):
    out = subprocess.run(
        [helm, "lint", "--strict", str(CHART), "--namespace", NAMESPACE,
         "--kube-version", KUBE_VERSION, *REQUIRED, *SCENARIOS[name]],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 chart(s) failed" in out.stdout


def test_values_schema_rejects_mistakes(helm):
    for bad, why in [
        (["--set", "replicaCount=3"], "additional properties 'replicaCount'"),
        (["--set", "frontendGateway.autoscalling.enabled=false"], "autoscalling"),
        (["--set-string", "frontendGateway.autoscaling.maxReplicas=five"], "maxReplicas"),
        (["--set", "tracing.otlpEndpoint=http://jaeger:4318"], "otlpEndpoint"),
        (["--set", "kafka.brokers=kafka"], "brokers"),
    ]:
        err = render_fails(helm, *REQUIRED, *bad)
        assert why in err, f"{bad}: unexpected error:\n{err}"


# ------------------------------------------------------------------------------------------
# every object valid


def test_every_object_validates(scenario, schemas):
    name, docs = scenario
    assert docs, name
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "ServiceAccount", "Secret", "Configuration",
            "Resiliency", "Component", "Subscription"} <= kinds
    for obj in docs:
        validate(obj, schemas)


def test_validation_catches_a_bad_object(defaults, schemas):
    hpa = copy.deepcopy(of_kind(defaults, "HorizontalPodAutoscaler")[0])
    hpa["spec"]["behaviour"] = hpa["spec"].pop("behavior")
    assert any("behaviour" in e for e in validation_errors(hpa, schemas))
    monitor = copy.deepcopy(of_kind(defaults, "PodMonitor")[0])
    monitor["spec"]["podMetricsEndpoints"][0]["prot"] = "x"
    assert any("prot" in e for e in validation_errors(monitor, schemas))
    # The Dapr schemas are converted by crd_schema.py: a misspelt key must still fail.
    component = copy.deepcopy(of_kind(defaults, "Component")[0])
    component["spec"]["metdata"] = component["spec"].pop("metadata")
    errors = validation_errors(component, schemas)
    assert any("metdata" in e for e in errors) and any("'metadata' is a required" in e for e in errors)


# ------------------------------------------------------------------------------------------
# workloads


def test_deployments_are_hardened(scenario):
    name, docs = scenario
    deployments = of_kind(docs, "Deployment")
    assert {d["metadata"]["labels"]["app.kubernetes.io/component"] for d in deployments} == set(APPS)
    accounts = {sa["metadata"]["name"]: sa for sa in of_kind(docs, "ServiceAccount")}
    pods = [(d["metadata"]["name"], d["spec"]["template"]["spec"]) for d in deployments]
    pods += [(j["metadata"]["name"], j["spec"]["template"]["spec"]) for j in of_kind(docs, "Job")]
    for where, pod in pods:
        psc = pod["securityContext"]
        assert psc["runAsNonRoot"] is True, where
        assert psc["runAsUser"] == 10001, where
        assert psc["seccompProfile"]["type"] == "RuntimeDefault", where
        assert pod["automountServiceAccountToken"] is False, where
        sa = accounts[pod["serviceAccountName"]]
        assert sa["automountServiceAccountToken"] is False, where
        for c in pod["containers"]:
            res = c["resources"]
            for part in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(res.get(part, {})), f"{where}/{c['name']}: {part}"
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
    for d in deployments:
        c = app_container(d)
        where = d["metadata"]["name"]
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert "metrics" in ports and "http" in ports, where
        for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"),
                            ("readinessProbe", "/readyz")):
            get = c[probe]["httpGet"]
            assert get["path"] == path and get["port"] == "metrics", f"{where}: {probe}"
        env = {e["name"]: e for e in c["env"]}
        assert env["LEARNFLOW_ADMIN__PORT"]["value"] == str(ports["metrics"]), where
        assert env["LEARNFLOW_SERVER__PORT"]["value"] == str(ports["http"]), where


def test_ports_match_service_defaults(defaults):
    """The chart's ports are the services' own defaults (config.default.toml)."""
    for app in APPS:
        cfg = tomllib.loads((REPO / "services" / app / "src" / "config.default.toml").read_text())
        c = app_container(component(defaults, "Deployment", app))
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert ports == {"http": cfg["server"]["port"], "metrics": cfg["admin"]["port"]}, app


def test_env_names_are_settings_of_the_service(scenario):
    """Every LEARNFLOW_<SECTION>__<KEY> the chart sets exists in the service's defaults: the
    config loader refuses unknown settings, so a typo would crash the pod."""
    name, docs = scenario
    for d in of_kind(docs, "Deployment"):
        app = d["metadata"]["labels"]["app.kubernetes.io/component"]
        cfg = tomllib.loads((REPO / "services" / app / "src" / "config.default.toml").read_text())
        for e in app_container(d)["env"]:
            if not e["name"].startswith("LEARNFLOW_") or "__" not in e["name"]:
                continue
            node = cfg
            for part in e["name"][len("LEARNFLOW_"):].lower().split("__"):
                assert isinstance(node, dict) and part in node, f"{app}: {e['name']} is no setting"
                node = node[part]


def test_secrets_wiring(defaults):
    app_secret = by_name(defaults, "Secret", f"{RELEASE}-learnflow-app")["stringData"]
    gw = {e["name"]: e for e in app_container(component(defaults, "Deployment", "frontend-gateway"))["env"]}
    ref = gw["LEARNFLOW_AUTH__JWT_SECRET"]["valueFrom"]["secretKeyRef"]
    assert app_secret[ref["key"]] == SECRETS["jwtSecret"]
    for app, key in (("course-agent", "course_agent"), ("user-progress", "user_progress")):
        env = {e["name"]: e for e in app_container(component(defaults, "Deployment", app))["env"]}
        ref = env["LEARNFLOW_DATABASE__URL"]["valueFrom"]["secretKeyRef"]
        url = urllib.parse.urlsplit(app_secret[ref["key"]])
        assert (url.hostname, url.port, url.path) == (PG_HOST, 5432, f"/{key}")
        assert urllib.parse.unquote(url.password) == SECRETS["databasePassword"]
    for app in SIDECAR_APPS:
        d = component(defaults, "Deployment", app)
        env = {e["name"]: e for e in app_container(d)["env"]}
        ann = d["spec"]["template"]["metadata"]["annotations"]
        for var, annotation, secret in (
            ("LEARNFLOW_DAPR__API_TOKEN", "dapr.io/api-token-secret", "daprApiToken"),
            ("LEARNFLOW_DAPR__APP_TOKEN", "dapr.io/app-token-secret", "appApiToken"),
        ):
            ref = env[var]["valueFrom"]["secretKeyRef"]
            # daprd reads key `token` of the secret its annotation names: the same one.
            assert ref == {"name": ann[annotation], "key": "token"}, app
            assert by_name(defaults, "Secret", ref["name"])["stringData"]["token"] == SECRETS[secret]


def test_database_password_is_url_encoded(helm):
    password = "p@ss word+/:?#%x"
    docs = render(helm, *REQUIRED, "--set-string", f"secrets.databasePassword={password}")
    data = by_name(docs, "Secret", f"{RELEASE}-learnflow-app")["stringData"]
    url = urllib.parse.urlsplit(data["course-agent-database-url"])
    assert urllib.parse.unquote(url.password) == password
    assert url.hostname == PG_HOST and url.path == "/course_agent"


def test_rendering_without_a_secret_fails_clearly(helm):
    for key in SECRETS:
        args = [a for k, v in SECRETS.items() if k != key for a in ("--set", f"secrets.{k}={v}")]
        err = render_fails(helm, *args, *STORE_ARGS)
        assert f"secrets.{key} is required" in err, f"missing {key}:\n{err}"
    err = render_fails(helm, *SECRET_ARGS, "--set", f"postgresql.host={PG_HOST}")
    assert "kafka.brokers is required" in err
    err = render_fails(helm, *SECRET_ARGS, "--set", f"kafka.brokers=k:9092")
    assert "postgresql.host is required" in err


def test_existing_secrets_replace_secret_values(helm):
    docs = render(
        helm, *STORE_ARGS,
        "--set", "secrets.existingSecret=my-app",
        "--set", "secrets.existingDaprApiTokenSecret=my-dapr",
        "--set", "secrets.existingAppApiTokenSecret=my-app-token",
    )
    assert not of_kind(docs, "Secret")
    gw = component(docs, "Deployment", "frontend-gateway")
    ann = gw["spec"]["template"]["metadata"]["annotations"]
    assert ann["dapr.io/api-token-secret"] == "my-dapr"
    assert ann["dapr.io/app-token-secret"] == "my-app-token"
    env = {e["name"]: e for e in app_container(gw)["env"]}
    assert env["LEARNFLOW_AUTH__JWT_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "my-app"


def _strings(node):
    if isinstance(node, dict):
        for v in node.values():
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)
    elif isinstance(node, str):
        yield node


def test_no_default_password_is_rendered(defaults):
    for path in sorted(CHART.glob("values*.yaml")):
        values = yaml.safe_load(path.read_text())
        for key, value in (values.get("secrets") or {}).items():
            if not key.startswith("existing"):
                assert value == "", f"{path.name} must not carry a value for secrets.{key}"
    ours = set(SECRETS.values())
    for s in of_kind(defaults, "Secret"):
        assert "data" not in s, "a Secret with data the test did not supply"
        for key, value in s["stringData"].items():
            assert any(x in value for x in ours), f"{s['metadata']['name']}/{key} is not ours"
    everything = "\n".join(_strings(defaults)).lower()
    for weak in ("changeme", "change-me", "password123", "postgres:postgres@", "dev-only"):
        assert weak not in everything


def test_values_dev_example_renders_with_secrets_set(helm):
    dev = ["-f", str(CHART / "values-dev.yaml")]
    err = render_fails(helm, *dev, *STORE_ARGS)
    assert "is required" in err
    docs = render(helm, *dev, *REQUIRED)
    assert not of_kind(docs, "PodDisruptionBudget")
    tokens = by_name(docs, "Secret", f"{RELEASE}-learnflow-dapr-api-token")["stringData"]
    assert tokens["token"] == SECRETS["daprApiToken"]


# ------------------------------------------------------------------------------------------
# Dapr


def test_dapr_annotations_are_strings(scenario):
    name, docs = scenario
    config = of_kind(docs, "Configuration")
    assert len(config) == 1
    secrets = {s["metadata"]["name"] for s in of_kind(docs, "Secret")}
    for d in of_kind(docs, "Deployment"):
        app = d["metadata"]["labels"]["app.kubernetes.io/component"]
        ann = d["spec"]["template"]["metadata"].get("annotations", {})
        for k, v in ann.items():
            assert isinstance(v, str), f"{app}: annotation {k} is {type(v).__name__}, not a string"
        if app not in SIDECAR_APPS:
            assert "dapr.io/enabled" not in ann, f"{app} must run without a sidecar"
            continue
        http = {p["name"]: p["containerPort"] for p in app_container(d)["ports"]}["http"]
        assert ann["dapr.io/enabled"] == "true"
        assert ann["dapr.io/app-id"] == app
        assert ann["dapr.io/app-port"] == str(http)
        assert ann["dapr.io/config"] == config[0]["metadata"]["name"]
        assert ann["dapr.io/enable-metrics"] == "true"
        assert re.fullmatch(r"[0-9]+", ann["dapr.io/metrics-port"])
        for r in ("cpu-request", "memory-request", "cpu-limit", "memory-limit"):
            assert ann[f"dapr.io/sidecar-{r}"], f"{app}: sidecar {r}"
        assert ann["dapr.io/api-token-secret"] in secrets
        assert ann["dapr.io/app-token-secret"] in secrets
        # Off unless asked for: with them daprd 1.18.3's Kafka consumer did not rejoin.
        health = "--set" in SCENARIOS[name] and "dapr.appHealthCheck.enabled=true" in SCENARIOS[name]
        assert (ann.get("dapr.io/enable-app-health-check") == "true") == health, app


def _expected_dapr_objects(env, secret_refs=None):
    """deploy/dapr with the chart's documented substitutions applied, independently of it."""
    secret_refs = secret_refs or {}
    expected = []
    for path in _dapr_files():
        text = path.read_text()
        for name, value in env.items():
            text = text.replace("${" + name + "}", value)
        for obj in load_yaml_docs(text):
            if obj["kind"] == "Component":
                md = []
                for m in obj["spec"]["metadata"]:
                    if "envRef" in m:
                        ref = m["envRef"]
                        if ref in secret_refs:
                            md.append({"name": m["name"], "secretKeyRef": secret_refs[ref]})
                        else:
                            md.append({"name": m["name"], "value": env[ref]})
                    else:
                        md.append(m)
                obj["spec"]["metadata"] = md
            if obj["kind"] == "Configuration":
                nr = obj["spec"].get("nameResolution")
                if nr and nr.get("component") in ("sqlite", "mdns"):
                    del obj["spec"]["nameResolution"]
            expected.append(obj)
    return expected


def _strip_chart_labels(obj):
    obj = copy.deepcopy(obj)
    labels = obj["metadata"].pop("labels")
    assert labels["app.kubernetes.io/instance"] == RELEASE
    assert labels["app.kubernetes.io/part-of"] == "learnflow"
    return obj


def _key(obj):
    return (obj["kind"], obj["metadata"]["name"])


@pytest.mark.parametrize("extra,env", [
    ([], {
        "LEARNFLOW_KAFKA_BROKERS": BROKERS,
        "LEARNFLOW_KAFKA_VERSION": "4.1.0",
        "LEARNFLOW_OTLP_ENDPOINT": "",
        "LEARNFLOW_TRACE_SAMPLING": "1",
    }),
    (["--set", "kafka.brokers=", "--set", "kafka.inCluster.enabled=true",
      "--set", "tracing.otlpEndpoint=jaeger-collector.tracing:4318",
      "--set-string", "tracing.samplingRate=0.25", "--set", "kafka.version=3.9.0"], {
        "LEARNFLOW_KAFKA_BROKERS": f"kafka.{NAMESPACE}.svc.cluster.local:9092",
        "LEARNFLOW_KAFKA_VERSION": "3.9.0",
        "LEARNFLOW_OTLP_ENDPOINT": "jaeger-collector.tracing:4318",
        "LEARNFLOW_TRACE_SAMPLING": "0.25",
    }),
])
def test_dapr_objects_equal_the_sources(helm, extra, env):
    docs = render(helm, *REQUIRED, *extra)
    rendered = {_key(d): _strip_chart_labels(d) for d in docs if d["apiVersion"].startswith("dapr.io/")}
    expected = {_key(d): d for d in _expected_dapr_objects(env)}
    assert set(rendered) == set(expected), "every deploy/dapr object is rendered, nothing else"
    for key in expected:
        assert rendered[key] == expected[key], f"{key} drifted from deploy/dapr"
    config = next(d for d in docs if d["kind"] == "Configuration")
    assert "nameResolution" not in config["spec"], "on Kubernetes the k8s name resolver is used"
    assert "${" not in yaml.safe_dump(docs)


def test_dapr_component_secrets_become_secret_key_refs(helm):
    docs = render(helm, *REQUIRED,
                  "--set", "dapr.componentSecrets.LEARNFLOW_KAFKA_BROKERS.name=kafka-client",
                  "--set", "dapr.componentSecrets.LEARNFLOW_KAFKA_BROKERS.key=brokers")
    comp = next(d for d in docs if d["kind"] == "Component")
    brokers = next(m for m in comp["spec"]["metadata"] if m["name"] == "brokers")
    assert brokers == {"name": "brokers", "secretKeyRef": {"name": "kafka-client", "key": "brokers"}}
    rendered = {_key(d): _strip_chart_labels(d) for d in docs if d["apiVersion"].startswith("dapr.io/")}
    env = {"LEARNFLOW_KAFKA_BROKERS": BROKERS, "LEARNFLOW_KAFKA_VERSION": "4.1.0",
           "LEARNFLOW_OTLP_ENDPOINT": "", "LEARNFLOW_TRACE_SAMPLING": "1"}
    refs = {"LEARNFLOW_KAFKA_BROKERS": {"name": "kafka-client", "key": "brokers"}}
    assert rendered == {_key(d): d for d in _expected_dapr_objects(env, refs)}


def test_unknown_dapr_env_reference_fails(helm, tmp_path):
    chart = tmp_path / "learnflow"
    shutil.copytree(CHART, chart, symlinks=False)
    component_file = chart / "files" / "dapr" / "kafka-pubsub.yaml"
    text = component_file.read_text().replace("envRef: LEARNFLOW_KAFKA_VERSION", "envRef: LEARNFLOW_NOPE")
    component_file.write_text(text)
    err = render_fails(helm, *REQUIRED, chart=chart)
    assert "LEARNFLOW_NOPE" in err


# ------------------------------------------------------------------------------------------
# scaling


def test_one_owner_per_replica_count(scenario):
    name, docs = scenario
    hpa_targets = [h["spec"]["scaleTargetRef"]["name"] for h in of_kind(docs, "HorizontalPodAutoscaler")]
    so_targets = [s["spec"]["scaleTargetRef"]["name"] for s in of_kind(docs, "ScaledObject")]
    assert len(hpa_targets) == len(set(hpa_targets))
    assert not set(hpa_targets) & set(so_targets), f"{name}: an HPA and a ScaledObject share a target"
    deployments = {d["metadata"]["name"]: d for d in of_kind(docs, "Deployment")}
    for target in hpa_targets + so_targets:
        assert target in deployments, f"scaling target {target} is no Deployment"
    for dname, d in deployments.items():
        owned = dname in hpa_targets or dname in so_targets
        assert ("replicas" in d["spec"]) != owned, f"{name}: {dname} replicas vs autoscaler"
    apps = {deployments[t]["metadata"]["labels"]["app.kubernetes.io/component"] for t in hpa_targets}
    if name == "minimal":
        assert not hpa_targets and not so_targets
    elif "keda.enabled=true" in SCENARIOS[name]:
        assert apps == {"frontend-gateway", "course-agent"}
        assert len(so_targets) == 1
    else:
        assert apps == {"frontend-gateway", "course-agent", "user-progress"}
        assert not so_targets


def test_hpas_scale_on_the_app_container(scenario):
    name, docs = scenario
    for h in of_kind(docs, "HorizontalPodAutoscaler"):
        target = by_name(docs, "Deployment", h["spec"]["scaleTargetRef"]["name"])
        app = app_container(target)["name"]
        assert h["spec"]["metrics"], h["metadata"]["name"]
        for m in h["spec"]["metrics"]:
            assert m["type"] == "ContainerResource", h["metadata"]["name"]
            assert m["containerResource"]["container"] == app
            assert m["containerResource"]["name"] == "cpu"
            assert m["containerResource"]["target"]["type"] == "Utilization"
        assert app_container(target)["resources"]["requests"]["cpu"]
        behavior = h["spec"]["behavior"]
        for direction in ("scaleUp", "scaleDown"):
            assert behavior[direction]["policies"], direction
            assert "stabilizationWindowSeconds" in behavior[direction], direction
        assert h["spec"]["minReplicas"] <= h["spec"]["maxReplicas"]


def test_keda_scaled_object(helm):
    docs = render(helm, *REQUIRED, "--set", "keda.enabled=true")
    so = of_kind(docs, "ScaledObject")
    assert len(so) == 1
    up = component(docs, "Deployment", "user-progress")
    assert so[0]["spec"]["scaleTargetRef"]["name"] == up["metadata"]["name"]
    trigger = so[0]["spec"]["triggers"][0]
    assert trigger["type"] == "kafka"
    md = trigger["metadata"]
    assert md["consumerGroup"] == source_consumer_group() == up["spec"]["template"]["metadata"]["annotations"]["dapr.io/app-id"]
    assert md["topic"] == source_topic()
    assert md["bootstrapServers"] == BROKERS
    assert all(isinstance(v, str) for v in md.values())
    assert "behavior" in so[0]["spec"]["advanced"]["horizontalPodAutoscalerConfig"]


def test_pod_disruption_budgets(defaults):
    pdbs = of_kind(defaults, "PodDisruptionBudget")
    assert {p["metadata"]["labels"]["app.kubernetes.io/component"] for p in pdbs} == SIDECAR_APPS
    for p in pdbs:
        d = component(defaults, "Deployment", p["metadata"]["labels"]["app.kubernetes.io/component"])
        assert labels_match(p["spec"]["selector"], pod_labels(d))
        # maxUnavailable, not minAvailable: a one-replica Deployment stays drainable.
        assert "maxUnavailable" in p["spec"] and "minAvailable" not in p["spec"]


# ------------------------------------------------------------------------------------------
# network policies


def _outside_rules(policy):
    """Ingress rules that admit traffic from outside the release: no `from` (anyone) or an ipBlock."""
    rules = []
    for rule in policy["spec"].get("ingress", []):
        peers = rule.get("from")
        if not peers or any("ipBlock" in p for p in peers):
            rules.append(rule)
    return rules


def test_network_policies(scenario):
    name, docs = scenario
    policies = of_kind(docs, "NetworkPolicy")
    if "networkPolicies.enabled=false" in SCENARIOS[name]:
        assert not policies
        return
    deployments = {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in of_kind(docs, "Deployment")}
    deny = [p for p in policies if not p["spec"].get("ingress") and "Ingress" in p["spec"]["policyTypes"]]
    assert len(deny) == 1, "one default-deny ingress policy"
    for app, d in deployments.items():
        assert labels_match(deny[0]["spec"]["podSelector"], pod_labels(d)), f"default deny misses {app}"
    open_policies = [p for p in policies if _outside_rules(p)]
    assert len(open_policies) == 1, [p["metadata"]["name"] for p in open_policies]
    gateway = open_policies[0]
    for app, d in deployments.items():
        selected = labels_match(gateway["spec"]["podSelector"], pod_labels(d))
        assert selected == (app == "frontend-gateway"), f"outside ingress reaches {app}"
    for rule in _outside_rules(gateway):
        assert [p["port"] for p in rule["ports"]] == ["http"], "only the API port is public"
    # Sidecar to sidecar on the Dapr ports, for every Dapr pod.
    dapr_ports = {50001, 50002}
    for app in SIDECAR_APPS:
        allowed = set()
        for p in policies:
            if labels_match(p["spec"]["podSelector"], pod_labels(deployments[app])):
                for rule in p["spec"].get("ingress", []):
                    if rule.get("from"):
                        allowed |= {x["port"] for x in rule.get("ports", [])}
        assert dapr_ports <= allowed, f"{app}: Dapr ports not open to sidecars"
    # Every Deployment's metrics port is open to Prometheus when monitoring is on.
    scrape = [p for p in policies if any(
        any("podSelector" in peer and peer["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name") == "prometheus"
            for peer in rule.get("from", []))
        for rule in p["spec"].get("ingress", []))]
    assert len(scrape) == 1
    for app, d in deployments.items():
        assert labels_match(scrape[0]["spec"]["podSelector"], pod_labels(d)), app
    assert "metrics" in [x["port"] for x in scrape[0]["spec"]["ingress"][0]["ports"]]
    # Egress: DNS for everyone, Kafka and PostgreSQL for their users.
    egress_ports = {}
    for p in policies:
        for rule in p["spec"].get("egress", []):
            for app, d in deployments.items():
                if labels_match(p["spec"]["podSelector"], pod_labels(d)):
                    egress_ports.setdefault(app, set()).update(x["port"] for x in rule.get("ports", []))
    for app in deployments:
        assert 53 in egress_ports.get(app, set()), f"{app}: no DNS egress"
    kafka_ports = {9092} if "kafka.inCluster.enabled=true" in SCENARIOS[name] else {9092, 9093}
    for app in ("course-agent", "user-progress", "kafka-monitor"):
        assert kafka_ports <= egress_ports[app], f"{app}: no Kafka egress"
    for app in ("course-agent", "user-progress"):
        assert 5432 in egress_ports[app], f"{app}: no PostgreSQL egress"
    assert 5432 not in egress_ports["frontend-gateway"]


# ------------------------------------------------------------------------------------------
# monitoring


def test_monitoring_objects_carry_the_release_label(helm, defaults):
    for docs, release in ((defaults, "kps"), (render(helm, *REQUIRED, "--set", "monitoring.release=prom"), "prom")):
        monitoring = [d for d in docs if d["kind"] in MONITORING_KINDS]
        assert {d["kind"] for d in monitoring} == MONITORING_KINDS
        for d in monitoring:
            assert d["metadata"]["labels"].get("release") == release, d["metadata"]["name"]


def test_monitors_select_the_right_targets(defaults):
    services = of_kind(defaults, "Service")
    monitors = of_kind(defaults, "ServiceMonitor")
    covered = set()
    for m in monitors:
        matched = [s for s in services if labels_match(m["spec"]["selector"], s["metadata"]["labels"])]
        assert len(matched) == 1, m["metadata"]["name"]
        ports = {p["name"] for p in matched[0]["spec"]["ports"]}
        for ep in m["spec"]["endpoints"]:
            assert ep["port"] in ports and ep["path"] == "/metrics"
            relabel = {r["targetLabel"]: r.get("replacement") for r in ep["relabelings"]}
            app = matched[0]["metadata"]["labels"]["app.kubernetes.io/component"]
            assert relabel == {"job": "learnflow-services", "service": app, "app_id": app}
        covered.add(matched[0]["metadata"]["labels"]["app.kubernetes.io/component"])
    assert covered == set(APPS)
    pm = of_kind(defaults, "PodMonitor")
    assert len(pm) == 1
    assert pm[0]["spec"]["selector"]["matchLabels"]["dapr.io/metrics-enabled"] == "true"
    assert [e["port"] for e in pm[0]["spec"]["podMetricsEndpoints"]] == ["dapr-metrics"]
    assert pm[0]["spec"]["namespaceSelector"]["matchNames"] == [NAMESPACE]


def test_prometheus_rule_wraps_the_rules_file(defaults, promtool, tmp_path):
    assert RULES.is_file(), f"{RULES} is missing"
    rules = of_kind(defaults, "PrometheusRule")
    assert len(rules) == 1
    source = yaml.safe_load(RULES.read_text())
    expected = source["spec"] if source.get("kind") == "PrometheusRule" else source
    assert rules[0]["spec"] == expected, "the PrometheusRule is not the rules file as-is"
    spec = tmp_path / "rules.yaml"
    spec.write_text(yaml.safe_dump(rules[0]["spec"]))
    out = subprocess.run([promtool, "check", "rules", str(spec)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_dashboard_is_in_a_config_map(defaults):
    maps = [c for c in of_kind(defaults, "ConfigMap") if c["metadata"]["labels"].get("grafana_dashboard") == "1"]
    files = sorted(DASHBOARDS.glob("*.json"))
    assert len(maps) == len(files)
    shipped = {}
    for c in maps:
        assert len(c["data"]) == 1
        assert len(yaml.safe_dump(c).encode()) < 1024 * 1024, c["metadata"]["name"]
        shipped.update(c["data"])
    for f in files:
        assert f.name in shipped, f"{f.name} is in no ConfigMap"
        assert json.loads(shipped[f.name]) == json.loads(f.read_text()), f.name


def _chart_copy(tmp_path):
    chart = tmp_path / "learnflow"
    shutil.copytree(CHART, chart, symlinks=False)
    return chart


def test_an_added_dashboard_is_shipped_and_an_oversized_one_refused(helm, schemas, tmp_path):
    chart = _chart_copy(tmp_path)
    board = {"title": "Added {{ not a template }}", "uid": "added", "panels": [], "schemaVersion": 39}
    (chart / "files" / "dashboards" / "Added Board_v2.json").write_text(json.dumps(board))
    docs = render(helm, *REQUIRED, chart=chart)
    maps = [c for c in of_kind(docs, "ConfigMap") if "Added Board_v2.json" in c.get("data", {})]
    assert len(maps) == 1
    assert json.loads(maps[0]["data"]["Added Board_v2.json"]) == board
    validate(maps[0], schemas)
    (chart / "files" / "dashboards" / "huge.json").write_text(json.dumps({"pad": "x" * 1_100_000}))
    err = render_fails(helm, *REQUIRED, chart=chart)
    assert "huge.json" in err and "1 MiB" in err


def test_monitoring_off_renders_no_monitoring_objects(helm):
    docs = render(helm, *REQUIRED, "--set", "monitoring.enabled=false")
    assert not [d for d in docs if d["kind"] in MONITORING_KINDS]
    assert not [c for c in of_kind(docs, "ConfigMap") if "grafana_dashboard" in c["metadata"]["labels"]]


# ------------------------------------------------------------------------------------------
# data stores, load generator, notes


def test_in_cluster_data_stores(helm):
    docs = render(helm, *SECRET_ARGS, "--set", "kafka.inCluster.enabled=true",
                  "--set", "postgresql.inCluster.enabled=true",
                  "--set", "kafka.inCluster.serviceName=events", "--set", "postgresql.inCluster.serviceName=db")
    data = by_name(docs, "Secret", f"{RELEASE}-learnflow-app")["stringData"]
    assert urllib.parse.urlsplit(data["user-progress-database-url"]).hostname == f"db.{NAMESPACE}.svc.cluster.local"
    env = {e["name"]: e.get("value") for e in app_container(component(docs, "Deployment", "kafka-monitor"))["env"]}
    assert env["LEARNFLOW_KAFKA__BROKERS"] == f"events.{NAMESPACE}.svc.cluster.local:9092"
    assert env["LEARNFLOW_KAFKA__CONSUMER_GROUPS"] == source_consumer_group()
    comp = next(d for d in docs if d["kind"] == "Component")
    brokers = next(m for m in comp["spec"]["metadata"] if m["name"] == "brokers")
    assert brokers["value"] == f"events.{NAMESPACE}.svc.cluster.local:9092"


def test_load_generator_job(helm, defaults):
    assert not of_kind(defaults, "Job"), "the load generator is off by default"
    docs = render(helm, *REQUIRED, "--set", "loadgen.enabled=true", "--set", "loadgen.rate=120")
    jobs = of_kind(docs, "Job")
    assert len(jobs) == 1
    c = jobs[0]["spec"]["template"]["spec"]["containers"][0]
    assert c["image"].startswith("learnflow/loadgen:")
    args = c["args"]
    flag = lambda f: args[args.index(f) + 1]  # noqa: E731
    gw_svc = component(docs, "Service", "frontend-gateway")
    port = next(p["port"] for p in gw_svc["spec"]["ports"] if p["name"] == "http")
    assert flag("--gateway") == f"http://{gw_svc['metadata']['name']}:{port}"
    assert flag("--rate") == "120"
    assert flag("--secret") == "$(JWT_SECRET)"
    env = {e["name"]: e for e in c["env"]}
    assert env["JWT_SECRET"]["valueFrom"]["secretKeyRef"]["key"] == "jwt-secret"
    # learnflow-load's own flags (crates/loadgen/src/main.rs).
    main = (REPO / "crates" / "loadgen" / "src" / "main.rs").read_text()
    for f in [a for a in args if a.startswith("--")]:
        assert f'"{f}"' in main, f"learnflow-load has no {f} flag"


def test_notes(helm, tmp_path):
    """NOTES.txt renders (through a ConfigMap in a chart copy: helm template skips NOTES)."""
    chart = _chart_copy(tmp_path)
    notes = (chart / "templates" / "NOTES.txt").read_text()
    (chart / "templates" / "_notes_under_test.tpl").write_text(
        '{{- define "test.notes" -}}\n' + notes + "\n{{- end -}}\n")
    (chart / "templates" / "notes-under-test.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes-under-test\n"
        'data:\n  notes: {{ include "test.notes" . | toJson }}\n')
    docs = render(helm, *REQUIRED, "--set", "keda.enabled=true", chart=chart)
    text = by_name(docs, "ConfigMap", "notes-under-test")["data"]["notes"]
    gw = component(docs, "Service", "frontend-gateway")["metadata"]["name"]
    assert f"port-forward svc/{gw}" in text
    assert "get hpa -w" in text and "scaledobject" in text
    assert "openssl dgst -sha256 -hmac" in text and "Authorization: Bearer $TOKEN" in text
    assert "loadgen.enabled=true" in text


def test_notes_token_recipe_matches_the_gateway():
    """The NOTES token recipe (openssl) yields an HS256 JWT with the claims the gateway checks."""
    if not shutil.which("openssl"):
        pytest.fail("openssl is needed to check the NOTES token recipe")
    notes = (CHART / "templates" / "NOTES.txt").read_text()
    lines = [line.strip() for line in notes.splitlines()
             if line.strip().startswith(("b64()", "H=$(", "P=$(", "TOKEN="))]
    assert len(lines) == 4
    script = "\n".join(lines).replace("{{ .Values.frontendGateway.auth.issuer }}", "learnflow-dev") \
        .replace("{{ .Values.frontendGateway.auth.audience }}", "learnflow-api")
    out = subprocess.run(["bash", "-ec", script + '\nprintf %s "$TOKEN"'], capture_output=True,
                         text=True, env={**os.environ, "SECRET": "s3cret"}, timeout=30)
    assert out.returncode == 0, out.stderr
    head, payload, sig = out.stdout.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    claims = json.loads(base64.urlsafe_b64decode(pad(payload)))
    assert json.loads(base64.urlsafe_b64decode(pad(head)))["alg"] == "HS256"
    assert {"sub", "iss", "aud", "exp"} <= set(claims)
    assert (claims["iss"], claims["aud"]) == ("learnflow-dev", "learnflow-api")
    want = hmac.new(b"s3cret", f"{head}.{payload}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(pad(sig)) == want
