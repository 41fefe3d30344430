"""fuzz/ is its own package, outside the workspace (it needs sanitizer flags the workspace
must not get), so it cannot inherit `[workspace.dependencies]`. This keeps its pins from
drifting: every crate it shares with the workspace has the workspace's version, and a
crate the workspace does not pin is one only fuzzing needs (libfuzzer-sys) or a path to
one of our crates."""

import tomllib

from conftest import REPO

WORKSPACE = REPO / "Cargo.toml"
FUZZ = REPO / "fuzz" / "Cargo.toml"
# Needed by the fuzz package only, so pinned there.
FUZZ_ONLY = {"libfuzzer-sys"}


def _version(spec):
    return spec if isinstance(spec, str) else spec.get("version")


def drift(workspace: dict, fuzz: dict) -> list[str]:
    pinned = workspace["workspace"]["dependencies"]
    problems = []
    for name, spec in fuzz.get("dependencies", {}).items():
        if isinstance(spec, dict) and "path" in spec:
            continue
        if name in FUZZ_ONLY:
            continue
        if name not in pinned:
            problems.append(f"{name}: not pinned in the workspace (pin it there, or list it in FUZZ_ONLY)")
        elif _version(spec) != _version(pinned[name]):
            problems.append(f"{name}: fuzz pins {_version(spec)}, the workspace {_version(pinned[name])}")
    return problems


def test_fuzz_pins_the_workspace_versions():
    workspace = tomllib.loads(WORKSPACE.read_text())
    fuzz = tomllib.loads(FUZZ.read_text())
    assert fuzz.get("dependencies"), "fuzz/Cargo.toml has no dependencies: moved?"
    problems = drift(workspace, fuzz)
    assert not problems, "fuzz/Cargo.toml drifted from [workspace.dependencies]:\n" + "\n".join(problems)


def test_the_check_sees_a_drifted_and_an_unpinned_crate():
    workspace = {"workspace": {"dependencies": {"serde": "1.0.228", "tokio": {"version": "1.48.0"}}}}
    fuzz = {"dependencies": {
        "serde": "1.0.200",
        "tokio": {"version": "1.48.0", "features": ["rt"]},
        "rand": "0.9.0",
        "libfuzzer-sys": "0.4.13",
        "lf-events": {"path": "../crates/events"},
    }}
    assert drift(workspace, fuzz) == [
        "serde: fuzz pins 1.0.200, the workspace 1.0.228",
        "rand: not pinned in the workspace (pin it there, or list it in FUZZ_ONLY)",
    ]
