"""Offline checks of docker/: the Dockerfile, the layered compose files and what they mount.

No Docker engine: the files are interpolated and merged the way compose does it
(compose_model.py), validated against the compose JSON schema (the one compose-go embeds,
from $LEARNFLOW_SCHEMAS; ADR 0011), and held against the rest of the repository (service
config defaults, Dapr resources, dashboards, rules, the workspace's binaries). Prometheus and
Jaeger configs go through promtool and `jaeger validate`.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import threading
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml

import compose_model as cm
from conftest import REPO, dev_mode_switches

DOCKER = REPO / "docker"
LAYERS = ("compose.yaml", "compose.observability.yaml", "compose.logs.yaml", "compose.load.yaml")
# The layer that ships every core container's output to VictoriaLogs.
LOGS_LAYER = "compose.logs.yaml"
DOCKERFILE = DOCKER / "Dockerfile"
# Binaries of the workspace that are developer or test tools, not images: the task runner,
# a test client, the local cluster's NetworkPolicy enforcer (on the node, ADR 0022).
NOT_IMAGES = {"xtask", "learnflow-slowloris", "learnflow-netpol"}
# What a test run pretends docker/.env holds (values a scanner cannot mistake for real ones).
TEST_ENV = {
    "LEARNFLOW_POSTGRES_PASSWORD": "test0postgres0password",
    "LEARNFLOW_JWT_SECRET": "test0jwt0secret",
    "LEARNFLOW_DAPR_API_TOKEN": "test0dapr0token",
    "LEARNFLOW_COURSE_AGENT_APP_TOKEN": "test0course0agent0token",
    "LEARNFLOW_USER_PROGRESS_APP_TOKEN": "test0user0progress0token",
    "LEARNFLOW_GRAFANA_ADMIN_PASSWORD": "test0grafana0password",
    "LEARNFLOW_LOGS_TOKEN": "test0logs0token",
}


def raw(name: str) -> dict:
    return yaml.safe_load((DOCKER / name).read_text())


def resolved(*names: str, env: dict | None = None) -> dict:
    """The files merged in order and interpolated, as `docker compose -f … config` sees them."""
    docs = [cm.without_extensions(raw(n)) for n in names]
    return cm.interpolate(cm.merged(*docs), TEST_ENV if env is None else env)


def full() -> dict:
    return resolved(*LAYERS)


def services() -> dict:
    return full()["services"]


def schema_validator(schemas: Path):
    path = schemas / "compose" / "compose-spec.json"
    if not path.is_file():
        pytest.fail(f"compose schema missing: {path}")
    schema = json.loads(path.read_text())
    # The draft its $schema names (2020-12 for compose-go v2.16): services close their keys
    # with unevaluatedProperties, which an older draft's validator would silently ignore.
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def errors_of(validator, doc) -> list[str]:
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(doc)]


# ── config defaults of the services ──────────────────────────────────────────────────


def defaults(app: str) -> dict:
    return tomllib.loads((REPO / f"services/{app}/src/config.default.toml").read_text())


def effective(app: str, svc: dict, section: str, key: str):
    """A setting as the service sees it in the container: its default, or the
    LEARNFLOW_<SECTION>__<KEY> environment entry compose gives it (the image sets none
    that name ports)."""
    env = svc.get("environment") or {}
    name = f"LEARNFLOW_{section.upper()}__{key.upper()}"
    value = env.get(name, defaults(app)[section][key])
    return int(value) if isinstance(defaults(app)[section][key], int) else value


def apps() -> dict:
    """Compose services built from docker/Dockerfile as a LearnFlow service (not daprd,
    not the load generator), by the service they build."""
    out = {}
    for name, svc in services().items():
        build = svc.get("build") or {}
        target = (build.get("args") or {}).get("SERVICE")
        if target and (REPO / "services" / target).is_dir():
            out[name] = svc
    return out


def sidecars() -> dict:
    return {n: s for n, s in services().items() if "daprd" in str(s.get("image", ""))}


def pods() -> dict:
    """The pod (namespace owner) services, by the service name they carry on the network."""
    out = {}
    for name, svc in services().items():
        if ((svc.get("build") or {}).get("args") or {}).get("SERVICE") == "pause":
            aliases = svc["networks"]["default"]["aliases"]
            assert aliases == [name.removesuffix("-pod")], f"{name}: aliases {aliases}"
            out[aliases[0]] = name
    return out


def pod_member(name: str, svc: dict) -> str:
    """The service whose pod `svc` joins (its network_mode names `<service>-pod`)."""
    mode = svc.get("network_mode", "")
    assert mode.startswith("service:") and mode.endswith("-pod"), f"{name} joins no pod: {mode!r}"
    return mode.split(":", 1)[1].removesuffix("-pod")


def flag(cmd: list[str], name: str) -> str | None:
    for i, arg in enumerate(cmd):
        if arg == name and i + 1 < len(cmd):
            return cmd[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def probe_port(svc: dict) -> int:
    test = svc["healthcheck"]["test"]
    assert test[:2] == ["CMD", "/usr/local/bin/lf-probe"], test
    return int(test[2])


# ── schema and interpolation ─────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "names",
    [(n,) for n in LAYERS] + [LAYERS[:2], (LAYERS[0], LAYERS[2]), (LAYERS[0], LAYERS[3]), LAYERS],
    ids=lambda names: "+".join(names),
)
def test_files_and_layer_sets_validate_against_the_compose_schema(names, schemas):
    validator = schema_validator(schemas)
    # Each file alone as written (overlay files are partial, which the spec allows), and
    # the merged set after interpolation, which is what the engine would run.
    for name in names:
        assert not errors_of(validator, cm.interpolate(raw(name), TEST_ENV)), name
    errs = errors_of(validator, resolved(*names))
    assert not errs, "\n".join(errs)


def test_the_schema_check_catches_a_bad_file(schemas):
    validator = schema_validator(schemas)
    doc = resolved("compose.yaml")
    doc["services"]["postgres"]["depends_on"] = {"kafka": {"condition": "service_ready"}}
    doc["services"]["kafka"]["healthcheck"]["intervall"] = "5s"
    assert len(errors_of(validator, doc)) >= 2


@pytest.mark.parametrize("name", LAYERS)
def test_a_missing_secret_stops_compose_and_says_where_to_get_it(name):
    required = [v for v, op in cm.variables(raw(name)).items() if op == "?"]
    assert required, f"{name} requires no secret at all?"
    for var in required:
        env = {k: v for k, v in TEST_ENV.items() if k != var}
        with pytest.raises(cm.InterpolationError) as err:
            cm.interpolate(raw(name), env)
        assert var in str(err.value) and "docker/README.md" in str(err.value), err.value
        # Empty counts as missing (`:?`), so an empty line in docker/.env is no default either.
        with pytest.raises(cm.InterpolationError):
            cm.interpolate(raw(name), {**env, var: ""})


def test_interpolation_follows_the_compose_rules():
    env = {"SET": "v", "EMPTY": ""}
    f = cm.interpolate_str
    assert f("${SET}-${UNSET}-$SET-$$SET", env) == "v--v-$SET"
    assert f("${UNSET:-d} ${EMPTY:-d} ${EMPTY-d} ${UNSET-${SET}}", env) == "d d  v"
    assert f("${SET:+alt}${UNSET:+alt}", env) == "alt"
    with pytest.raises(cm.InterpolationError, match="UNSET: why"):
        f("${UNSET:?why}", env)
    with pytest.raises(cm.InterpolationError):
        f("${EMPTY:?why}", env)
    assert f("${EMPTY?why}", env) == ""


def test_merge_follows_the_compose_rules():
    base = {"services": {"a": {"environment": {"X": "1", "Y": "1"}, "ports": ["1:1"],
                               "command": ["a", "b"], "depends_on": {"b": {"condition": "c"}}}}}
    over = {"services": {"a": {"environment": {"Y": "2"}, "ports": ["2:2"], "command": ["c"],
                               "depends_on": {"d": {"condition": "e"}}}}}
    a = cm.merged(base, over)["services"]["a"]
    assert a["environment"] == {"X": "1", "Y": "2"}
    assert a["ports"] == ["1:1", "2:2"]
    assert a["command"] == ["c"]
    assert set(a["depends_on"]) == {"b", "d"}
    same = {"driver": "json-file", "options": {"max-size": "1m"}}
    other = {"driver": "splunk", "options": {"splunk-url": "u"}}
    base["services"]["a"]["logging"] = {"driver": "json-file", "options": {"max-file": "2"}}
    logging = lambda over: cm.merged(base, {"services": {"a": {"logging": over}}})[
        "services"]["a"]["logging"]
    assert logging(same)["options"] == {"max-file": "2", "max-size": "1m"}
    assert logging(other) == other


# ── every container ──────────────────────────────────────────────────────────────────


def memory_bytes(text: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([bkmg]?)b?", str(text).strip().lower())
    assert m, f"unreadable memory size {text!r}"
    return int(float(m.group(1)) * 1024 ** "bkmg".index(m.group(2) or "b"))


def test_every_container_has_a_memory_limit():
    for name, svc in services().items():
        limit = ((svc.get("deploy") or {}).get("resources") or {}).get("limits", {}).get("memory")
        limit = limit or svc.get("mem_limit")
        assert limit, f"{name} has no memory limit"
        assert 16 * 2**20 <= memory_bytes(limit) <= 2 * 2**30, f"{name}: {limit}"


def is_job(svc: dict) -> bool:
    return str(svc.get("restart", "")).lower() == "no"


# Servers whose official image is distroless: no shell, no wget, nothing a healthcheck could
# run. They must disable the check, say why in the file, and nobody may wait for them.
NOTHING_TO_PROBE_WITH = {"victorialogs"}


def test_every_server_has_a_healthcheck_and_jobs_say_they_have_none():
    everything = services()
    waited_on = {
        dep for svc in everything.values()
        for dep, cond in (svc.get("depends_on") or {}).items()
        if cond.get("condition") == "service_healthy"
    }
    for name, svc in everything.items():
        hc = svc.get("healthcheck") or {}
        if is_job(svc) or name in pods().values() or name in NOTHING_TO_PROBE_WITH:
            # A run-to-completion job, and a pod that only owns a namespace, have nothing to
            # probe; they must say so, and nothing may wait for them to turn healthy.
            assert hc.get("disable") is True, f"{name} must disable its healthcheck"
            assert name not in waited_on, f"nobody can wait for {name} to be healthy"
            if not is_job(svc):
                assert svc.get("restart") == "unless-stopped", name
            continue
        assert not hc.get("disable"), f"{name} disables its healthcheck"
        test = hc.get("test")
        assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, name
        for key in ("interval", "timeout", "retries"):
            assert key in hc, f"{name}: healthcheck without {key}"
        assert svc.get("restart") in ("unless-stopped", "always", "on-failure"), name


def test_dependencies_exist_and_wait_for_health_where_it_is_defined():
    everything = services()
    for name, svc in everything.items():
        deps = svc.get("depends_on") or {}
        assert isinstance(deps, dict), f"{name}: use the long depends_on form with conditions"
        for dep, cond in deps.items():
            assert dep in everything, f"{name} depends on unknown {dep}"
            if cond["condition"] == "service_healthy":
                assert "test" in (everything[dep].get("healthcheck") or {}), (name, dep)
        mode = svc.get("network_mode", "")
        if mode.startswith("service:"):
            assert mode.split(":", 1)[1] in deps, f"{name} joins {mode} without depending on it"


def test_the_core_layer_runs_without_the_observability_layer():
    core = resolved("compose.yaml")["services"]
    for name, svc in core.items():
        for dep in svc.get("depends_on") or {}:
            assert dep in core, f"{name} needs {dep}, which only a later layer defines"
    assert {"postgres", "kafka"} <= set(core)


# ── files and images ─────────────────────────────────────────────────────────────────


def host_sources(svc: dict) -> list[str]:
    out = []
    for v in svc.get("volumes") or []:
        src = v.split(":", 1)[0] if isinstance(v, str) else v.get("source", "")
        if src.startswith((".", "/")):
            out.append(src)
    return out


def test_every_bind_mount_build_context_and_dockerfile_exists():
    for name, svc in services().items():
        for src in host_sources(svc):
            assert (DOCKER / src).resolve().exists(), f"{name} mounts missing {src}"
        build = svc.get("build")
        if build:
            context = (DOCKER / build["context"]).resolve()
            assert context == REPO, f"{name}: build context must be the repository root"
            assert (context / build["dockerfile"]).resolve() == DOCKERFILE, name


def test_images_are_pinned():
    for name, svc in services().items():
        image = svc.get("image")
        assert image, f"{name} has no image name"
        ref = image.split("@", 1)[0]
        repo, _, tag = ref.rpartition(":") if ":" in ref.split("/")[-1] else (ref, "", "")
        assert tag and tag != "latest", f"{name}: {image} is not pinned to a tag"
        if svc.get("build"):
            assert repo.startswith("learnflow/"), f"{name}: built images are learnflow/<service>"
        else:
            assert re.search(r"\d", tag), f"{name}: {image} needs a version tag"


def test_built_images_are_named_after_their_service():
    for name, svc in services().items():
        build = svc.get("build")
        if build:
            target = build["args"]["SERVICE"]
            assert target in dockerfile_services(), f"{name}: SERVICE={target} unknown"
            assert svc["image"].split(":")[0] == f"learnflow/{target}", name


SECRET_KEY = re.compile(r"(password|passwd|secret|token|apikey|credential)s?$")
REQUIRED_REF = re.compile(r"^\$\{[A-Z][A-Z0-9_]*:\?[^}]+\}$")


def test_secrets_come_only_from_required_variables():
    for layer in LAYERS:
        for name, svc in (raw(layer).get("services") or {}).items():
            env = svc.get("environment") or {}
            for key, value in env.items():
                norm = re.sub(r"[^a-z0-9]", "", key.lower())
                if SECRET_KEY.search(norm):
                    assert REQUIRED_REF.match(str(value)), f"{layer} {name}.{key} = {value!r}"
                for password in re.findall(r"://[^/:@\s]+:([^@\s]+)@", str(value)):
                    assert REQUIRED_REF.match(password), f"{layer} {name}.{key}: {value!r}"
            cmd = svc.get("command") or []
            for i, arg in enumerate(cmd[:-1]):
                if arg in ("--secret", "--token", "--password"):
                    assert REQUIRED_REF.match(cmd[i + 1]), f"{layer} {name}: {arg} {cmd[i + 1]!r}"
    # The sidecar environment sits in an anchor; check the resolved form of the core too.
    for name, svc in sidecars().items():
        assert svc["environment"]["DAPR_API_TOKEN"] == TEST_ENV["LEARNFLOW_DAPR_API_TOKEN"], name


def test_each_called_service_has_its_own_app_token_and_the_gateway_none():
    svcs = services()
    cars = sidecars()
    tokens = {}
    for app in ("course-agent", "user-progress"):
        token = svcs[app]["environment"]["LEARNFLOW_DAPR__APP_TOKEN"]
        assert cars[f"{app}-dapr"]["environment"]["APP_API_TOKEN"] == token, app
        tokens[app] = token
    assert len(set(tokens.values())) == 2, f"one app token shared: {tokens}"
    assert "LEARNFLOW_DAPR__APP_TOKEN" not in svcs["frontend-gateway"]["environment"]
    assert "APP_API_TOKEN" not in cars["frontend-gateway-dapr"]["environment"]


def test_env_example_generator_and_compose_agree_on_the_secrets():
    required = set()
    for layer in LAYERS:
        required |= {v for v, op in cm.variables(raw(layer)).items() if op == "?"}
    example = {}
    for line in (DOCKER / ".env.example").read_text().splitlines():
        m = re.match(r"^([A-Z][A-Z0-9_]*)=(.*)$", line)
        if m:
            example[m.group(1)] = m.group(2)
    assert set(example) == required, "docker/.env.example lists other variables than compose requires"
    assert all(v == "" for v in example.values()), "docker/.env.example must not hold values"
    readme = (DOCKER / "README.md").read_text()
    block = readme.split("<!-- env-generator -->", 1)[1].split("```", 2)[1]
    names = re.search(r"for v in ([A-Z_ ]+); do", block).group(1).split()
    assert {f"LEARNFLOW_{n}" for n in names} == required, "the README's generator misses some"
    ignored = subprocess.run(["git", "check-ignore", "-q", "docker/.env"], cwd=REPO)
    assert ignored.returncode == 0, "docker/.env must be git-ignored"


# ── Dapr sidecars and ports ──────────────────────────────────────────────────────────


def test_every_dapr_service_has_one_sidecar_with_its_app_id_and_ports():
    cars = sidecars()
    by_app = {}
    for name, car in cars.items():
        app = pod_member(name, car)
        by_app.setdefault(app, []).append(name)
        cmd = car["command"]
        assert flag(cmd, "--app-id") == app, f"{name}: app id {flag(cmd, '--app-id')} != {app}"
        assert name == f"{app}-dapr", name
        target = apps()[app]
        assert int(flag(cmd, "--app-port")) == effective(app, target, "server", "port"), name
        assert flag(cmd, "--app-channel-address") == "127.0.0.1", name
        http = int(flag(cmd, "--dapr-http-port"))
        assert http == effective(app, target, "dapr", "http_port"), (
            f"{name}: daprd serves {http}, {app} calls its sidecar on its [dapr].http_port"
        )
        assert probe_port(car) == http and car["healthcheck"]["test"][3] == "/v1.0/healthz"
        assert flag(cmd, "--resources-path") == "/dapr/resources"
        assert flag(cmd, "--config") == "/dapr/resources/config.yaml"
        assert any(v.startswith("../deploy/dapr:/dapr/resources") for v in car["volumes"]), name
    with_dapr = {a for a in apps() if "dapr" in defaults(a)}
    assert set(by_app) == with_dapr, "every service with a [dapr] section needs a sidecar"
    assert all(len(v) == 1 for v in by_app.values()), by_app


def test_each_app_shares_its_pod_with_its_sidecar_and_is_recreated_with_it():
    everything = services()
    with_pod = pods()
    for app, svc in apps().items():
        if app == "kafka-monitor":
            continue  # no sidecar, no pod: it reaches Kafka directly
        assert pod_member(app, svc) == app, f"{app} must join {app}-pod"
        assert app in with_pod, f"{app}-pod is missing"
        dep = svc["depends_on"][f"{app}-pod"]
        # A new pod is a new namespace: the app must be recreated into it.
        assert dep == {"condition": "service_started", "restart": True}, (app, dep)
        car = everything[f"{app}-dapr"]
        assert pod_member(f"{app}-dapr", car) == app
        assert car["depends_on"][f"{app}-pod"]["restart"] is True
    assert set(with_pod) == {a for a in apps() if a != "kafka-monitor"}


def test_sidecar_environment_fills_every_placeholder_of_the_dapr_resources():
    wanted = set()
    for f in sorted((REPO / "deploy/dapr").glob("*.yaml")):
        # Comments may mention ${VAR} as an example; only YAML content counts.
        text = "\n".join(l for l in f.read_text().splitlines() if not l.lstrip().startswith("#"))
        wanted |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", text))
        wanted |= set(re.findall(r"envRef:\s*([A-Z][A-Z0-9_]*)", text))
    assert wanted, "deploy/dapr has no placeholders? the check would prove nothing"
    for name, car in sidecars().items():
        missing = wanted - set(car["environment"])
        assert not missing, f"{name} leaves {sorted(missing)} unset"
    core = resolved("compose.yaml")["services"]
    obs = full()["services"]
    for name in sidecars():
        assert core[name]["environment"]["LEARNFLOW_OTLP_ENDPOINT"] == ""
        assert obs[name]["environment"]["LEARNFLOW_OTLP_ENDPOINT"] == "jaeger:4318"


def test_ports_match_the_services_config_defaults():
    for name, svc in apps().items():
        admin = effective(name, svc, "admin", "port")
        assert probe_port(svc) == admin, f"{name} probes {probe_port(svc)}, admin port is {admin}"
        assert svc["healthcheck"]["test"][3] == "/readyz"
        # Port overrides would have to be repeated in daprd flags and Prometheus targets.
        env = svc.get("environment") or {}
        assert not [k for k in env if k.endswith("__PORT")], f"{name}: keep the default ports"
    # Ports belong to the pod that owns the namespace; only the gateway's is published.
    gateway = apps()["frontend-gateway"]
    gateway_pod = services()[pods()["frontend-gateway"]]
    published = [p.rsplit(":", 1)[1] for p in gateway_pod["ports"]]
    assert published == [str(effective("frontend-gateway", gateway, "server", "port"))]
    assert all(p.startswith("127.0.0.1:") for p in gateway_pod["ports"]), gateway_pod["ports"]
    for name, svc in apps().items():
        assert not svc.get("ports"), f"{name}: publish ports on its pod"
    for app, pod in pods().items():
        if app != "frontend-gateway":
            assert not services()[pod].get("ports"), f"only the gateway is published, not {app}"


def prometheus_config() -> dict:
    return yaml.safe_load((DOCKER / "prometheus/prometheus.yml").read_text())


def test_prometheus_scrapes_every_service_and_sidecar_where_they_listen():
    jobs = {j["job_name"]: j for j in prometheus_config()["scrape_configs"]}
    targets = {}
    for job in ("learnflow-services", "dapr-sidecars"):
        for sc in jobs[job]["static_configs"]:
            for t in sc["targets"]:
                targets[(job, sc["labels"]["service"])] = t
                assert sc["labels"]["app_id"] == sc["labels"]["service"]
    for name, svc in apps().items():
        assert targets[("learnflow-services", name)] == f"{name}:{effective(name, svc, 'admin', 'port')}"
    for name, car in sidecars().items():
        # The pod carries the app's name on the network; the sidecar listens in the pod.
        app = pod_member(name, car)
        assert targets[("dapr-sidecars", app)] == f"{app}:{flag(car['command'], '--metrics-port')}"
    assert len(targets) == len(apps()) + len(sidecars()), targets


def test_prometheus_config_and_its_rules_pass_promtool(promtool, tmp_path):
    prom = full()["services"]["prometheus"]
    config = prometheus_config()
    mounts = {v.split(":")[1]: (DOCKER / v.split(":")[0]).resolve() for v in prom["volumes"]}
    assert mounts["/etc/prometheus/prometheus.yml"] == DOCKER / "prometheus/prometheus.yml"
    # Point the in-container rule paths at the mounted repository files.
    rules = []
    for path in config["rule_files"]:
        assert path in mounts, f"rule file {path} is not mounted"
        rules.append(str(mounts[path]))
    assert REPO / "deploy/monitoring/rules/learnflow.rules.yaml" in map(Path, rules)
    config["rule_files"] = rules
    copy = tmp_path / "prometheus.yml"
    copy.write_text(yaml.safe_dump(config))
    result = subprocess.run([promtool, "check", "config", str(copy)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_provisions_the_repository_dashboards_and_the_prometheus_datasource():
    grafana = full()["services"]["grafana"]
    mounts = {v.split(":")[1]: (DOCKER / v.split(":")[0]).resolve() for v in grafana["volumes"]}
    provisioning = mounts["/etc/grafana/provisioning"]
    providers = yaml.safe_load((provisioning / "dashboards/learnflow.yaml").read_text())
    paths = [p["options"]["path"] for p in providers["providers"]]
    assert len(paths) == 1 and mounts[paths[0]] == REPO / "dashboards"
    ds = yaml.safe_load((provisioning / "datasources/prometheus.yaml").read_text())["datasources"]
    prom = [d for d in ds if d["type"] == "prometheus"]
    assert [d["uid"] for d in prom] == ["prometheus"]
    port = full()["services"]["prometheus"]["ports"][0].rsplit(":", 1)[1]
    assert prom[0]["url"] == f"http://prometheus:{port}"


def jaeger_binary() -> Path:
    cache = Path(os.environ.get("LEARNFLOW_CACHE", Path.home() / ".cache/learnflow"))
    found = sorted(cache.glob("jaeger-*/jaeger"))
    if not found:
        pytest.fail(f"no Jaeger under {cache}: run `cargo xtask deps`")
    return found[-1]


def test_jaeger_config_is_valid_and_wired_to_the_services(tmp_path):
    jaeger = full()["services"]["jaeger"]
    cfg_path = DOCKER / "jaeger/config.yaml"
    assert f"./jaeger/config.yaml:{jaeger['command'][1]}:ro" in jaeger["volumes"]
    result = subprocess.run([str(jaeger_binary()), "validate", "--config", str(cfg_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    cfg = yaml.safe_load(cfg_path.read_text())
    http = cfg["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    assert http == "0.0.0.0:4318"
    for name in apps():
        if "dapr" in defaults(name):
            assert full()["services"][name]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318"
    health = cfg["extensions"]["healthcheckv2"]["http"]["endpoint"].rsplit(":", 1)[1]
    assert f"127.0.0.1:{health}/status" in " ".join(jaeger["healthcheck"]["test"])


# ── the Dockerfile ───────────────────────────────────────────────────────────────────


def dockerfile_text() -> str:
    # Join continuation lines, drop comments.
    lines = [l for l in DOCKERFILE.read_text().splitlines() if not l.lstrip().startswith("#")]
    return re.sub(r"\\\n", " ", "\n".join(lines))


BUILDER_ARM = r"([a-z][a-z-]*)\)\s+package=([\w-]+);\s+binary=([\w-]+)(?:;\s+also=([\w-]+))?\s*;;"


def dockerfile_builds() -> dict[str, tuple[str, str]]:
    """SERVICE -> (cargo package, binary), from the builder's case statement."""
    return {s: (p, b) for s, p, b, _ in re.findall(BUILDER_ARM, dockerfile_text())}


