"""Offline checks of skaffold.yaml.

No skaffold binary is needed: the file is validated against skaffold's own JSON schema
($LEARNFLOW_SCHEMAS/skaffold/v4beta14.json, from the pinned skaffold Go module; ADR 0011),
its paths are checked, and what `skaffold render` would do is replayed with helm: profile
patches applied, values files and setValueTemplates (with made-up image repositories and
tags) turned into helm arguments.
"""

import copy
import hashlib
import json
import re
import subprocess
import tomllib

import jsonschema
import pytest
import yaml

from conftest import REPO, load_yaml_docs

SKAFFOLD = REPO / "skaffold.yaml"
CHART = REPO / "deploy" / "helm" / "learnflow"
IMAGES = {
    "learnflow/frontend-gateway",
    "learnflow/course-agent",
    "learnflow/user-progress",
    "learnflow/kafka-monitor",
    "learnflow/loadgen",
}
# What a user on another cluster supplies themselves (their own values file).
USER_VALUES = [
    "--set", "secrets.databasePassword=db-5f1d", "--set", "secrets.jwtSecret=jwt-8c2a-user-supplied-32-bytes-min",
    "--set", "secrets.daprApiToken=dapr-71be", "--set", "secrets.courseAgentAppToken=app-03c9",
    "--set", "secrets.userProgressAppToken=app-5e21",
    "--set", "kafka.brokers=kafka.example.internal:9092", "--set", "postgresql.host=pg.example.internal",
    "--set", "postgresql.tls.caSecret=postgresql-ca",
]


@pytest.fixture(scope="module")
def config():
    return yaml.safe_load(SKAFFOLD.read_text())


@pytest.fixture(scope="module")
def validator(schemas):
    schema = json.loads((schemas / "skaffold" / "v4beta14.json").read_text())
    return jsonschema.Draft7Validator(schema)


def sanitized(image):
    """skaffold's name for an artifact in template variables: `/`, `-`, `.` and `:` become `_`."""
    return re.sub(r"[/.:\-]", "_", image)


def _pointer(path):
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]


def apply_patches(config, patches):
    """RFC 6902 add/replace/remove, enough for skaffold profile patches."""
    config = copy.deepcopy(config)
    for patch in patches:
        *parents, last = _pointer(patch["path"])
        node = config
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        op = patch.get("op", "replace")
        if op == "add":
            if isinstance(node, list):
                node.insert(len(node) if last == "-" else int(last), patch["value"])
            else:
                node[last] = patch["value"]
        elif op == "replace":
            if isinstance(node, list):
                node[int(last)] = patch["value"]
            else:
                assert last in node, f"replace of missing {patch['path']}"
                node[last] = patch["value"]
        elif op == "remove":
            del node[int(last) if isinstance(node, list) else last]
        else:
            pytest.fail(f"unsupported patch op {op}")
    return config


def with_profiles(config, names):
    profiles = {p["name"]: p for p in config.get("profiles", [])}
    out = copy.deepcopy(config)
    for name in names:
        p = profiles[name]
        for section in ("build", "manifests", "deploy"):
            if section in p:
                out[section] = copy.deepcopy(p[section])
        out = apply_patches(out, p.get("patches", []))
    out.pop("profiles", None)
    return out


def template_env(images):
    """What skaffold offers setValueTemplates for each built image (made-up values): repo,
    repo without its registry, tag and digest."""
    env = {}
    for image in images:
        s = sanitized(image)
        domain, _, rest = image.partition("/")
        has_domain = "." in domain or ":" in domain
        repo = image if has_domain else f"registry.test/{image}"
        env[f"IMAGE_REPO_{s}"] = repo
        env[f"IMAGE_REPO_NO_DOMAIN_{s}"] = rest if has_domain else image
        env[f"IMAGE_TAG_{s}"] = f"sk-{s}"
        env[f"IMAGE_DIGEST_{s}"] = "sha256:" + hashlib.sha256(s.encode()).hexdigest()
    return env


def expand(template, env):
    """skaffold's template expansion, for templates made of `{{.VAR}}` and literal text."""
    def var(m):
        assert m.group(1) in env, f"{m.group(1)} is no built artifact's variable"
        return env[m.group(1)]
    out = re.sub(r"\{\{\s*\.(\w+)\s*\}\}", var, template)
    assert "{{" not in out, f"unsupported template {template}"
    return out


