"""Shared fixtures of the offline deploy checks (tests/deploy/test_*.py).

Run as: HELM=<helm> PROMTOOL=<promtool> AMTOOL=<amtool> LEARNFLOW_SCHEMAS=<dir> <venv>/bin/pytest -q
tests/deploy (`cargo xtask deploy-check` sets all four). Nothing here needs a network or a cluster.
"""

import os
import re
from pathlib import Path

import pytest
import yaml

# The repository root (tests/deploy/conftest.py -> ../..).
REPO = Path(__file__).resolve().parents[2]


def _tool(env: str, what: str) -> str:
    value = os.environ.get(env)
    if not value:
        pytest.fail(f"{env} is not set: point it at {what}")
    path = os.path.expanduser(value)
    if not os.access(path, os.X_OK):
        pytest.fail(f"{env}={value} is not an executable file ({what})")
    return path


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root."""
    return REPO


@pytest.fixture(scope="session")
def helm() -> str:
    """The helm binary named by $HELM (provisioned by `cargo xtask deps`)."""
    return _tool("HELM", "a helm v3 binary, e.g. ~/.cache/learnflow/helm-v3.21.4/helm")


@pytest.fixture(scope="session")
def schemas() -> Path:
    """The JSON schema directory named by $LEARNFLOW_SCHEMAS (provisioned by `cargo xtask deps`
    from pinned Go modules: crds/<group>/<kind>_<version>.json, compose/, skaffold/)."""
    value = os.environ.get("LEARNFLOW_SCHEMAS")
    if not value:
        pytest.fail(
            "LEARNFLOW_SCHEMAS is not set: run `cargo xtask deploy-check`, or `cargo xtask deps` "
            "and point it at the ~/.cache/learnflow/schemas-<key> directory it prints"
        )
    path = Path(os.path.expanduser(value))
    if not (path / ".complete").is_file():
        pytest.fail(f"LEARNFLOW_SCHEMAS={value} holds no provisioned schemas: run `cargo xtask deps`")
    return path


@pytest.fixture(scope="session")
def amtool() -> str:
    """Alertmanager's amtool named by $AMTOOL (provisioned by `cargo xtask deps`)."""
    return _tool("AMTOOL", "amtool, e.g. ~/.cache/learnflow/alertmanager-v0.31.1/amtool")


@pytest.fixture(scope="session")
def promtool() -> str:
    """The promtool binary named by $PROMTOOL (Debian package prometheus)."""
    return _tool("PROMTOOL", "promtool, e.g. /usr/bin/promtool")


def load_yaml_docs(source) -> list:
    """Every non-empty YAML document of a file (Path) or a string."""
    text = source.read_text() if isinstance(source, Path) else source
    return [d for d in yaml.safe_load_all(text) if d is not None]


def dev_mode_switches(text: str) -> list[str]:
    """Where `text` turns the gateway's dev mode on (`POST /dev/token` mints any learner's token):
    a `LEARNFLOW_DEV__*` entry, or a `[dev]` table with `enabled = true` in a config file."""
    found = re.findall(r"LEARNFLOW_DEV__\w+", text)
    found += re.findall(r"\[dev\][^\[]*?enabled\s*=\s*true", text)
    return found