def dockerfile_companions() -> dict[str, str]:
    """SERVICE -> the tool its image also carries (`also=`: a package of that name and binary)."""
    return {s: a for s, _, _, a in re.findall(BUILDER_ARM, dockerfile_text()) if a}


def dockerfile_stages() -> dict[str, list[str]]:
    stages, current = {}, None
    for line in dockerfile_text().splitlines():
        m = re.match(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.IGNORECASE)
        if m:
            current = m.group(2) or "<final>"
            stages[current] = [m.group(1)]
        elif current and line.strip():
            stages[current].append(line.strip())
    return stages


def dockerfile_services() -> set[str]:
    return set(dockerfile_builds()) | {"daprd", "pause", "kafka"}


def workspace_binaries() -> dict[str, str]:
    cargo = shutil.which("cargo")
    assert cargo, "cargo is needed to list the workspace's binaries"
    out = subprocess.run([cargo, "metadata", "--no-deps", "--format-version", "1"],
                         cwd=REPO, capture_output=True, text=True, timeout=120, check=True)
    bins = {}
    for pkg in json.loads(out.stdout)["packages"]:
        for target in pkg["targets"]:
            if "bin" in target["kind"]:
                bins[target["name"]] = pkg["name"]
    return bins


def test_dockerfile_services_cover_every_binary_of_the_workspace():
    builds = dockerfile_builds()
    assert builds, "no SERVICE case arms found in docker/Dockerfile"
    bins = workspace_binaries()
    for service, (package, binary) in builds.items():
        assert bins.get(binary) == package, f"SERVICE={service}: no binary {binary} in {package}"
    companions = dockerfile_companions()
    for service, tool in companions.items():
        assert bins.get(tool) == tool, f"SERVICE={service}: no package {tool} with binary {tool}"
    shipped = {b for _, b in builds.values()} | set(companions.values())
    missing = set(bins) - shipped - NOT_IMAGES
    assert not missing, f"binaries without an image: {sorted(missing)} (add a SERVICE)"
    assert NOT_IMAGES <= set(bins), "NOT_IMAGES names a binary that no longer exists"