def helm_args(release, extra=(), images=IMAGES):
    """The helm arguments skaffold would pass for `release`, with made-up built images."""
    args = ["--namespace", release.get("namespace", "default")]
    for f in release.get("valuesFiles", []):
        args += ["-f", str(REPO / f)]
    for k, v in (release.get("setValues") or {}).items():
        args += ["--set", f"{k}={v}"]
    env = template_env(images)
    for k, template in (release.get("setValueTemplates") or {}).items():
        args += ["--set-string", f"{k}={expand(template, env)}"]
    return args + list(extra)


def helm_template(helm, release, extra=(), images=IMAGES):
    return subprocess.run(
        [helm, "template", release["name"], str(REPO / release["chartPath"]),
         "--kube-version", "1.30", *helm_args(release, extra, images)],
        capture_output=True, text=True, timeout=120,
    )


def images_in(docs):
    found = set()
    for d in docs:
        spec = d.get("spec", {}).get("template", {}).get("spec", {})
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            found.add(c["image"])
    return found


# ------------------------------------------------------------------------------------------


def test_validates_against_the_v4beta14_schema(config, validator):
    assert config["apiVersion"] == "skaffold/v4beta14"
    assert config["kind"] == "Config"
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(config)]
    assert not errors, errors
    names = [p["name"] for p in config["profiles"]]
    assert len(names) == len(set(names)), "profile names must be unique"
    for name in names:
        applied = with_profiles(config, [name])
        errors = [e.message for e in validator.iter_errors(applied)]
        assert not errors, f"profile {name}: {errors}"


def test_schema_catches_mistakes(config, validator):
    bad = copy.deepcopy(config)
    bad["manifests"]["helm"]["releases"][0]["setValueTemplate"] = {}
    assert list(validator.iter_errors(bad))
    bad = copy.deepcopy(config)
    bad["build"]["artifacts"][0]["custom"]["dependencies"]["path"] = ["Cargo.toml"]
    assert list(validator.iter_errors(bad))


BUILD_SCRIPT = "docker/skaffold-build.sh"


def test_build(config):
    build = config["build"]
    assert build["tagPolicy"] == {"gitCommit": {}}
    assert build["local"]["push"] is False
    artifacts = build["artifacts"]
    assert {a["image"] for a in artifacts} == IMAGES
    assert len(artifacts) == len(IMAGES)
    dockerfile_text = (REPO / "docker" / "Dockerfile").read_text()
    assert re.search(r"^ARG SERVICE\b", dockerfile_text, re.M)
    script = (REPO / BUILD_SCRIPT).read_text()
    assert "docker/Dockerfile" in script and '"SERVICE=$service"' in script
    for a in artifacts:
        assert a.get("context", ".") == "."
        command = a["custom"]["buildCommand"].split()
        assert command[:2] == ["sh", BUILD_SCRIPT], a["image"]
        service = command[2]
        assert len(command) == 3 and service == a["image"].split("/", 1)[1]
        # The build arg picks a stage of that name (docker/Dockerfile ends in FROM ${SERVICE}).
        assert re.search(rf"^FROM\s+\S+\s+AS\s+{re.escape(service)}\s*$", dockerfile_text, re.M | re.I), \
            f"docker/Dockerfile has no stage {service}"
        for path in a["custom"]["dependencies"]["paths"]:
            assert (REPO / path).exists(), f"{a['image']}: dependency {path} does not exist"


# The package (and binaries) each image's stage builds: docker/Dockerfile's SERVICE case.
PACKAGES = {
    "frontend-gateway": ["frontend-gateway"],
    "course-agent": ["course-agent"],
    "user-progress": ["user-progress"],
    "kafka-monitor": ["kafka-monitor", "learnflow-admin"],
    "loadgen": ["lf-loadgen"],
}


def workspace_crates():
    """Every workspace member: name -> (directory, names of the members it depends on to build)."""
    root = tomllib.loads((REPO / "Cargo.toml").read_text())
    members = {}
    for pattern in root["workspace"]["members"]:
        for manifest in sorted(REPO.glob(f"{pattern}/Cargo.toml")):
            members[manifest.parent] = tomllib.loads(manifest.read_text())
    names = {m["package"]["name"]: d for d, m in members.items()}
    crates = {}
    for directory, manifest in members.items():
        tables = [manifest.get("dependencies", {}), manifest.get("build-dependencies", {})]
        for target in manifest.get("target", {}).values():
            tables += [target.get("dependencies", {}), target.get("build-dependencies", {})]
        deps = set()
        for table in tables:
            for key, spec in table.items():
                name = spec.get("package", key) if isinstance(spec, dict) else key
                if name in names:
                    deps.add(name)
        crates[manifest["package"]["name"]] = (directory.relative_to(REPO).as_posix(), deps)
    return crates


