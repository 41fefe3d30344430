"""Offline checks of the Helm chart deploy/helm/learnflow.

`helm lint --strict`, then `helm template` under several value sets; every rendered object is
validated against the Kubernetes 1.30 schemas (kubernetes-validate, strict) or, for custom
resources, against the CRD schemas `cargo xtask deps` converts from the pinned Dapr, KEDA and
prometheus-operator modules ($LEARNFLOW_SCHEMAS/crds, ADR 0011); then the chart's promises are
asserted: hardened workloads, string Dapr annotations, one owner per replica count,
ContainerResource HPAs, monitors and rules picked up by kube-prometheus-stack (and only where the
cluster serves their CRDs), ingress from outside only to the gateway, no default secrets, every
dashboard shipped, Dapr objects equal to deploy/dapr, and the Kafka and PostgreSQL the chart runs
itself configured like docker/compose.yaml's and reachable by their clients only.
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
import socket
import subprocess
import tomllib
import urllib.parse

import jsonschema
import kubernetes_validate
import pytest
import yaml

from conftest import REPO, load_yaml_docs, dev_mode_switches

CHART = REPO / "deploy" / "helm" / "learnflow"
COMPOSE = REPO / "docker" / "compose.yaml"
COMPOSE_OBSERVABILITY = REPO / "docker" / "compose.observability.yaml"
STANDINS = REPO / "docker" / "standins"
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
    "courseAgentAppToken": pysecrets.token_hex(16),
    "userProgressAppToken": pysecrets.token_hex(16),
}
SECRET_ARGS = [a for k, v in SECRETS.items() for a in ("--set", f"secrets.{k}={v}")]
_ESCAPED_BROKERS = BROKERS.replace(",", "\\,")  # --set splits on unescaped commas
PG_CA_SECRET = "postgresql-ca"
# PostgreSQL's CA: the chart's default sslMode (verify-full) needs the Secret holding it.
PG_CA_ARGS = ["--set", f"postgresql.tls.caSecret={PG_CA_SECRET}"]
STORE_ARGS = ["--set", f"kafka.brokers={_ESCAPED_BROKERS}", "--set", f"postgresql.host={PG_HOST}", *PG_CA_ARGS]
REQUIRED = SECRET_ARGS + STORE_ARGS

# The APIs of the cluster the scenarios assume: Prometheus Operator and KEDA installed. Without
# them the chart skips the monitors (`.Capabilities`) and refuses keda.enabled.
CLUSTER_APIS = ("--api-versions", "monitoring.coreos.com/v1", "--api-versions", "keda.sh/v1alpha1")
MINIKUBE_ARGS = [
    "-f", str(CHART / "values-dev.yaml"), "-f", str(CHART / "values-minikube.yaml"),
    "--set", "kafka.brokers=", "--set", "postgresql.host=",
]

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
        "--set", "dlqReplay.enabled=true",
        "--set", "dapr.appHealthCheck.enabled=true",
        "--set", "tracing.otlpEndpoint=otel-collector.observability.svc.cluster.local:4318",
    ],
    # skaffold's minikube profile: Kafka and PostgreSQL run by the chart.
    "minikube": MINIKUBE_ARGS,
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


def helm_run(helm, *args, chart=CHART, apis=CLUSTER_APIS):
    return subprocess.run(
        [helm, "template", RELEASE, str(chart), "--namespace", NAMESPACE,
         "--kube-version", KUBE_VERSION, *apis, *args],
        capture_output=True, text=True, timeout=120,
    )


def render(helm, *args, chart=CHART, apis=CLUSTER_APIS):
    out = helm_run(helm, *args, chart=chart, apis=apis)
    assert out.returncode == 0, f"helm template {' '.join(args)} failed:\n{out.stderr}"
    return load_yaml_docs(out.stdout)


def render_fails(helm, *args, chart=CHART, apis=CLUSTER_APIS):
    out = helm_run(helm, *args, chart=chart, apis=apis)
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


def pod_labels(workload):
    return workload["spec"]["template"]["metadata"]["labels"]


WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job", "DaemonSet")


def workloads(docs):
    """Every pod template's owner: app.kubernetes.io/component -> object."""
    found = {}
    for d in docs:
        if d["kind"] in WORKLOAD_KINDS:
            app = pod_labels(d)["app.kubernetes.io/component"]
            assert app not in found, f"two workloads of component {app}"
            found[app] = d
    return found


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


def component_brokers(docs):
    """The brokers value of the rendered Kafka pub/sub Component: where everyone connects."""
    comp = next(d for d in docs if d["kind"] == "Component" and d["spec"]["type"] == "pubsub.kafka")
    return next(m for m in comp["spec"]["metadata"] if m["name"] == "brokers")["value"]


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


def test_dev_mode_is_off_in_every_rendered_scenario(scenario):
    name, docs = scenario
    for doc in docs:
        switches = dev_mode_switches(json.dumps(doc))
        assert not switches, f"{name}: {doc['kind']} {doc['metadata']['name']} turns dev mode on: {switches}"


def test_dev_mode_switches_are_recognised():
    assert dev_mode_switches('{"name": "LEARNFLOW_DEV__ENABLED", "value": "true"}')
    assert dev_mode_switches("[dev]\nenabled = true\n")
    assert not dev_mode_switches("[dev]\nenabled = false\n[auth]\nenabled = true")


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


def helm_lint(helm, *args):
    return subprocess.run(
        [helm, "lint", "--strict", str(CHART), "--namespace", NAMESPACE,
         "--kube-version", KUBE_VERSION, *REQUIRED, *args],
        capture_output=True, text=True, timeout=120,
    )


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_helm_lint_strict(helm, name):
    out = helm_lint(helm, *SCENARIOS[name])
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 chart(s) failed" in out.stdout