def test_dockerfile_stages_run_each_binary_as_non_root_with_its_ports():
    stages = dockerfile_stages()
    builds = dockerfile_builds()
    assert stages["<final>"] == ["${SERVICE}"], "the last stage must be FROM ${SERVICE}"
    runtime = " ".join(stages["runtime"])
    assert "USER 10001:10001" in runtime and "--uid 10001" in runtime
    for service, (_, binary) in builds.items():
        body = stages.get(service)
        assert body and body[0] == "runtime", f"no `FROM runtime AS {service}` stage"
        text = "\n".join(body)
        assert f"COPY --from=builder /out/{binary} /usr/local/bin/{binary}" in text, service
        assert f'ENTRYPOINT ["/usr/local/bin/{binary}"]' in text, service
        if tool := dockerfile_companions().get(service):
            assert f"COPY --from=builder /out/{tool} /usr/local/bin/{tool}" in text, service
        if (REPO / "services" / service).is_dir():
            cfg = defaults(service)
            expose = re.search(r"^EXPOSE (.+)$", text, re.MULTILINE).group(1).split()
            assert expose == [str(cfg["server"]["port"]), str(cfg["admin"]["port"])], service
            assert f'"{cfg["admin"]["port"]}", "/readyz"' in text, f"{service}: HEALTHCHECK"
        else:
            assert "EXPOSE" not in text and "HEALTHCHECK" not in text, service
    assert stages["daprd"][0] == "${DAPRD_IMAGE}"
    assert re.search(r"ARG DAPRD_IMAGE=daprio/daprd:1\.18\.3\b", dockerfile_text())