def test_each_image_depends_on_exactly_what_its_binaries_are_built_from(config):
    """skaffold rebuilds an image when one of its dependency paths changes: a workspace crate
    missing from the list would leave a stale image; an extra one rebuilds it needlessly."""
    crates = workspace_crates()
    assert {"frontend-gateway", "course-agent", "lf-loadgen", "lf-testkit"} <= set(crates), sorted(crates)
    member_dirs = {d for d, _ in crates.values()}
    for a in config["build"]["artifacts"]:
        service = a["custom"]["buildCommand"].split()[2]
        wanted, stack = set(), list(PACKAGES[service])
        while stack:
            name = stack.pop()
            if name not in wanted:
                wanted.add(name)
                stack += crates[name][1]
        paths = a["custom"]["dependencies"]["paths"]
        listed = {p for p in paths if p in member_dirs}
        assert listed == {crates[n][0] for n in wanted}, \
            f"{a['image']}: lists {sorted(listed)}, builds from {sorted(crates[n][0] for n in wanted)}"
        for shared in ["Cargo.toml", "Cargo.lock", "rust-toolchain.toml", "docker/Dockerfile", BUILD_SCRIPT]:
            assert shared in paths, f"{a['image']}: {shared} missing from its dependencies"


def test_manifests_render_the_chart(config):
    releases = config["manifests"]["helm"]["releases"]
    assert len(releases) == 1
    release = releases[0]
    assert release["chartPath"] == "deploy/helm/learnflow"
    assert (REPO / release["chartPath"] / "Chart.yaml").is_file()
    for f in release["valuesFiles"]:
        assert (REPO / f).is_file(), f
    assert not [f for f in release["valuesFiles"] if "dev" in f or "minikube" in f], \
        "dev values only in the minikube profile"
    assert config["deploy"]["helm"] == {}
    assert config["deploy"]["tolerateFailuresUntilDeadline"] is True


def test_set_value_templates_cover_every_artifact_and_exist_in_values(config):
    release = config["manifests"]["helm"]["releases"][0]
    templates = release["setValueTemplates"]
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for key in templates:
        node = values
        for part in key.split("."):
            assert isinstance(node, dict) and part in node, f"setValueTemplates key {key} is not in values.yaml"
            node = node[part]
    for image in IMAGES:
        s = sanitized(image)
        repo_keys = [k for k, v in templates.items() if v == f"{{{{.IMAGE_REPO_{s}}}}}"]
        tag_keys = [k for k, v in templates.items() if v == f"{{{{.IMAGE_TAG_{s}}}}}"]
        assert len(repo_keys) == 1 and repo_keys[0].endswith(".image.repository"), image
        assert len(tag_keys) == 1 and tag_keys[0] == repo_keys[0].replace(".repository", ".tag"), image
        # The chart's default repository for that key is the artifact's image name.
        node = values
        for part in repo_keys[0].split("."):
            node = node[part]
        assert node == image


def test_every_built_image_is_used_by_the_chart(config, helm):
    release = config["manifests"]["helm"]["releases"][0]
    out = helm_template(helm, release, USER_VALUES + ["--set", "loadgen.enabled=true"])
    assert out.returncode == 0, out.stderr
    used = images_in(load_yaml_docs(out.stdout))
    built = {f"registry.test/{i}:sk-{sanitized(i)}" for i in IMAGES}
    assert built == used, f"built but unused: {built - used}; used but not built: {used - built}"


def test_without_secrets_the_default_render_fails_clearly(config, helm):
    release = config["manifests"]["helm"]["releases"][0]
    out = helm_template(helm, release)
    assert out.returncode != 0
    assert "is required" in out.stderr


def _profile(config, name):
    return next(p for p in config["profiles"] if p["name"] == name)


def _with_dev_secrets(release, hooks, tmp_path):
    """Runs the profile's before-render hooks with the secrets file moved to tmp_path."""
    generated = [f for f in release["valuesFiles"] if f.startswith("target/")]
    assert len(generated) == 1, "one generated secrets file, under the git-ignored target/"
    private = tmp_path / "minikube-secrets.yaml"
    for hook in hooks["before"]:
        command = [str(private) if a == generated[0] else a for a in hook["host"]["command"]]
        out = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
    release = copy.deepcopy(release)
    release["valuesFiles"] = [str(private) if f == generated[0] else f for f in release["valuesFiles"]]
    return release, private