def test_values_schema_rejects_mistakes(helm):
    for bad, why in [
        (["--set", "replicaCount=3"], "additional properties 'replicaCount'"),
        (["--set", "frontendGateway.autoscalling.enabled=false"], "autoscalling"),
        (["--set-string", "frontendGateway.autoscaling.maxReplicas=five"], "maxReplicas"),
        (["--set", "tracing.otlpEndpoint=http://jaeger:4318"], "otlpEndpoint"),
        (["--set", "kafka.brokers=kafka"], "brokers"),
        (["--set", "kafka.inCluster.deplyo=true"], "deplyo"),
        (["--set", "kafka.inCluster.topics.partitions=0"], "partitions"),
        (["--set", "kafka.inCluster.clusterId=dev"], "clusterId"),
        (["--set", "postgresql.inCluster.image.tag="], "tag"),
        # The gateway refuses HS256 secrets under 32 bytes; so does the chart, at install.
        (["--set", "secrets.jwtSecret=" + "s" * 31], "jwtSecret"),
        # Plaintext or unverified PostgreSQL only with the explicit dev flag.
        (["--set", "postgresql.sslMode=disable"], "sslMode"),
        (["--set", "postgresql.sslMode=prefer"], "sslMode"),
        (["--set", "postgresql.sslMode=require"], "sslMode"),
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


def image_uid(recipe):
    """The user id the stand-in of an official image runs as (docker/standins/<recipe>), which
    mirrors the official image's user."""
    text = (STANDINS / recipe / "Dockerfile").read_text()
    return int(re.search(r"useradd .*--uid (\d+)", text).group(1))


def test_workloads_are_hardened(scenario):
    name, docs = scenario
    deployments = of_kind(docs, "Deployment")
    # The apps, and the trace and log backends where the chart runs them (minikube).
    backends = {"jaeger", "victorialogs"} if name == "minikube" else set()
    components = {d["metadata"]["labels"]["app.kubernetes.io/component"] for d in deployments}
    assert components == set(APPS) | backends, name
    deployments = [d for d in deployments
                   if d["metadata"]["labels"]["app.kubernetes.io/component"] in APPS]
    accounts = {sa["metadata"]["name"]: sa for sa in of_kind(docs, "ServiceAccount")}
    # Ours run as 10001 (docker/Dockerfile); the data stores as their official image's user.
    uids = {"kafka": image_uid("kafka"), "kafka-topics": image_uid("kafka"),
            "postgresql": image_uid("postgres")}
    assert uids == {"kafka": 1000, "kafka-topics": 1000, "postgresql": 999}
    # VictoriaLogs's image is distroless (no user of its own): nobody.
    uids["victorialogs"] = 65534
    for app, w in workloads(docs).items():
        if app == "vlagent":
            continue  # reads the node's root-owned logs: test_log_agent_reads_only_logs
        where, pod = w["metadata"]["name"], w["spec"]["template"]["spec"]
        psc = pod["securityContext"]
        assert psc["runAsNonRoot"] is True, where
        assert psc["runAsUser"] == uids.get(app, 10001), where
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
            # Third-party images are pinned and pulled only when missing (imported images work).
            if app in uids:
                assert c["imagePullPolicy"] == "IfNotPresent", where
                assert re.fullmatch(r"(?:[^/]+/)*[^/:]+:v?[0-9][\w.-]*", c["image"]), f"{where}: {c['image']} is not pinned"
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
        if app not in APPS:
            continue  # the chart's Jaeger: not one of ours
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
    # Each service a sidecar calls has its own app token; the gateway none (it takes no calls).
    app_tokens = {"course-agent": "courseAgentAppToken", "user-progress": "userProgressAppToken"}
    for app in SIDECAR_APPS:
        d = component(defaults, "Deployment", app)
        env = {e["name"]: e for e in app_container(d)["env"]}
        ann = d["spec"]["template"]["metadata"]["annotations"]
        wiring = [("LEARNFLOW_DAPR__API_TOKEN", "dapr.io/api-token-secret", "daprApiToken")]
        if app in app_tokens:
            wiring.append(("LEARNFLOW_DAPR__APP_TOKEN", "dapr.io/app-token-secret", app_tokens[app]))
        else:
            assert "LEARNFLOW_DAPR__APP_TOKEN" not in env, app
            assert "dapr.io/app-token-secret" not in ann, app
        for var, annotation, secret in wiring:
            ref = env[var]["valueFrom"]["secretKeyRef"]
            # daprd reads key `token` of the secret its annotation names: the same one.
            assert ref == {"name": ann[annotation], "key": "token"}, app
            assert by_name(defaults, "Secret", ref["name"])["stringData"]["token"] == SECRETS[secret]
    assert set(app_tokens) <= set(SIDECAR_APPS)


def _pg_ca_volumes(deployment):
    """(volume, mount) pairs of the PostgreSQL CA in a Deployment, empty when it has none."""
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    mounts = app_container(deployment).get("volumeMounts", [])
    return [(volumes[m["name"]], m) for m in mounts if "secret" in volumes[m["name"]]
            and volumes[m["name"]]["secret"]["secretName"] == PG_CA_SECRET]


def test_postgresql_is_reached_over_verified_tls_by_default(helm, defaults):
    app_secret = by_name(defaults, "Secret", f"{RELEASE}-learnflow-app")["stringData"]
    for app in ("course-agent", "user-progress"):
        url = urllib.parse.urlsplit(app_secret[f"{app}-database-url"])
        query = urllib.parse.parse_qs(url.query)
        assert query["sslmode"] == ["verify-full"], app
        ca_path = query["sslrootcert"][0]
        [(volume, mount)] = _pg_ca_volumes(component(defaults, "Deployment", app))
        assert volume["secret"]["items"] == [{"key": "ca.crt", "path": ca_path.rsplit("/", 1)[1]}], app
        assert mount["mountPath"] == ca_path.rsplit("/", 1)[0] and mount["readOnly"] is True, app
    for app in ("frontend-gateway", "kafka-monitor"):
        assert not _pg_ca_volumes(component(defaults, "Deployment", app)), app
    # verify-full without the CA's Secret: a clear error, not a service that cannot connect.
    err = render_fails(helm, *SECRET_ARGS, "--set", f"kafka.brokers=k:9092", "--set", f"postgresql.host={PG_HOST}")
    assert "postgresql.tls.caSecret is required with postgresql.sslMode=verify-full" in err
    # The dev flag permits plaintext, and then nothing is mounted.
    dev = render(helm, *SECRET_ARGS, "--set", f"kafka.brokers=k:9092", "--set", f"postgresql.host={PG_HOST}",
                 "--set", "postgresql.sslMode=disable", "--set", "postgresql.allowInsecureSslMode=true")
    url = by_name(dev, "Secret", f"{RELEASE}-learnflow-app")["stringData"]["course-agent-database-url"]
    assert url.endswith("?sslmode=disable"), url
    assert not _pg_ca_volumes(component(dev, "Deployment", "course-agent"))


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
    err = render_fails(helm, *SECRET_ARGS, *PG_CA_ARGS, "--set", f"postgresql.host={PG_HOST}")
    assert "kafka.brokers is required" in err
    err = render_fails(helm, *SECRET_ARGS, *PG_CA_ARGS, "--set", f"kafka.brokers=k:9092")
    assert "postgresql.host is required" in err


def test_existing_secrets_replace_secret_values(helm):
    docs = render(
        helm, *STORE_ARGS,
        "--set", "secrets.existingSecret=my-app",
        "--set", "secrets.existingDaprApiTokenSecret=my-dapr",
        "--set", "secrets.existingCourseAgentAppTokenSecret=my-course-agent-token",
        "--set", "secrets.existingUserProgressAppTokenSecret=my-user-progress-token",
    )
    assert not of_kind(docs, "Secret")
    gw = component(docs, "Deployment", "frontend-gateway")
    ann = gw["spec"]["template"]["metadata"]["annotations"]
    assert ann["dapr.io/api-token-secret"] == "my-dapr"
    env = {e["name"]: e for e in app_container(gw)["env"]}
    assert env["LEARNFLOW_AUTH__JWT_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "my-app"
    for app in ("course-agent", "user-progress"):
        d = component(docs, "Deployment", app)
        ann = d["spec"]["template"]["metadata"]["annotations"]
        env = {e["name"]: e for e in app_container(d)["env"]}
        assert ann["dapr.io/app-token-secret"] == f"my-{app}-token"
        assert env["LEARNFLOW_DAPR__APP_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == f"my-{app}-token"


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
        if app == "frontend-gateway":
            assert "dapr.io/app-token-secret" not in ann, "the gateway takes no calls from daprd"
        else:
            assert ann["dapr.io/app-token-secret"] in secrets
        # Off unless asked for: with them daprd 1.18.3's Kafka consumer did not rejoin.
        health = "--set" in SCENARIOS[name] and "dapr.appHealthCheck.enabled=true" in SCENARIOS[name]
        # The gateway serves health on its admin port only: nothing for daprd to probe.
        health = health and app != "frontend-gateway"
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
    # The chart's own Jaeger: the sidecars' tracing endpoint follows it.
    (["--set", "tracing.jaeger.deploy=true"], {
        "LEARNFLOW_KAFKA_BROKERS": BROKERS,
        "LEARNFLOW_KAFKA_VERSION": "4.1.0",
        "LEARNFLOW_OTLP_ENDPOINT": f"lf-learnflow-jaeger.{NAMESPACE}.svc.cluster.local:4318",
        "LEARNFLOW_TRACE_SAMPLING": "1",
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
    # No placeholder is left unfilled; the dashboards' ConfigMaps keep Grafana's own ${var}.
    dashboards = {"grafana_dashboard"}
    assert "${" not in yaml.safe_dump([d for d in docs if not dashboards & set(d["metadata"].get("labels", {}))])


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
    for app, w in workloads(docs).items():
        assert labels_match(deny[0]["spec"]["podSelector"], pod_labels(w)), f"default deny misses {app}"
    open_policies = [p for p in policies if _outside_rules(p)]
    # The chart's Jaeger and VictoriaLogs (minikube) open their query port, and only that,
    # to the outside.
    for backend, port in (("jaeger", "query"), ("victorialogs", "http")):
        opened = [p for p in open_policies if p["metadata"]["name"].endswith(f"-{backend}-ingress")]
        assert len(opened) == (1 if backend in deployments else 0), (name, backend)
        for rule in (r for p in opened for r in _outside_rules(p)):
            assert [p["port"] for p in rule["ports"]] == [port], f"only {backend}'s {port} is public"
        open_policies = [p for p in open_policies if p not in opened]
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
    kafka_ports = {int(b.rsplit(":", 1)[1]) for b in component_brokers(docs).split(",")}
    assert kafka_ports == ({9092} if "kafka.brokers=" in SCENARIOS[name] else {9092, 9093}), name
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


def _alert_runbooks(docs):
    """{alert: runbook_url} of the rendered PrometheusRule."""
    [rule] = of_kind(docs, "PrometheusRule")
    return {r["alert"]: r["annotations"]["runbook_url"]
            for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r}


def test_runbook_urls_are_absolute_from_one_base(helm, defaults):
    relative = _alert_runbooks(defaults)
    assert relative and all(url == f"docs/runbooks/{a}.md" for a, url in relative.items()), relative
    base = "https://git.example/learnflow/blob/main/"
    absolute = _alert_runbooks(render(helm, *REQUIRED, "--set", f"monitoring.rules.runbookBaseUrl={base}"))
    assert absolute == {a: f"{base}docs/runbooks/{a}.md" for a in relative}
    # A base that would glue onto the path (no trailing slash) or is no URL is refused.
    for bad in ("https://git.example/learnflow", "git.example/"):
        assert "runbookBaseUrl" in render_fails(helm, *REQUIRED, "--set", f"monitoring.rules.runbookBaseUrl={bad}")


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
    docs = render(helm, *SECRET_ARGS, *PG_CA_ARGS, "--set", "kafka.inCluster.enabled=true",
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


# ------------------------------------------------------------------------------------------
# Kafka and PostgreSQL run by the chart (kafka/postgresql.inCluster.deploy, values-minikube.yaml)


def pinned_version(name):
    """A pin of crates/testkit/src/versions.rs (what the native stack runs)."""
    text = (REPO / "crates" / "testkit" / "src" / "versions.rs").read_text()
    return re.search(rf'pub const {name}: &str = "([^"]+)";', text).group(1)


def _compose_env(service):
    """A compose service's environment with ${VAR:-default} resolved to the default."""
    env = yaml.safe_load(COMPOSE.read_text())["services"][service]["environment"]
    return {k: re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(v)) for k, v in env.items()}


def kafka_properties(env):
    """The broker properties the apache/kafka image makes of its environment, by the rules the
    stand-in's entrypoint (docker/standins/kafka/run) implements: KAFKA_* minus the launcher's
    own variables, prefix dropped, lower case, "___" -> "-", "__" -> "_", "_" -> "."."""
    run = (STANDINS / "kafka" / "run").read_text()
    launcher = set(re.search(r'launcher_vars="([^"]*)"', run).group(1).split())
    assert {"KAFKA_HEAP_OPTS", "KAFKA_OPTS"} <= launcher
    props = {}
    for name, value in env.items():
        if name.startswith("KAFKA_") and name not in launcher:
            key = name[len("KAFKA_"):].lower().replace("___", "-").replace("__", "\0").replace("_", ".")
            props[key.replace("\0", "_")] = value
    return props


# Sidecars a store's pod may carry beside its one main container.
STORE_SIDECARS = {"postgres-exporter"}


def _container(workload):
    """The workload's main container: the first; any other must be a known sidecar."""
    containers = workload["spec"]["template"]["spec"]["containers"]
    extra = {c["name"] for c in containers[1:]}
    assert extra <= STORE_SIDECARS, (workload["metadata"]["name"], extra)
    return containers[0]


def _env(container):
    return {e["name"]: e for e in container["env"]}


def _mount_of(workload, container, path):
    """The volume a path lies on (its deepest mount), or None."""
    mounts = sorted(container.get("volumeMounts", []), key=lambda m: -len(m["mountPath"]))
    mount = next((m for m in mounts if path == m["mountPath"] or path.startswith(m["mountPath"].rstrip("/") + "/")), None)
    if mount is None:
        return None
    volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"]["volumes"]}
    claims = {c["metadata"]["name"]: c for c in workload["spec"].get("volumeClaimTemplates", [])}
    return volumes.get(mount["name"]) or claims.get(mount["name"])


@pytest.fixture(scope="module")
def minikube(helm):
    return render(helm, *REQUIRED, *MINIKUBE_ARGS)


def test_in_cluster_kafka_is_the_compose_broker(minikube):
    docs = minikube
    sts = component(docs, "StatefulSet", "kafka")
    c = _container(sts)
    assert c["image"] == yaml.safe_load(COMPOSE.read_text())["services"]["kafka"]["image"]
    assert c["image"] == f"apache/kafka:{pinned_version('KAFKA')}"
    ours = {k: e["value"] for k, e in _env(c).items()}
    theirs = _compose_env("kafka")
    # What a cluster changes: the address clients are handed, and a log directory on the
    # pod's data volume instead of the container's /tmp.
    differ = {"KAFKA_ADVERTISED_LISTENERS", "KAFKA_LOG_DIRS"}
    assert {k for k in ours if k.startswith("KAFKA_") or k == "CLUSTER_ID"} == set(theirs)
    for k in sorted(set(theirs) - differ):
        assert ours[k] == theirs[k], f"{k}: {ours[k]!r}, compose {theirs[k]!r}"
    # The KRaft properties the image derives: one node that is its own controller quorum,
    # clients sent to the Service everyone else is given.
    props = kafka_properties(ours)
    assert props["process.roles"] == "broker,controller"
    voter_id, voter = props["controller.quorum.voters"].split("@")
    assert voter_id == props["node.id"] and voter.split(":")[0] == "localhost"
    listeners = dict(x.split("://") for x in props["listeners"].split(","))
    assert set(listeners) == {"PLAINTEXT", props["controller.listener.names"]}
    assert listeners[props["controller.listener.names"]] == ":" + voter.split(":")[1]
    assert props["inter.broker.listener.name"] == "PLAINTEXT"
    brokers = component_brokers(docs)
    assert props["advertised.listeners"] == f"PLAINTEXT://{brokers}"
    host, port = brokers.rsplit(":", 1)
    svc = component(docs, "Service", "kafka")
    assert host == f"{svc['metadata']['name']}.{NAMESPACE}.svc.cluster.local"
    assert labels_match({"matchLabels": svc["spec"]["selector"]}, pod_labels(sts))
    assert sts["spec"]["serviceName"] == svc["metadata"]["name"]
    (svc_port,) = svc["spec"]["ports"]
    container_ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert svc_port["port"] == int(port) == container_ports[svc_port["targetPort"]]
    assert listeners["PLAINTEXT"] == f":{container_ports[svc_port['targetPort']]}"
    # Its log on the data volume (emptyDir by default, like compose's dev broker), the
    # properties file the image writes at start on a writable one.
    assert _mount_of(sts, c, props["log.dirs"]) == {"name": "data", "emptyDir": {}}
    assert _mount_of(sts, c, "/opt/kafka/config/server.properties") is not None
    # Service links would hand the image KAFKA_PORT=tcp://… for a Service named kafka.
    assert sts["spec"]["template"]["spec"]["enableServiceLinks"] is False
    job = component(docs, "Job", "kafka-topics")
    assert props["num.partitions"] == _env(_container(job))["PARTITIONS"]["value"]


def test_in_cluster_kafka_volume_follows_persistence(helm):
    docs = render(helm, *REQUIRED, *MINIKUBE_ARGS, "--set", "kafka.inCluster.persistence.enabled=true",
                  "--set", "kafka.inCluster.persistence.storageClass=fast")
    sts = component(docs, "StatefulSet", "kafka")
    c = _container(sts)
    claim = _mount_of(sts, c, kafka_properties({k: e["value"] for k, e in _env(c).items()})["log.dirs"])
    assert claim["spec"]["storageClassName"] == "fast"
    assert claim["spec"]["resources"]["requests"]["storage"] == "4Gi"
    assert "data" not in {v["name"] for v in sts["spec"]["template"]["spec"]["volumes"]}


def test_store_images_follow_the_chart_registry(helm):
    """A local registry (image.registry) serves the stores' images too, under the same names."""
    docs = render(helm, *REQUIRED, *MINIKUBE_ARGS, "--set", "image.registry=registry.local:5000")
    images = {app: _container(w)["image"] for app, w in workloads(docs).items()}
    assert images["kafka"] == images["kafka-topics"] == f"registry.local:5000/apache/kafka:{pinned_version('KAFKA')}"
    assert images["postgresql"] == "registry.local:5000/" + yaml.safe_load(COMPOSE.read_text())["services"]["postgres"]["image"]


def _subscription_topics():
    subs = [d for d in dapr_sources() if d["kind"] == "Subscription"]
    return {t for s in subs for t in (s["spec"]["topic"], s["spec"].get("deadLetterTopic")) if t}


def test_topic_job_creates_the_subscribed_topics_with_enough_partitions(helm, minikube):
    topics = _subscription_topics()
    assert {source_topic(), "lesson-events-dlq"} <= topics
    for docs, owner in (
        (minikube, "HorizontalPodAutoscaler"),
        (render(helm, *REQUIRED, *MINIKUBE_ARGS, "--set", "keda.enabled=true"), "ScaledObject"),
    ):
        job = component(docs, "Job", "kafka-topics")
        env = {k: e["value"] for k, e in _env(_container(job)).items()}
        assert set(env["TOPICS"].split()) == topics
        assert env["BOOTSTRAP"] == component_brokers(docs)
        scaler = component(docs, owner, "user-progress")
        most = scaler["spec"]["maxReplicas" if owner == "HorizontalPodAutoscaler" else "maxReplicaCount"]
        assert int(env["PARTITIONS"]) >= most, f"{owner}: {most} replicas, {env['PARTITIONS']} partitions"
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    # Fewer partitions than replicas is refused, naming what owns the count.
    err = render_fails(helm, *REQUIRED, *MINIKUBE_ARGS, "--set", "kafka.inCluster.topics.partitions=2")
    assert "userProgress.autoscaling.maxReplicas (3)" in err
    err = render_fails(helm, *REQUIRED, *MINIKUBE_ARGS, "--set", "keda.enabled=true", "--set", "keda.maxReplicaCount=6")
    assert "keda.maxReplicaCount (6)" in err
    # Raised partitions reach both the broker's auto-creation default and the Job.
    docs = render(helm, *REQUIRED, *MINIKUBE_ARGS, "--set", "kafka.inCluster.topics.partitions=8")
    assert _env(_container(component(docs, "Job", "kafka-topics")))["PARTITIONS"]["value"] == "8"
    assert _env(_container(component(docs, "StatefulSet", "kafka")))["KAFKA_NUM_PARTITIONS"]["value"] == "8"


def test_topic_job_script_creates_then_grows_topics(minikube, tmp_path):
    """The Job's script, run by bash against a fake kafka-topics.sh and a listening port."""
    c = _container(component(minikube, "Job", "kafka-topics"))
    assert c["command"][:2] == ["bash", "-ec"]
    script = c["command"][2]
    tool = "/opt/kafka/bin/kafka-topics.sh"
    assert tool in script
    env = {k: e["value"] for k, e in _env(c).items()}
    # The kubelet expands $(NAME) of the container's variables in a command.
    assert not [n for n in env if f"$({n})" in script]
    log = tmp_path / "calls"
    fake = tmp_path / "kafka-topics.sh"
    fake.write_text(
        '#!/usr/bin/env bash\n'
        f'echo "$*" >> {log}\n'
        'case " $* " in *" --describe "*)\n'
        '  printf "Topic: t\\tTopicId: x\\tPartitionCount: %s\\tReplicationFactor: 1\\n" "$HAVE"\n'
        '  printf "\\tTopic: t\\tPartition: 0\\tLeader: 1\\n";; esac\n')
    fake.chmod(0o755)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        env["BOOTSTRAP"] = f"127.0.0.1:{listener.getsockname()[1]}"
        calls = {}
        for have in ("2", env["PARTITIONS"]):
            log.write_text("")
            out = subprocess.run(["bash", "-ec", script.replace(tool, str(fake))],
                                 env={"PATH": os.environ["PATH"], "HAVE": have, **env},
                                 capture_output=True, text=True, timeout=60)
            assert out.returncode == 0, out.stderr
            calls[have] = log.read_text().splitlines()
    bootstrap = f"--bootstrap-server {env['BOOTSTRAP']}"
    for topic in env["TOPICS"].split():
        create = f"{bootstrap} --create --if-not-exists --topic {topic} --partitions {env['PARTITIONS']} --replication-factor 1"
        alter = f"{bootstrap} --alter --topic {topic} --partitions {env['PARTITIONS']}"
        assert create in calls["2"] and alter in calls["2"], calls["2"]
        assert create in calls[env["PARTITIONS"]] and alter not in calls[env["PARTITIONS"]]


def test_in_cluster_postgresql(helm, minikube):
    for docs, dbs in (
        (minikube, {"course_agent", "user_progress"}),
        (render(helm, *REQUIRED, *MINIKUBE_ARGS, "--set", "postgresql.databases.courseAgent=lessons \"x\""),
         {'lessons "x"', "user_progress"}),
    ):
        sts = component(docs, "StatefulSet", "postgresql")
        c = _container(sts)
        assert c["image"] == yaml.safe_load(COMPOSE.read_text())["services"]["postgres"]["image"]
        assert c["image"].startswith(f"postgres:{pinned_version('POSTGRES_MAJOR')}.")
        # The init scripts create exactly the services' databases, and nothing else.
        init = _mount_of(sts, c, "/docker-entrypoint-initdb.d/10.sql")
        cm = by_name(docs, "ConfigMap", init["configMap"]["name"])
        sql = "\n".join(v for k, v in sorted(cm["data"].items()) if k.endswith(".sql"))
        statements = [s.strip() for s in re.sub(r"--[^\n]*", "", sql).split(";") if s.strip()]
        created = [re.fullmatch(r'CREATE DATABASE "((?:[^"]|"")+)"', s) for s in statements]
        assert all(created), statements
        assert sorted(m.group(1).replace('""', '"') for m in created) == sorted(dbs)
        # The password only through the chart's Secret: the one the database URLs carry.
        env = _env(c)
        assert "value" not in env["POSTGRES_PASSWORD"]
        ref = env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]
        secret = by_name(docs, "Secret", ref["name"])["stringData"]
        assert secret[ref["key"]] == SECRETS["databasePassword"]
        svc = component(docs, "Service", "postgresql")
        assert labels_match({"matchLabels": svc["spec"]["selector"]}, pod_labels(sts))
        for key in ("course-agent-database-url", "user-progress-database-url"):
            url = urllib.parse.urlsplit(secret[key])
            assert urllib.parse.unquote(url.password) == SECRETS["databasePassword"]
            assert url.username == env["POSTGRES_USER"]["value"]
            assert url.hostname == f"{svc['metadata']['name']}.{NAMESPACE}.svc.cluster.local"
            assert url.port == svc["spec"]["ports"][0]["port"]
            assert urllib.parse.unquote(url.path[1:]) in dbs
        for d in docs:
            if d["kind"] != "Secret":
                assert SECRETS["databasePassword"] not in json.dumps(d), f"{d['kind']} {d['metadata']['name']}"
        # PGDATA on the data volume (a PersistentVolumeClaim by default, like compose's).
        # PGDATA below the data volume's root (initdb wants a directory of its own), which is
        # a PersistentVolumeClaim by default, like compose's postgres-data volume.
        pgdata = env["PGDATA"]["value"]
        claim = _mount_of(sts, c, pgdata)
        assert claim["metadata"]["name"] == "data" and "accessModes" in claim["spec"]
        assert pgdata not in {m["mountPath"].rstrip("/") for m in c["volumeMounts"]}
    docs = render(helm, *STORE_ARGS, *MINIKUBE_ARGS, "--set", "secrets.existingSecret=my-app",
                  "--set", f"secrets.daprApiToken={SECRETS['daprApiToken']}",
                  "--set", f"secrets.courseAgentAppToken={SECRETS['courseAgentAppToken']}",
                  "--set", f"secrets.userProgressAppToken={SECRETS['userProgressAppToken']}")
    ref = _env(_container(component(docs, "StatefulSet", "postgresql")))["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "my-app", "key": "database-password"}


NS_LABELS = {"kubernetes.io/metadata.name": NAMESPACE}


def _peer_admits(peer, labels, ns_labels):
    if "ipBlock" in peer:
        return True
    if "namespaceSelector" in peer:
        if not labels_match(peer["namespaceSelector"], ns_labels):
            return False
    elif ns_labels != NS_LABELS:
        return False  # a bare podSelector means this namespace
    return "podSelector" not in peer or labels_match(peer["podSelector"], labels)


def _ports_admit(rule, port, names):
    ports = rule.get("ports")
    return not ports or any(p.get("port") in (None, port, *names) for p in ports)


def connection_allowed(policies, src, dst, port, port_names=(), src_ns=NS_LABELS):
    """Whether the NetworkPolicies let pod labels `src` (in namespace `src_ns`) open a TCP
    connection to pod labels `dst` (in ours) on `port`: both dst's ingress and, for a pod of
    ours, src's egress must allow it."""
    def side(kind, selected, peer_labels, peer_ns, key, peers):
        chosen = [p for p in policies if kind in p["spec"]["policyTypes"]
                  and labels_match(p["spec"]["podSelector"], selected)]
        if not chosen:
            return True
        return any(
            _ports_admit(rule, port, port_names)
            and (peers not in rule or any(_peer_admits(x, peer_labels, peer_ns) for x in rule[peers]))
            for p in chosen for rule in p["spec"].get(key, [])
        )
    ingress = side("Ingress", dst, src, src_ns, "ingress", "from")
    egress = src_ns != NS_LABELS or side("Egress", src, dst, NS_LABELS, "egress", "to")
    return ingress and egress


def test_network_policies_admit_exactly_the_store_clients(helm, minikube):
    kafka_clients = {"course-agent", "user-progress", "kafka-monitor", "kafka-topics"}
    pg_clients = {"course-agent", "user-progress"}
    for docs in (
        minikube,
        render(helm, *REQUIRED, *MINIKUBE_ARGS, "--set", "keda.enabled=true"),
        # Egress open: the stores' ingress alone must keep everyone else out.
        render(helm, *REQUIRED, *MINIKUBE_ARGS, "--set", "networkPolicies.restrictEgress=false"),
    ):
        policies = of_kind(docs, "NetworkPolicy")
        pods = {app: pod_labels(w) for app, w in workloads(docs).items()}
        assert {"kafka", "postgresql", "kafka-topics"} <= set(pods)
        for store, clients in (("kafka", kafka_clients), ("postgresql", pg_clients)):
            svc = component(docs, "Service", store)["spec"]["ports"][0]
            names = (svc["targetPort"],)
            for app, labels in pods.items():
                if app == store:
                    continue
                allowed = connection_allowed(policies, labels, pods[store], svc["port"], names)
                assert allowed == (app in clients), f"{app} -> {store}:{svc['port']}: {allowed}"
            # Nothing from another namespace's pods, except KEDA's operator reading the lag.
            keda = any(d["kind"] == "ScaledObject" for d in docs)
            for ns, want in (("default", False), ("keda", keda and store == "kafka")):
                got = connection_allowed(policies, {"app": "x"}, pods[store], svc["port"], names,
                                         src_ns={"kubernetes.io/metadata.name": ns})
                assert got == want, f"namespace {ns} -> {store}: {got}"


def test_connection_check_sees_a_missing_rule(minikube):
    """The checker above fails when a path is cut: drop the Kafka ingress policy."""
    policies = [p for p in of_kind(minikube, "NetworkPolicy") if not p["metadata"]["name"].endswith("-kafka-ingress")]
    pods = {app: pod_labels(w) for app, w in workloads(minikube).items()}
    assert not connection_allowed(policies, pods["course-agent"], pods["kafka"], 9092, ("kafka",))
    cut = copy.deepcopy(of_kind(minikube, "NetworkPolicy"))
    for p in cut:
        if p["metadata"]["name"].endswith("-kafka-egress"):
            p["spec"]["podSelector"]["matchExpressions"][1]["values"].remove("kafka-topics")
    assert not connection_allowed(cut, pods["kafka-topics"], pods["kafka"], 9092, ("kafka",))


def test_minikube_recipe_with_generated_dev_secrets(helm, schemas, tmp_path):
    """values-dev.yaml + values-minikube.yaml + the secrets dev-secrets.sh writes, on a fresh
    minikube (no Prometheus Operator, no KEDA): every object valid, the stores run by the chart."""
    private = tmp_path / "minikube-secrets.yaml"
    out = subprocess.run(["sh", str(CHART / "dev-secrets.sh"), str(private)], cwd=REPO,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    generated = yaml.safe_load(private.read_text())["secrets"]
    docs = render(helm, "-f", str(CHART / "values-dev.yaml"), "-f", str(CHART / "values-minikube.yaml"),
                  "-f", str(private), apis=())
    for obj in docs:
        validate(obj, schemas)
    assert {w["kind"] for w in workloads(docs).values()} == {"Deployment", "StatefulSet", "Job", "DaemonSet"}
    assert {"kafka", "postgresql", "kafka-topics"} <= set(workloads(docs))
    assert not [d for d in docs if d["kind"] in MONITORING_KINDS | {"ScaledObject"}]
    app = by_name(docs, "Secret", f"{RELEASE}-learnflow-app")["stringData"]
    assert app["database-password"] == generated["databasePassword"]


def test_minikube_recipe_is_pinned():
    """The cluster recipe (values-minikube.yaml's header, README) names no Bitnami chart and
    pins every piece to what the project runs."""
    header = "\n".join(line for line in (CHART / "values-minikube.yaml").read_text().splitlines()
                       if line.startswith("#"))
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("**skaffold on minikube**"):readme.index("**Scaling**")]
    for text in (header, section):
        assert "bitnami" not in text.lower()
        assert f"dapr init -k --runtime-version {pinned_version('DAPR')} --wait" in text
        assert "--cni=calico" in text
        assert f"minikube start --kubernetes-version={pinned_version('MINIKUBE_KUBERNETES')} " in text
        assert f"minikube {pinned_version('MINIKUBE')}" in text
    for line in header.splitlines():
        if "helm install" in line or "helm upgrade" in line:
            assert re.search(r"--version \d+\.\d+\.\d+", line), line
    assert f"--version {pinned_version('KEDA_MODULE').lstrip('v')}" in header


def test_monitors_only_where_the_cluster_serves_their_api(helm, tmp_path):
    monitoring_api = ("--api-versions", "monitoring.coreos.com/v1")
    for apis, want in (((), set()), (monitoring_api, MONITORING_KINDS)):
        docs, notes = _notes(helm, tmp_path, *REQUIRED, apis=apis)
        assert {d["kind"] for d in docs} & MONITORING_KINDS == want, apis
        # Dashboards are plain ConfigMaps: shipped either way.
        assert [c for c in of_kind(docs, "ConfigMap") if c["metadata"].get("labels", {}).get("grafana_dashboard")]
        assert ("SKIPPED" in notes) == (not want), notes


def test_keda_without_its_api_fails_clearly(helm):
    err = render_fails(helm, *REQUIRED, "--set", "keda.enabled=true", apis=("--api-versions", "monitoring.coreos.com/v1"))
    assert "keda.enabled is true but the cluster serves no keda.sh/v1alpha1 API" in err
    # helm lint cannot declare the cluster's APIs and turns `fail` into an [INFO] line (lint
    # mode), so it still lints the ScaledObject, and says what an install would do.
    out = helm_lint(helm, "--set", "keda.enabled=true")
    assert out.returncode == 0 and "[INFO] Fail: keda.enabled is true" in out.stderr


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


def test_dead_letter_replay_job(helm, defaults):
    assert not [j for j in of_kind(defaults, "Job")
                if "dlq-replay" in j["metadata"]["name"]], "the replay is off by default"
    docs = render(helm, *REQUIRED, "--set", "dlqReplay.enabled=true",
                  "--set", "dlqReplay.since=24h", "--set", "dlqReplay.dryRun=true")
    job = component(docs, "Job", "dlq-replay")
    c = job["spec"]["template"]["spec"]["containers"][0]
    monitor = app_container(component(docs, "Deployment", "kafka-monitor"))
    assert c["image"] == monitor["image"], "learnflow-admin ships in the kafka-monitor image"
    assert c["command"] == ["/usr/local/bin/learnflow-admin"]
    args = c["args"]
    flag = lambda f: args[args.index(f) + 1]  # noqa: E731
    assert args[:2] == ["dlq", "replay"] and "--dry-run" in args
    assert flag("--since") == "24h"
    brokers = {e["name"]: e.get("value") for e in monitor["env"]}["LEARNFLOW_KAFKA__BROKERS"]
    assert flag("--brokers") == brokers
    # learnflow-admin's own flags (crates/admin/src/lib.rs).
    admin = (REPO / "crates" / "admin" / "src" / "lib.rs").read_text()
    for f in [a for a in args if a.startswith("--")]:
        assert f'"{f}"' in admin, f"learnflow-admin has no {f} flag"
    real = render(helm, *REQUIRED, "--set", "dlqReplay.enabled=true")
    args = component(real, "Job", "dlq-replay")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--dry-run" not in args and "--since" not in args
    # With network policies on, the Job may reach Kafka.
    egress = [p for p in of_kind(docs, "NetworkPolicy") if p["metadata"]["name"].endswith("-kafka-egress")]
    assert egress and "dlq-replay" in json.dumps(egress[0]["spec"]["podSelector"])
    render_fails(helm, *REQUIRED, "--set", "dlqReplay.enabled=true", "--set", "dlqReplay.since=yesterday")


def _notes(helm, tmp_path, *args, apis=CLUSTER_APIS):
    """NOTES.txt rendered (through a ConfigMap in a chart copy: helm template skips NOTES)."""
    chart = tmp_path / "learnflow"
    if not chart.exists():
        _chart_copy(tmp_path)
        notes = (chart / "templates" / "NOTES.txt").read_text()
        (chart / "templates" / "_notes_under_test.tpl").write_text(
            '{{- define "test.notes" -}}\n' + notes + "\n{{- end -}}\n")
        (chart / "templates" / "notes-under-test.yaml").write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes-under-test\n"
            'data:\n  notes: {{ include "test.notes" . | toJson }}\n')
    docs = render(helm, *args, chart=chart, apis=apis)
    return docs, by_name(docs, "ConfigMap", "notes-under-test")["data"]["notes"]


def test_notes(helm, tmp_path):
    docs, text = _notes(helm, tmp_path, *REQUIRED, "--set", "keda.enabled=true")
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


def _pod_monitor_for(docs, app):
    monitors = [m for m in of_kind(docs, "PodMonitor")
                if m["metadata"].get("labels", {}).get("app.kubernetes.io/component") == app]
    return monitors[0] if monitors else None


def test_the_chart_postgresql_reports_through_postgres_exporter(helm, minikube):
    """postgres_exporter rides in PostgreSQL's pod over loopback, logs in with the chart's
    password (from its Secret), and a PodMonitor scrapes it as the native stack's job."""
    sts = component(minikube, "StatefulSet", "postgresql")
    exporter = {c["name"]: c for c in sts["spec"]["template"]["spec"]["containers"]}["postgres-exporter"]
    compose = yaml.safe_load(COMPOSE_OBSERVABILITY.read_text())["services"]["postgres-exporter"]
    assert exporter["image"] == compose["image"]
    env = _env(exporter)
    assert env["DATA_SOURCE_URI"]["value"].startswith("127.0.0.1:5432/")
    assert env["DATA_SOURCE_USER"]["value"] == _env(_container(sts))["POSTGRES_USER"]["value"]
    ref = env["DATA_SOURCE_PASS"]["valueFrom"]["secretKeyRef"]
    assert by_name(minikube, "Secret", ref["name"])["stringData"][ref["key"]] == SECRETS["databasePassword"]
    assert {"name": "metrics", "containerPort": 9187, "protocol": "TCP"} in exporter["ports"]
    monitor = _pod_monitor_for(minikube, "postgresql")
    assert monitor, "no PodMonitor for postgresql"
    assert labels_match(monitor["spec"]["selector"], pod_labels(sts))
    endpoint, = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == "metrics"
    assert {"action": "replace", "targetLabel": "job", "replacement": "postgresql"} in endpoint["relabelings"]
    off = render(helm, *REQUIRED, *MINIKUBE_ARGS, "--set", "postgresql.inCluster.metrics.enabled=false")
    assert len(component(off, "StatefulSet", "postgresql")["spec"]["template"]["spec"]["containers"]) == 1
    assert _pod_monitor_for(off, "postgresql") is None


def test_the_chart_kafka_reports_through_the_jmx_agent_only_with_an_image_that_has_it(helm, minikube):
    """Off with the official image (it has no agent); on in values-local.yaml, which runs
    learnflow/kafka, whose entrypoint loads the agent into the broker when
    LEARNFLOW_JMX_EXPORTER_PORT is set. Never KAFKA_OPTS: every JVM in the container reads
    it, and `kubectl exec … kafka-topics.sh` then fails to bind the agent's port (seen)."""
    def env(docs):
        return _env(_container(component(docs, "StatefulSet", "kafka")))
    assert "LEARNFLOW_JMX_EXPORTER_PORT" not in env(minikube)
    assert _pod_monitor_for(minikube, "kafka") is None
    local = render(helm, *REQUIRED, *MINIKUBE_ARGS, "-f", str(CHART / "values-local.yaml"))
    sts = component(local, "StatefulSet", "kafka")
    c = _container(sts)
    assert c["image"] == "127.0.0.1:15000/learnflow/kafka:dev"
    assert env(local)["LEARNFLOW_JMX_EXPORTER_PORT"]["value"] == "9404"
    assert "KAFKA_OPTS" not in env(local)
    stage = (REPO / "docker/Dockerfile").read_text().split("AS kafka\n", 1)[1].split("\nFROM ", 1)[0]
    assert 'ENTRYPOINT ["/opt/jmx-exporter/kafka-broker-with-agent.sh"]' in stage
    entrypoint = (REPO / "docker/kafka-broker-with-agent.sh").read_text()
    assert "LEARNFLOW_JMX_EXPORTER_PORT" in entrypoint
    assert {"name": "metrics", "containerPort": 9404, "protocol": "TCP"} in c["ports"]
    monitor = _pod_monitor_for(local, "kafka")
    assert labels_match(monitor["spec"]["selector"], pod_labels(sts))
    endpoint, = monitor["spec"]["podMetricsEndpoints"]
    assert {"action": "replace", "targetLabel": "job", "replacement": "kafka-broker"} in endpoint["relabelings"]


def test_the_chart_runs_a_trace_backend_when_asked_and_everything_exports_to_it(helm, minikube):
    """tracing.jaeger.deploy (on in values-minikube.yaml): Jaeger v2 with the compose stack's
    configuration, every app exporting to its Service; never beside another endpoint."""
    jaeger = component(minikube, "Deployment", "jaeger")
    svc = component(minikube, "Service", "jaeger")
    assert labels_match({"matchLabels": svc["spec"]["selector"]}, pod_labels(jaeger))
    endpoint = f"http://{svc['metadata']['name']}.{NAMESPACE}.svc.cluster.local:4318"
    for app in APPS:
        assert _env(app_container(component(minikube, "Deployment", app)))[
            "OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == endpoint, app
    config = component(minikube, "ConfigMap", "jaeger")["data"]["config.yaml"]
    assert config == (REPO / "docker/jaeger/config.yaml").read_text()
    compose = yaml.safe_load(COMPOSE_OBSERVABILITY.read_text())["services"]["jaeger"]
    assert _container(jaeger)["image"] == compose["image"]
    assert {p["name"]: p["port"] for p in svc["spec"]["ports"]}["query"] == 16686
    defaults = render(helm, *REQUIRED)
    assert not [d for d in defaults if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "jaeger"]
    err = render_fails(helm, *REQUIRED, "--set", "tracing.jaeger.deploy=true",
                       "--set", "tracing.otlpEndpoint=collector.tracing:4318")
    assert "tracing.otlpEndpoint and tracing.jaeger.deploy" in err


# ------------------------------------------------------------------------------------------
# the log backend (logs.deploy)


def test_logs_are_off_by_default_and_on_for_minikube(defaults, minikube):
    assert not [d for d in defaults if d["metadata"].get("labels", {}).get(
        "app.kubernetes.io/component") in ("victorialogs", "vlagent")]
    assert component(minikube, "Deployment", "victorialogs")
    assert component(minikube, "DaemonSet", "vlagent")


def test_log_agent_reads_only_logs(minikube):
    """vlagent runs as root (the kubelet's log files are root's, mode 0640) but with nothing
    else: no capability, a read-only root, every host path read-only and only the log
    directories; the API access it gets is reading pods, nodes and namespaces."""
    agent = component(minikube, "DaemonSet", "vlagent")
    pod = agent["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert not pod.get("hostNetwork") and not pod.get("hostPID")
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]} and not sc.get("privileged")
    host = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}
    assert set(host.values()) == {"/var/log/containers", "/var/log/pods"}
    for mount in c["volumeMounts"]:
        if mount["name"] in host:
            assert mount.get("readOnly") is True, mount
            # The links in /var/log/containers name host paths: they must resolve inside too.
            assert mount["mountPath"] == host[mount["name"]], mount
    args = c["args"]
    assert "-kubernetesCollector" in args
    store = component(minikube, "Service", "victorialogs")
    assert f"-remoteWrite.url=http://{store['metadata']['name']}:9428/insert/native" in args
    namespace = NAMESPACE
    assert f"-kubernetesCollector.excludeFilter=NOT kubernetes.pod_namespace:=\"{namespace}\"" in args
    (role,) = of_kind(minikube, "ClusterRole")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods", "nodes", "namespaces"],
                              "verbs": ["get", "list", "watch"]}]
    (binding,) = of_kind(minikube, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": pod["serviceAccountName"],
                                    "namespace": namespace}]


def test_log_agent_mounts_the_pod_log_directory_it_is_given(helm):
    docs = render(helm, *REQUIRED, "--set", "logs.deploy=true",
                  "--set", "logs.agent.podLogsPath=/srv/kubelet/pods")
    pod = component(docs, "DaemonSet", "vlagent")["spec"]["template"]["spec"]
    paths = {v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}
    assert paths == {"/var/log/containers", "/srv/kubelet/pods"}
    assert "/srv/kubelet/pods" in {m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert "podLogsPath" in render_fails(helm, *REQUIRED, "--set", "logs.deploy=true",
                                         "--set", "logs.agent.podLogsPath=relative/pods")


def test_log_agent_egress_is_the_api_server_and_the_store(minikube):
    policy = by_name(minikube, "NetworkPolicy", f"{RELEASE}-learnflow-vlagent-egress")
    api, store = policy["spec"]["egress"]
    assert sorted(p["port"] for p in api["ports"]) == [443, 6443]
    assert store["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "victorialogs"
    assert [p["port"] for p in store["ports"]] == [9428]