def test_dockerfile_builds_offline_queries_with_the_pinned_toolchain():
    text = dockerfile_text()
    channel = tomllib.loads((REPO / "rust-toolchain.toml").read_text())["toolchain"]["channel"]
    assert re.search(rf"ARG RUST_IMAGE=rust:{re.escape(channel)}-bookworm\b", text), (
        f"the builder must carry the toolchain rust-toolchain.toml pins ({channel})"
    )
    assert "SQLX_OFFLINE=true" in text and (REPO / ".sqlx").is_dir()
    assert 'cargo build --profile "$CARGO_PROFILE" --locked' in text
    # Release images by default; dev-image (skaffold's dev loop) only when asked for.
    assert re.search(r"^ARG CARGO_PROFILE=release$", text, re.M)
    profiles = tomllib.loads((REPO / "Cargo.toml").read_text())["profile"]
    assert profiles["dev-image"]["inherits"] == "release"
    for cache in ("/usr/local/cargo/registry", "/usr/local/cargo/git", "/src/target"):
        assert "type=cache" in text and f"target={cache}" in text, cache
    # rdkafka: what the workspace enables decides what the builder must have.
    rdkafka = tomllib.loads((REPO / "Cargo.toml").read_text())["workspace"]["dependencies"]["rdkafka"]
    features = set(rdkafka.get("features", []))
    assert rdkafka.get("default-features") is False
    needs = {"cmake-build": "cmake", "ssl": "libssl-dev", "gssapi": "libsasl2-dev", "sasl": "libsasl2-dev",
             "libz": "zlib1g-dev"}
    for feature, package in needs.items():
        if feature in features:
            assert package in text, f"rdkafka feature {feature} needs {package} in the builder"