def test_minikube_profile(config, helm, tmp_path):
    p = _profile(config, "minikube")
    assert p["activation"] == [{"kubeContext": "minikube"}]
    applied = with_profiles(config, ["minikube"])
    release = applied["manifests"]["helm"]["releases"][0]
    assert "deploy/helm/learnflow/values-dev.yaml" in release["valuesFiles"]
    release, private = _with_dev_secrets(release, applied["manifests"]["hooks"], tmp_path)
    generated = yaml.safe_load(private.read_text())["secrets"]
    assert len(set(generated.values())) == 5 and all(len(v) >= 32 for v in generated.values())
    # Kept once written (the in-cluster PostgreSQL was installed with that password) ...
    before = private.read_text()
    _with_dev_secrets(applied["manifests"]["helm"]["releases"][0], applied["manifests"]["hooks"], tmp_path)
    assert private.read_text() == before
    # ... and random, not a default in disguise.
    other = tmp_path / "other"
    other.mkdir()
    _, second = _with_dev_secrets(applied["manifests"]["helm"]["releases"][0], applied["manifests"]["hooks"], other)
    assert not set(yaml.safe_load(second.read_text())["secrets"].values()) & set(generated.values())

    out = helm_template(helm, release)
    assert out.returncode == 0, out.stderr
    docs = load_yaml_docs(out.stdout)
    secrets = {d["metadata"]["name"]: d["stringData"] for d in docs if d["kind"] == "Secret"}
    assert any(s.get("jwt-secret") == generated["jwtSecret"] for s in secrets.values())
    default = yaml.safe_load((CHART / "values.yaml").read_text())
    cpu = lambda q: float(q[:-1]) / 1000 if str(q).endswith("m") else float(q)  # noqa: E731
    for d in docs:
        if d["kind"] != "Deployment":
            continue
        app = d["metadata"]["labels"]["app.kubernetes.io/component"]
        if app in ("jaeger", "victorialogs"):
            continue  # the chart's trace and log backends: sized by their own values
        key = {"frontend-gateway": "frontendGateway", "course-agent": "courseAgent",
               "user-progress": "userProgress", "kafka-monitor": "kafkaMonitor"}[app]
        c = next(c for c in d["spec"]["template"]["spec"]["containers"] if c["name"] == app)
        assert cpu(c["resources"]["requests"]["cpu"]) < cpu(default[key]["resources"]["requests"]["cpu"]), app
        if app == "kafka-monitor":
            env = {e["name"]: e.get("value") for e in c["env"]}
            assert env["LEARNFLOW_KAFKA__BROKERS"].endswith(".svc.cluster.local:9092")


@pytest.mark.parametrize("profiles", [["keda"], ["minikube", "keda"]])
def test_keda_profile(config, helm, profiles, tmp_path):
    applied = with_profiles(config, profiles)
    release = applied["manifests"]["helm"]["releases"][0]
    extra = USER_VALUES
    if "minikube" in profiles:
        release, _ = _with_dev_secrets(release, applied["manifests"]["hooks"], tmp_path)
        extra = []
    # skaffold deploys with `helm upgrade --install` against a cluster the profile needs KEDA
    # on; helm template stands in for it with the API declared (the chart refuses otherwise).
    out = helm_template(helm, release, [*extra, "--api-versions", "keda.sh/v1alpha1"])
    assert out.returncode == 0, out.stderr
    docs = load_yaml_docs(out.stdout)
    scaled = [d for d in docs if d["kind"] == "ScaledObject"]
    assert len(scaled) == 1
    hpa_targets = {d["spec"]["scaleTargetRef"]["name"] for d in docs if d["kind"] == "HorizontalPodAutoscaler"}
    assert scaled[0]["spec"]["scaleTargetRef"]["name"] not in hpa_targets


LOCAL_REGISTRY = "127.0.0.1:15000"


# Ours but not skaffold's to build: `cargo xtask cluster up` builds Kafka with the JMX exporter
# agent and pushes it (values-local.yaml runs it; no source of ours goes into it).
PUSHED_BY_CLUSTER_UP = {f"{LOCAL_REGISTRY}/learnflow/kafka:dev"}


