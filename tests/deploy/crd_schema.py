"""CustomResourceDefinition YAML -> one JSON schema per served version, for the deploy checks.

Run by `cargo xtask deps` (crates/testkit/src/schemas.rs) with the tools venv's Python:

    python tests/deploy/crd_schema.py OUT_DIR CRD.yaml...

writes OUT_DIR/<group>/<kind lower-case>_<version>.json for every version of every CRD, the
layout kubeconform expects. The schema is the version's `openAPIV3Schema`, made to validate
the way the API server does:
- objects that list `properties` reject other keys (the server prunes or, with strict field
  validation, refuses them; a typo must fail here), unless the CRD keeps unknown fields
  (`x-kubernetes-preserve-unknown-fields`) or says otherwise (`additionalProperties`);
  the root stays open, since `apiVersion`, `kind` and `metadata` are checked by the server;
- `x-kubernetes-int-or-string` becomes "integer or string" when the CRD gives no `anyOf`;
- `nullable: true` admits null.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import yaml

# Keywords whose value is one sub-schema, a list of sub-schemas, or a name -> sub-schema map.
_ONE = ("items", "additionalProperties", "not")
_LIST = ("allOf", "anyOf", "oneOf")
_MAP = ("properties", "patternProperties")


def strict(node: dict, root: bool = False) -> dict:
    """A copy of one OpenAPI v3 schema node as a JSON schema, closed where Kubernetes closes it."""
    out = copy.copy(node)
    for key in _ONE:
        if isinstance(out.get(key), dict):
            out[key] = strict(out[key])
    for key in _LIST:
        if isinstance(out.get(key), list):
            out[key] = [strict(s) for s in out[key]]
    for key in _MAP:
        if isinstance(out.get(key), dict):
            out[key] = {name: strict(s) for name, s in out[key].items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
        and not root
    ):
        out["additionalProperties"] = False
    if (out.get("x-kubernetes-int-or-string") or out.get("format") == "int-or-string") and not (
        "anyOf" in out or "oneOf" in out
    ):
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def schemas_of(crd: dict) -> dict[str, dict]:
    """`<group>/<kind>_<version>.json` -> JSON schema, for each version of one CRD."""
    spec = crd["spec"]
    kind = spec["names"]["kind"].lower()
    out = {}
    for version in spec["versions"]:
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if schema is None:
            raise ValueError(f"{spec['group']} {kind} {version['name']} has no openAPIV3Schema")
        out[f"{spec['group']}/{kind}_{version['name']}.json"] = strict(schema, root=True)
    return out


def convert(out_dir: Path, sources: list[Path]) -> list[Path]:
    written = []
    for source in sources:
        crds = [d for d in yaml.safe_load_all(source.read_text()) if d]
        crds = [d for d in crds if d.get("kind") == "CustomResourceDefinition"]
        if not crds:
            raise ValueError(f"{source}: no CustomResourceDefinition")
        for crd in crds:
            for name, schema in schemas_of(crd).items():
                path = out_dir / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
                written.append(path)
    return written


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(f"usage: {argv[0]} OUT_DIR CRD.yaml...", file=sys.stderr)
        return 2
    for path in convert(Path(argv[1]), [Path(a) for a in argv[2:]]):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