def test_dockerignore_lets_in_what_cargo_needs_and_nothing_big():
    lines = [l.strip() for l in (REPO / ".dockerignore").read_text().splitlines()
             if l.strip() and not l.startswith("#")]
    assert lines[0] == "*", "allow-list: start by excluding everything"
    allowed = {l[1:].rstrip("/") for l in lines if l.startswith("!")}
    members = tomllib.loads((REPO / "Cargo.toml").read_text())["workspace"]["members"]
    for member in members:
        top = member.split("/")[0]
        assert top in allowed or f"{member}/Cargo.toml" in allowed, f"{member} is not in the context"
    for needed in ("Cargo.toml", "Cargo.lock", "rust-toolchain.toml", ".sqlx", "docker/probe.rs"):
        assert needed in allowed, needed
    assert "**/target/" in lines and "**/.env" in lines
    # Every path the Dockerfile copies from the context is let in.
    for src in re.findall(r"^COPY (?!--from)(\S+)", dockerfile_text(), re.MULTILINE):
        assert src == "." or src in allowed, f"COPY {src} is excluded by .dockerignore"


# ── the healthcheck probe every image carries ────────────────────────────────────────


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        code = {"/ok": 204, "/busy": 503}.get(self.path, 404)
        self.send_response(code)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_probe_exits_0_only_on_2xx(tmp_path):
    rustc = shutil.which("rustc")
    assert rustc, "rustc is needed to build docker/probe.rs"
    probe = tmp_path / "lf-probe"
    # Built as the Dockerfile builds it (static), plus its unit tests.
    build = [rustc, "--edition", "2024", "-C", "opt-level=s", "-C", "panic=abort",
             "-C", "target-feature=+crt-static", str(DOCKER / "probe.rs"), "-o", str(probe)]
    subprocess.run(build, cwd=tmp_path, check=True, capture_output=True, timeout=300)
    unit = tmp_path / "probe-tests"
    subprocess.run([rustc, "--edition", "2024", "--test", str(DOCKER / "probe.rs"), "-o", str(unit)],
                   cwd=tmp_path, check=True, capture_output=True, timeout=300)
    assert subprocess.run([str(unit)], capture_output=True, timeout=60).returncode == 0

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = str(server.server_address[1])
    try:
        def rc(*args):
            return subprocess.run([str(probe), *args], capture_output=True, timeout=30).returncode

        assert rc(port, "/ok") == 0
        assert rc(port, "/busy") == 1
        assert rc(port, "/missing") == 1
        assert rc(port, "no-slash") == 2
        assert rc("not-a-port", "/ok") == 2
    finally:
        server.shutdown()
    # A port nobody listens on (the server is gone) fails too.
    assert subprocess.run([str(probe), port, "/ok"], capture_output=True, timeout=30).returncode == 1