def test_local_profile(config, helm, tmp_path):
    """The profile of this machine's cluster: images pushed to its registry and deployed by
    digest, the minikube profile's values plus values-local.yaml, the gateway forwarded."""
    p = _profile(config, "local")
    assert p["activation"] == [{"kubeContext": "learnflow"}]
    applied = with_profiles(config, ["local"])
    assert applied["build"]["local"]["push"] is True
    built = {a["image"] for a in applied["build"]["artifacts"]}
    assert built == {f"{LOCAL_REGISTRY}/{i}" for i in IMAGES}
    local_values = yaml.safe_load((CHART / "values-local.yaml").read_text())
    assert local_values["image"]["registry"] == LOCAL_REGISTRY
    release = applied["manifests"]["helm"]["releases"][0]
    minikube = with_profiles(config, ["minikube"])["manifests"]["helm"]["releases"][0]
    assert release["valuesFiles"][: len(minikube["valuesFiles"]) - 1] == minikube["valuesFiles"][:-1]
    assert "deploy/helm/learnflow/values-local.yaml" in release["valuesFiles"]
    release, _ = _with_dev_secrets(release, applied["manifests"]["hooks"], tmp_path)

    out = helm_template(helm, release, images=built)
    assert out.returncode == 0, out.stderr
    docs = load_yaml_docs(out.stdout)
    env = template_env(built)
    expected = {
        f"{image}:{env['IMAGE_TAG_' + sanitized(image)]}@{env['IMAGE_DIGEST_' + sanitized(image)]}"
        for image in built
    }
    used = images_in(docs)
    ours = {i for i in used if "/learnflow/" in i} - PUSHED_BY_CLUSTER_UP
    assert ours == expected - {i for i in expected if "loadgen" in i}, ours ^ expected
    assert all(i.startswith(LOCAL_REGISTRY + "/") for i in used), used

    gateway_deploy = next(d for d in docs if d["kind"] == "Deployment"
                          and d["metadata"]["labels"]["app.kubernetes.io/component"] == "frontend-gateway")
    loadgen = next(i for i in expected if "/learnflow/loadgen:" in i)
    assert gateway_deploy["metadata"]["annotations"]["learnflow.dev/loadgen-image"] == loadgen, \
        "deploy/minikube-hpa-watch.sh runs the loadgen image skaffold built"

    forwards = p["portForward"]
    assert len(forwards) == 1
    forward = forwards[0]
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    assert forward["resourceType"] == "service" and forward["resourceName"] in services
    ports = [port["port"] for port in services[forward["resourceName"]]["spec"]["ports"]]
    assert forward["port"] in ports
    gateway = services[forward["resourceName"]]["spec"]["selector"]
    assert gateway.get("app.kubernetes.io/component") == "frontend-gateway", gateway


def test_local_profile_renders_every_built_image_with_the_loadgen(config, helm, tmp_path):
    applied = with_profiles(config, ["local"])
    built = {a["image"] for a in applied["build"]["artifacts"]}
    release, _ = _with_dev_secrets(
        applied["manifests"]["helm"]["releases"][0], applied["manifests"]["hooks"], tmp_path
    )
    out = helm_template(helm, release, ["--set", "loadgen.enabled=true"], images=built)
    assert out.returncode == 0, out.stderr
    ours = {i.split(":sk-")[0] for i in images_in(load_yaml_docs(out.stdout)) if "/learnflow/" in i}
    assert ours - PUSHED_BY_CLUSTER_UP == built


def test_dev_image_profile_builds_every_image_with_the_dev_image_cargo_profile(config):
    """The cargo profile is part of each build command: skaffold's image cache keys on the
    command, so dev-image and release builds of the same sources never stand in for each
    other."""
    base = {a["image"]: a["custom"]["buildCommand"] for a in config["build"]["artifacts"]}
    applied = with_profiles(config, ["local", "dev-image"])
    for a in applied["build"]["artifacts"]:
        image = a["image"].removeprefix(f"{LOCAL_REGISTRY}/")
        assert a["custom"]["buildCommand"] == f"{base[image]} dev-image", image
    profiles = tomllib.loads((REPO / "Cargo.toml").read_text())["profile"]
    assert "dev-image" in profiles
    script = (REPO / BUILD_SCRIPT).read_text()
    assert 'cargo_profile="${2:-release}"' in script and '"CARGO_PROFILE=$cargo_profile"' in script
