"""The CRD -> JSON schema converter (crd_schema.py) that provisioning runs, on a made-up CRD.

The deploy checks trust its output to reject what the API server would reject, so each rule is
pinned here; test_chart.py checks the same on the real, provisioned schemas.
"""

import json

import jsonschema

from crd_schema import convert

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.io
spec:
  group: example.io
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
  - name: v1alpha1
    served: true
    storage: false
    schema:
      openAPIV3Schema:
        type: object
        properties:
          apiVersion: {type: string}
          kind: {type: string}
          metadata: {type: object}
          spec:
            type: object
            required: [size]
            properties:
              size:
                x-kubernetes-int-or-string: true
              note: {type: string, nullable: true}
              labels:
                type: object
                additionalProperties: {type: string}
              extra:
                type: object
                x-kubernetes-preserve-unknown-fields: true
                properties:
                  known: {type: string}
              items:
                type: array
                items:
                  type: object
                  properties:
                    name: {type: string}
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer}}}
"""


def _validator(tmp_path, version):
    source = tmp_path / "widgets.yaml"
    source.write_text(CRD)
    written = convert(tmp_path / "crds", [source])
    assert sorted(p.relative_to(tmp_path / "crds").as_posix() for p in written) == [
        "example.io/widget_v1.json",
        "example.io/widget_v1alpha1.json",
    ]
    schema = json.loads((tmp_path / "crds" / "example.io" / f"widget_{version}.json").read_text())
    return jsonschema.Draft7Validator(schema)


def _errors(validator, spec, **root):
    obj = {"apiVersion": "example.io/v1alpha1", "kind": "Widget", "metadata": {"name": "w"}}
    return [e.message for e in validator.iter_errors({**obj, **root, "spec": spec})]


def test_known_keys_pass_and_typos_fail(tmp_path):
    v = _validator(tmp_path, "v1alpha1")
    good = {"size": "50%", "note": None, "labels": {"a": "b"}, "items": [{"name": "x"}],
            "extra": {"known": "k", "anything": {"goes": 1}}}
    assert _errors(v, good) == []
    assert _errors(v, {"size": 3}) == []
    assert any("'sise' was unexpected" in e for e in _errors(v, {"size": 1, "sise": 1}))
    assert any("'nmae' was unexpected" in e for e in _errors(v, {"size": 1, "items": [{"nmae": "x"}]}))
    assert _errors(v, {"size": 1.5})  # neither integer nor string
    assert _errors(v, {"size": 1, "labels": {"a": 1}})


def test_root_stays_open_and_versions_are_separate(tmp_path):
    assert _errors(_validator(tmp_path, "v1alpha1"), {"size": 1}, status={"whatever": 1}) == []
    assert _errors(_validator(tmp_path, "v1"), {"size": "1"})
