"""What Docker Compose does to the files before it runs anything, for offline checks.

No Docker engine or compose plugin is needed (none exists on the project's machines):
- `interpolate`: the compose-spec interpolation of `$VAR`, `${VAR}`, `${VAR:-default}`,
  `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}` and `$$`,
  on every string value (not keys), with nested interpolation inside defaults;
- `merge`: how `docker compose -f a.yaml -f b.yaml` combines files (compose-spec
  "merge"): mappings merge key by key, `environment`/`labels`/`depends_on` too; `ports`,
  `volumes`, `expose`, `dns`, `tmpfs`, `cap_add`/`cap_drop` and the like are unions;
  `command`, `entrypoint` and `healthcheck.test` are replaced.
"""

from __future__ import annotations

import re

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class InterpolationError(ValueError):
    """A required variable is unset (the `${VAR:?message}` form), or bad syntax."""


def _closing_brace(text: str, start: int) -> int:
    depth = 0
    i = start
    while i < len(text):
        if text[i] == "$" and text[i + 1 : i + 2] == "{":
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    raise InterpolationError(f"unterminated ${{ in {text!r}")


def interpolate_str(text: str, env: dict[str, str]) -> str:
    out = []
    i = 0
    while i < len(text):
        c = text[i]
        if c != "$":
            out.append(c)
            i += 1
            continue
        nxt = text[i + 1 : i + 2]
        if nxt == "$":
            out.append("$")
            i += 2
            continue
        if nxt == "{":
            end = _closing_brace(text, i + 2)
            out.append(_expand(text[i + 2 : end], env))
            i = end + 1
            continue
        m = NAME.match(text, i + 1)
        if m:
            out.append(env.get(m.group(0), ""))
            i = m.end()
            continue
        out.append("$")
        i += 1
    return "".join(out)


def _expand(expr: str, env: dict[str, str]) -> str:
    m = NAME.match(expr)
    if not m:
        raise InterpolationError(f"bad variable name in ${{{expr}}}")
    name, rest = m.group(0), expr[m.end() :]
    value = env.get(name)
    if rest == "":
        return value or ""
    for op in (":-", ":?", ":+", "-", "?", "+"):
        if rest.startswith(op):
            arg = rest[len(op) :]
            unset = value is None or (op.startswith(":") and value == "")
            if op in (":-", "-"):
                return interpolate_str(arg, env) if unset else value
            if op in (":?", "?"):
                if unset:
                    raise InterpolationError(f"{name}: {interpolate_str(arg, env)}")
                return value
            return "" if unset else interpolate_str(arg, env)
    raise InterpolationError(f"unsupported modifier in ${{{expr}}}")


def interpolate(node, env: dict[str, str]):
    """`node` with every string value interpolated; raises InterpolationError."""
    if isinstance(node, dict):
        return {k: interpolate(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env) for v in node]
    if isinstance(node, str):
        return interpolate_str(node, env)
    return node


def variables(node) -> dict[str, str]:
    """Every `${NAME<op>…}` used in string values: name -> the strongest operator seen
    ("?" when some use requires it, else "-"/"+"/"")."""
    found: dict[str, str] = {}
    rank = {"?": 3, "-": 2, "+": 1, "": 0}

    def visit(n):
        if isinstance(n, dict):
            for v in n.values():
                visit(v)
        elif isinstance(n, list):
            for v in n:
                visit(v)
        elif isinstance(n, str):
            for name, op in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*):?([-?+]?)", n):
                if rank[op] >= rank[found.get(name, "")]:
                    found[name] = op

    visit(node)
    return found


# Sequences compose merges as sets (by value) rather than replacing.
UNION_KEYS = {
    "ports", "expose", "volumes", "volumes_from", "dns", "dns_search", "dns_opt", "tmpfs",
    "cap_add", "cap_drop", "devices", "extra_hosts", "security_opt", "external_links",
    "env_file", "secrets", "configs", "profiles", "group_add",
}


def merge(base, over, key: str | None = None):
    """`over` (a later -f file) applied on top of `base`."""
    if key == "logging" and isinstance(base, dict) and isinstance(over, dict):
        # A different driver replaces the whole block (its options mean nothing to it).
        if over.get("driver", base.get("driver")) != base.get("driver"):
            return over
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = merge(out[k], v, k) if k in out else v
        return out
    if isinstance(base, list) and isinstance(over, list) and key in UNION_KEYS:
        return base + [v for v in over if v not in base]
    return over


def merged(*docs: dict) -> dict:
    out: dict = {}
    for d in docs:
        out = merge(out, d)
    return out


def without_extensions(doc: dict) -> dict:
    """The document without top-level `x-*` extension fields (anchors are already
    resolved by the YAML loader)."""
    return {k: v for k, v in doc.items() if not str(k).startswith("x-")}
