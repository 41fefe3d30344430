"""No deploy asset ships a default password, secret or token.

Where secrets may be written down, each must be empty (to be supplied), a compose
`${VAR}`/`${VAR:?why}` interpolation, or a reference (`existing…` Secret names,
`secretKeyRef`, annotations naming a Secret). Checked:

- the Helm chart (deploy/helm/*/): its values*.yaml files; its templates never fall
  back to a literal `default` for a secret; rendered with defaults it either refuses
  (`required`) or renders no secret literal; rendered with every secret value set (to
  sentinels), the secrets land in Secret objects only, never in plain manifests;
- the other YAML under deploy/ (Dapr resources, monitoring values) and skaffold.yaml;
- docker/: compose files and any other YAML, `.env` files, Dockerfile `ENV`/`ARG`.

A location that does not exist yet is reported as skipped, not failed; once it
exists it is checked.
"""

import base64
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO, load_yaml_docs

# Key names that hold a secret value: matched against the key lowercased with
# everything but letters and digits removed, at its end (`jwtSecret`,
# `LEARNFLOW_AUTH__JWT_SECRET`, `database-password`, `daprApiToken`, `apiKey`).
SENSITIVE_END = re.compile(
    r"(password|passwd|secret|token|apikey|privatekey|secretaccesskey|credentials?)$"
)
# Values that hold no literal: empty, or a compose interpolation that either requires
# the variable (`${VAR:?why}`, `${VAR?why}`) or has no default (`${VAR}`, `${VAR:-}`).
INTERPOLATION = r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?\?[^}]*|:?-)?\}"
NO_LITERAL = re.compile(rf"^\s*$|^{INTERPOLATION}$")
# A URL with a password in its userinfo: scheme://user:password@host
URL_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:([^@\s/]+)@")
# A password inside such a URL that is no literal: an interpolation as above (flattened
# to `${}` first, its message may hold spaces and slashes) or $(VAR) (Kubernetes env).
INTERPOLATED = re.compile(r"^(\$\{\}|\$\([A-Za-z_][A-Za-z0-9_]*\))$")

SENTINEL = "lf-sentinel-"


def normalise(key) -> str:
    return re.sub(r"[^a-z0-9]", "", str(key).lower())


def is_sensitive(key) -> bool:
    """A key whose value is a secret (not a reference to one)."""
    text = str(key)
    if "/" in text:  # annotation keys (dapr.io/api-token-secret) name a Secret
        return False
    norm = normalise(text)
    return bool(SENSITIVE_END.search(norm)) and not norm.startswith("existing")


def literal(value) -> bool:
    """A value that writes a secret down (bools and empties do not)."""
    if value is None or isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    return isinstance(value, str) and not NO_LITERAL.match(value)


def url_password_literal(value) -> bool:
    if not isinstance(value, str):
        return False
    flat = re.sub(INTERPOLATION, "${}", value)
    return any(not INTERPOLATED.match(p) for p in URL_PASSWORD.findall(flat))


def findings(node, where: str) -> list[str]:
    """Every secret written down in a parsed YAML tree."""
    found = []

    def check(key, value, path):
        if is_sensitive(key) and literal(value):
            found.append(f"{path}: {key} = {value!r}")

    def walk(node, path):
        if isinstance(node, dict):
            # Env var forms: {name: X, value: Y} (Kubernetes, Dapr metadata).
            if isinstance(node.get("name"), str) and "value" in node:
                check(node["name"], node["value"], path)
            for key, value in node.items():
                check(key, value, path)
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, item in enumerate(node):
                # Compose `environment:` list form: "NAME=value".
                if isinstance(item, str) and re.match(r"^[A-Za-z_][A-Za-z0-9_.-]*=", item):
                    name, _, value = item.partition("=")
                    check(name, value, f"{path}[{i}]")
                walk(item, f"{path}[{i}]")
        elif url_password_literal(node):
            found.append(f"{path}: URL with a password: {node!r}")

    walk(node, where)
    return found


def rel(path: Path) -> Path:
    return path.relative_to(REPO) if path.is_relative_to(REPO) else path


def yaml_findings(path: Path) -> list[str]:
    try:
        docs = load_yaml_docs(path)
    except yaml.YAMLError:
        text = path.read_text()
        if "{{" not in text and "${" not in text:
            raise
        return template_line_findings(path)
    out = []
    for i, doc in enumerate(docs):
        out += findings(doc, f"{rel(path)}#{i}")
    return out