def test_dev_mode_is_off_in_every_compose_file_and_image():
    """No layer, alone or merged, and no image turns the gateway's dev mode on."""
    for name in LAYERS:
        assert not dev_mode_switches((DOCKER / name).read_text()), name
    for service, svc in full()["services"].items():
        env = svc.get("environment") or {}
        entries = env if isinstance(env, dict) else dict(e.split("=", 1) for e in env)
        assert not dev_mode_switches(" ".join(entries)), service
    assert not dev_mode_switches(dockerfile_text())


# ── the logs layer ───────────────────────────────────────────────────────────────────


def test_every_core_container_ships_its_output_to_victorialogs():
    """Every container of compose.yaml but the pods (which print nothing) logs through the
    splunk driver to the port VictoriaLogs publishes, named after its service, JSON lines
    parsed; VictoriaLogs itself logs locally (shipping to itself would loop)."""
    merged = resolved("compose.yaml", LOGS_LAYER)["services"]
    store = merged["victorialogs"]
    published = {p.rsplit(":", 2)[-2]: p.rsplit(":", 1)[1] for p in store["ports"]}
    assert store["ports"] == ["127.0.0.1:9428:9428"], store["ports"]
    assert published == {"9428": "9428"}
    assert store["logging"]["driver"] == "json-file"
    command = store["command"]
    kinds = set()
    for name in resolved("compose.yaml")["services"]:
        if name in pods().values():
            continue
        logging = merged[name]["logging"]
        options = logging["options"]
        assert logging["driver"] == "splunk", f"{name} does not ship its logs"
        assert options["splunk-url"] == "http://127.0.0.1:9428", name
        assert options["splunk-format"] == "json", name
        assert options["splunk-verify-connection"] == "false", f"{name} would wait for it"
        assert options["mode"] == "non-blocking", f"a slow VictoriaLogs would stall {name}"
        assert options["splunk-source"] == name, f"{name} ships as {options['splunk-source']}"
        assert not {"max-size", "max-file"} & set(options), f"{name}: json-file options"
        kinds.add(options["splunk-sourcetype"])
    assert {"service", "daprd"} <= kinds
    # What the splunk driver's events carry becomes what a query names.
    assert flag(command, "-splunk.streamFields") == "source,sourcetype"
    msg_fields = flag(command, "-splunk.msgField").split(",")
    assert msg_fields[-1] == "event.line", "plain text lines must keep their text"
    # The services' JSON logger writes `message`; daprd's writes `msg`.
    assert {"event.line.message", "event.line.msg"} <= set(msg_fields)


def test_the_logs_port_moves_with_its_variable():
    env = {**TEST_ENV, "LEARNFLOW_LOGS_PORT": "19428"}
    merged = resolved("compose.yaml", LOGS_LAYER, env=env)["services"]
    assert merged["victorialogs"]["ports"] == ["127.0.0.1:19428:9428"]
    assert merged["course-agent"]["logging"]["options"]["splunk-url"] == "http://127.0.0.1:19428"
