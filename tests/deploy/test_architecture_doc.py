"""docs/architecture.md names files and folders of the repository: each must exist."""

import re

from conftest import REPO

DOC = REPO / "docs" / "architecture.md"
# A backticked repository path: has a slash, starts with a top-level folder, no placeholder.
PATH = re.compile(r"`((?:crates|services|deploy|docs|dashboards|docker|tests|xtask)/[^`\s<>…]*)`")


def paths(text):
    return sorted(set(PATH.findall(text)))


def test_every_path_the_architecture_names_exists():
    named = paths(DOC.read_text())
    assert len(named) >= 25, f"only {len(named)} paths found: is the syntax still `path`?"
    missing = [p for p in named if not (REPO / p).exists()]
    assert not missing, "docs/architecture.md names what is not there:\n" + "\n".join(missing)


def test_the_path_check_sees_a_wrong_path():
    assert paths("see `crates/nope/src/lib.rs` and `services/<service>/src/metrics.rs`") == [
        "crates/nope/src/lib.rs"
    ]
    assert not (REPO / "crates/nope/src/lib.rs").exists()