def template_line_findings(path: Path) -> list[str]:
    """`key: value` lines of a templated YAML file (Helm's `{{ }}` or the native stack's
    `${NAME}` placeholders make it unparseable as YAML)."""
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        m = re.match(r"^\s*-?\s*([\w.-]+)\s*:\s*(\S.*?)\s*$", line)
        if m and "{{" not in m[2] and is_sensitive(m[1]) and literal(m[2].strip("'\"")):
            out.append(f"{rel(path)}:{n}: {m[1]} = {m[2]!r}")
    return out


def env_file_findings(path: Path) -> list[str]:
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        m = re.match(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$", line)
        if m and is_sensitive(m[1]) and literal(m[2].strip("'\"")):
            out.append(f"{rel(path)}:{n}: {m[1]} has a value")
    return out


def dockerfile_findings(path: Path) -> list[str]:
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        m = re.match(r"^\s*(ENV|ARG)\s+(.*)$", line, re.IGNORECASE)
        if not m:
            continue
        for name, value in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)(?:[= ]\s*(\"[^\"]*\"|\S+))?", m[2]):
            if is_sensitive(name) and literal(value.strip('"')):
                out.append(f"{rel(path)}:{n}: {m[1]} {name} has a default")
    return out


# ── the scanner itself ─────────────────────────────────────────────────────────────


def test_scanner_flags_literals_and_allows_references():
    doc = yaml.safe_load(
        """
secrets:
  jwtSecret: ""
  databasePassword: changeme
  daprApiToken: ${DAPR_API_TOKEN:?set DAPR_API_TOKEN}
  appApiToken: ${APP_TOKEN:-dev-token}
  existingSecret: my-secret
  secretName: learnflow
  usePassword: true
annotations:
  dapr.io/api-token-secret: learnflow-dapr
env:
  - name: LEARNFLOW_AUTH__JWT_SECRET
    valueFrom: {secretKeyRef: {name: s, key: jwt-secret}}
  - name: DAPR_API_TOKEN
    value: abc
services:
  db:
    environment:
      - POSTGRES_PASSWORD=postgres
      - POSTGRES_USER=learnflow
  app:
    environment:
      LEARNFLOW_DATABASE__URL: postgres://lf:hunter2@db/lf
      OTHER_URL: postgres://lf:${DB_PASSWORD:?}@db/lf
      THIRD_URL: "postgres://lf:${DB_PASSWORD:?set it, see docker/README.md}@db/lf"
      K8S_URL: postgres://lf:$(DB_PASSWORD)@db/lf
      DEFAULTED_URL: postgres://lf:${DB_PASSWORD:-letmein}@db/lf
      apiKey: 42
"""
    )
    got = findings(doc, "t")
    assert len(got) == 7, "\n".join(got)
    assert any("letmein" in f for f in got), "a default inside a URL is a literal"
    assert any("databasePassword" in f for f in got)
    assert any("appApiToken" in f for f in got), "a default in ${VAR:-default} is a literal"
    assert any("DAPR_API_TOKEN = 'abc'" in f for f in got)
    assert any("POSTGRES_PASSWORD" in f for f in got)
    assert any("hunter2" in f for f in got)
    assert any("apiKey" in f for f in got)
    for allowed in ("jwtSecret", "daprApiToken", "existingSecret", "secretName", "usePassword",
                    "dapr.io", "LEARNFLOW_AUTH__JWT_SECRET", "POSTGRES_USER", "OTHER_URL",
                    "THIRD_URL", "K8S_URL"):
        assert not any(re.search(rf"\b{re.escape(allowed)}\b", f) for f in got), (allowed, got)


def test_line_scanners_flag_env_files_and_dockerfiles(tmp_path):
    env = tmp_path / "x.env"
    env.write_text("JWT_SECRET=abc\nDAPR_API_TOKEN=\nexport DB_PASSWORD='pw'\nUSER=me\n")
    docker = tmp_path / "Dockerfile"
    docker.write_text('ARG TOKEN\nENV APP_SECRET="s3" LOG=info\nENV DB_PASSWORD ""\n')
    assert len(env_file_findings(env)) == 2, env_file_findings(env)
    assert [f.split(": ", 1)[1] for f in dockerfile_findings(docker)] == [
        "ENV APP_SECRET has a default"
    ]


def test_templated_yaml_is_scanned_by_line(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("a: {{ .Values.x }}\njwtSecret: hardcoded\ntoken: {{ .Values.t }}\n")
    assert [x.split(": ", 1)[1] for x in yaml_findings(f)] == ["jwtSecret = 'hardcoded'"]


# ── the Helm chart ─────────────────────────────────────────────────────────────────


def charts() -> list[Path]:
    return sorted(p.parent for p in (REPO / "deploy/helm").glob("*/Chart.yaml"))


def chart_or_skip() -> list[Path]:
    found = charts()
    if not found:
        pytest.skip("no Helm chart under deploy/helm yet")
    return found


def values_files(chart: Path) -> list[Path]:
    return sorted(chart.glob("values*.yaml")) + sorted(chart.glob("values*.yml"))


def test_chart_values_hold_no_secret_literals():
    chart_list = chart_or_skip()
    files = [f for c in chart_list for f in values_files(c)]
    if not files:
        pytest.skip(f"no values*.yaml in {', '.join(str(c.relative_to(REPO)) for c in chart_list)} yet")
    found = [f for path in files for f in yaml_findings(path)]
    assert not found, "secrets written into chart values:\n" + "\n".join(found)


def test_chart_templates_give_secrets_no_literal_default():
    # `default "x" .Values.…password` hides a default password from a values scan.
    pattern = re.compile(
        r"default\s+\"[^\"]+\"\s+[^}]*\.\w*(password|secret|token)\w*"
        r"|\.\w*(password|secret|token)\w*\s*\|\s*default\s+\"[^\"]+\"",
        re.IGNORECASE,
    )
    found = []
    for chart in chart_or_skip():
        for tpl in sorted((chart / "templates").rglob("*")):
            if tpl.is_file():
                for n, line in enumerate(tpl.read_text().splitlines(), 1):
                    if pattern.search(line):
                        found.append(f"{tpl.relative_to(REPO)}:{n}: {line.strip()}")
    assert not found, "templates with a literal default for a secret:\n" + "\n".join(found)


def profiles(chart: Path) -> list[Path | None]:
    """None (the chart's defaults alone), then each values-<profile>.yaml over them."""
    return [None] + [p for p in values_files(chart) if p.stem != "values"]


def render(helm: str, chart: Path, *values: Path) -> subprocess.CompletedProcess:
    cmd = [helm, "template", "learnflow", str(chart)]
    for v in values:
        cmd += ["-f", str(v)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def label(chart: Path, profile: Path | None) -> str:
    return f"{rel(chart)}" + (f" -f {profile.name}" if profile else " (defaults)")


def secret_paths(node, path=()) -> list[tuple]:
    """Paths of the secret values in a values tree (to be given sentinels)."""
    out = []
    if isinstance(node, dict):
        for key, value in node.items():
            if is_sensitive(key) and not isinstance(value, (dict, list, bool)):
                out.append((*path, key))
            else:
                out += secret_paths(value, (*path, key))
    return out


def decoded(secret: dict) -> dict:
    values = dict(secret.get("stringData") or {})
    for key, value in (secret.get("data") or {}).items():
        try:
            values[key] = base64.b64decode(value or "").decode("utf-8", "replace")
        except ValueError:
            values[key] = value
    return values


def where(doc: dict, i: int) -> str:
    return f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}#{i}"


def test_chart_rendered_without_secrets_refuses_or_holds_none(helm):
    for chart in chart_or_skip():
        for profile in profiles(chart):
            result = render(helm, chart, *filter(None, [profile]))
            if result.returncode != 0:
                assert "required" in result.stderr, (
                    f"helm template {label(chart, profile)} failed, and not for a required "
                    f"value:\n{result.stderr}"
                )
                continue
            found = []
            for i, doc in enumerate(load_yaml_docs(result.stdout)):
                found += findings(doc, where(doc, i))
                if doc.get("kind") == "Secret":
                    found += findings(decoded(doc), f"{where(doc, i)} (decoded)")
            assert not found, (
                f"helm template {label(chart, profile)} renders secrets nobody supplied:\n"
                + "\n".join(found)
            )


def test_chart_keeps_given_secrets_in_secret_objects(helm, tmp_path):
    for chart in chart_or_skip():
        paths = sorted(
            {p for f in values_files(chart) for doc in load_yaml_docs(f) for p in secret_paths(doc)}
        )
        if not paths:
            pytest.skip(f"{rel(chart)}: no values file declares a secret yet")
        override: dict = {}
        for n, path in enumerate(paths):
            node = override
            for key in path[:-1]:
                node = node.setdefault(key, {})
            # Long enough for every length rule (the JWT secret needs 32 bytes).
            node[path[-1]] = f"{SENTINEL}{n}-".ljust(40, "0")
        sentinels = tmp_path / f"{chart.name}-secrets.yaml"
        sentinels.write_text(yaml.safe_dump(override))
        rendered, errors = 0, []
        for profile in profiles(chart):
            result = render(helm, chart, *filter(None, [profile]), sentinels)
            if result.returncode != 0:
                errors.append(f"{label(chart, profile)}: {result.stderr.strip()}")
                continue
            rendered += 1
            found, in_secrets = [], 0
            for i, doc in enumerate(load_yaml_docs(result.stdout)):
                if doc.get("kind") == "Secret":
                    for key, value in decoded(doc).items():
                        in_secrets += SENTINEL in value
                        if is_sensitive(key) and value and SENTINEL not in value:
                            found.append(f"{where(doc, i)}: {key} is not the value given")
                else:
                    found += findings(doc, where(doc, i))
                    if SENTINEL in yaml.safe_dump(doc):
                        found.append(
                            f"{where(doc, i)}: a secret value is rendered into a "
                            f"{doc.get('kind')}, not a Secret"
                        )
            assert in_secrets > 0, f"{label(chart, profile)}: no Secret carries a given secret"
            assert not found, (
                f"helm template {label(chart, profile)} with secrets "
                f"({', '.join('.'.join(p) for p in paths)}) set:\n" + "\n".join(found)
            )
        assert rendered > 0, (
            "the chart renders under no profile even with every secret set "
            "(add a values-<profile>.yaml with the other required values):\n"
            + "\n".join(errors)
        )


# ── other deploy YAML and docker/ ──────────────────────────────────────────────────


def yaml_files(root: Path) -> list[Path]:
    # Helm templates are Go templates, not YAML; the chart is checked above.
    return sorted(
        p for ext in ("*.yaml", "*.yml") for p in root.rglob(ext)
        if "templates" not in p.relative_to(root).parts
    )


def test_deploy_yaml_holds_no_secret_literals():
    root = REPO / "deploy"
    # Charts are checked above (their values files, and their files/ as rendered).
    files = [p for p in yaml_files(root) if not any(p.is_relative_to(c) for c in charts())]
    files += sorted(REPO.glob("skaffold*.y*ml"))
    if not files:
        pytest.skip("no YAML under deploy/ and no skaffold.yaml yet")
    found = [f for path in files for f in yaml_findings(path)]
    assert not found, "secrets written into deploy YAML:\n" + "\n".join(found)


def docker_dir_or_skip() -> Path:
    root = REPO / "docker"
    if not root.is_dir() or not any(p.is_file() for p in root.rglob("*")):
        pytest.skip("docker/ holds no files yet")
    return root


def test_compose_files_hold_no_secret_literals():
    root = docker_dir_or_skip()
    files = yaml_files(root) + sorted(REPO.glob("*compose*.y*ml"))
    if not files:
        pytest.skip("no compose or other YAML files in docker/ yet")
    found = [f for path in files for f in yaml_findings(path)]
    assert not found, "secrets written into compose files:\n" + "\n".join(found)


def test_env_files_and_dockerfiles_hold_no_secret_literals():
    root = docker_dir_or_skip()
    env_files = sorted(p for p in root.rglob("*") if p.is_file() and (p.name.startswith(".env") or p.suffix == ".env"))
    dockerfiles = sorted(p for p in root.rglob("*") if p.is_file() and "dockerfile" in p.name.lower())
    if not env_files and not dockerfiles:
        pytest.skip("no .env files or Dockerfiles in docker/ yet")
    found = [f for p in env_files for f in env_file_findings(p)]
    found += [f for p in dockerfiles for f in dockerfile_findings(p)]
    assert not found, "secrets written into env files or Dockerfiles:\n" + "\n".join(found)
