"""docs/security.md names, for every control, the tests that prove it: each must exist.

A reference is `file::function` (a Rust `fn` or Python `def` of that name in the file) or
`file: case` (a named case of a table test: the text appears verbatim, in quotes, in the
file). Every row of the threat-model table must name at least one.
"""

import re

import pytest

from conftest import REPO

DOC = REPO / "docs" / "security.md"
REFERENCE = re.compile(r"`([^`\s:]+\.(?:rs|py))(?:::([A-Za-z_][A-Za-z0-9_]*)|: ([^`]+))`")


def references(text):
    """(file, function or None, case or None) for every reference in `text`."""
    return [(m.group(1), m.group(2), m.group(3)) for m in REFERENCE.finditer(text)]


def table_rows(text):
    """The threat-model table's rows (without header and separator)."""
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    return [r for r in rows[1:] if not r.startswith("|---")]


def missing(reference):
    """Why `reference` names nothing, or None when it names an existing test."""
    path, function, case = reference
    source = REPO / path
    if not source.is_file():
        return f"{path} does not exist"
    text = source.read_text()
    if function is not None:
        pattern = rf"^\s*(?:pub\s+)?(?:async\s+)?(?:fn|def)\s+{re.escape(function)}\s*[(<]"
        if not re.search(pattern, text, re.MULTILINE):
            return f"{path} has no fn/def {function}"
        return None
    if f'"{case}"' not in text:
        return f'{path} has no case "{case}"'
    return None


def test_every_test_the_threat_model_names_exists():
    text = DOC.read_text()
    refs = references(text)
    assert len(refs) >= 20, f"only {len(refs)} references found: is the syntax still `file::fn`?"
    problems = [f"{r}: {why}" for r in refs if (why := missing(r))]
    assert not problems, "\n".join(problems)


def test_every_row_names_a_test():
    rows = table_rows(DOC.read_text())
    assert len(rows) >= 15, "the threat-model table is gone or shrank"
    bare = [row for row in rows if not references(row.split("|")[-2])]
    assert not bare, "rows whose 'proven by' cell names no test:\n" + "\n".join(bare)


@pytest.mark.parametrize(
    "reference, problem",
    [
        (("crates/events/src/event.rs", "no_such_test", None), "no fn/def"),
        (("tests/e2e/security.rs", None, "nobody → 999"), "no case"),
        (("tests/e2e/nowhere.rs", "x", None), "does not exist"),
    ],
)
def test_the_checker_catches_what_does_not_exist(reference, problem):
    assert problem in (missing(reference) or "")
