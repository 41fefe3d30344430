"""Offline checks of the Flux GitOps objects (deploy/gitops/flux/learnflow.yaml).

Each object is validated against the CRD of the pinned controller ($LEARNFLOW_SCHEMAS/crds,
converted from helm-controller's and source-controller's modules; ADR 0011), and what Flux
would install is replayed with helm: the chart with the HelmRelease's values, in its order.
"""

import copy
import re
import subprocess

import jsonschema
import pytest
import yaml

from conftest import REPO, load_yaml_docs
from test_chart import crd_schema

FLUX = REPO / "deploy" / "gitops" / "flux" / "learnflow.yaml"
CHART = REPO / "deploy" / "helm" / "learnflow"


@pytest.fixture(scope="module")
def docs():
    return load_yaml_docs(FLUX)


def by_kind(docs, kind):
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"one {kind}"
    return found[0]


def errors(obj, schemas):
    schema = crd_schema(obj, schemas)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in cls(schema).iter_errors(obj)]


def test_every_object_validates_against_its_controllers_crd(docs, schemas):
    assert {d["kind"] for d in docs} == {"OCIRepository", "HelmRelease"}
    for d in docs:
        assert not errors(d, schemas), f"{d['kind']}: {errors(d, schemas)}"


def test_the_crd_schemas_catch_mistakes(docs, schemas):
    release = copy.deepcopy(by_kind(docs, "HelmRelease"))
    release["spec"]["chartRef"]["kind"] = "GitRepository"  # not a chart source
    assert errors(release, schemas)
    release = copy.deepcopy(by_kind(docs, "HelmRelease"))
    release["spec"]["valuesFrom"][0]["kind"] = "Configmap"
    assert errors(release, schemas)
    source = copy.deepcopy(by_kind(docs, "OCIRepository"))
    source["spec"]["layerSelector"]["operation"] = "unpack"
    assert errors(source, schemas)


def test_the_release_takes_the_published_chart(docs):
    source, release = by_kind(docs, "OCIRepository"), by_kind(docs, "HelmRelease")
    ref = release["spec"]["chartRef"]
    assert (ref["kind"], ref["name"], ref.get("namespace")) == (
        "OCIRepository", source["metadata"]["name"], source["metadata"]["namespace"])
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert source["spec"]["url"].endswith(f"/{chart['name']}")
    assert source["spec"]["ref"] == {"tag": str(chart["version"])}, "bump the tag with Chart.yaml"
    # Helm's chart layer, copied as is: what helm-controller expects from an OCIRepository.
    assert source["spec"]["layerSelector"] == {
        "mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "operation": "copy"}
    assert release["spec"]["releaseName"] == "learnflow"
    assert release["spec"]["targetNamespace"] == "learnflow"
    assert "values" not in release["spec"], "values come from the ConfigMap and the Secret"


def test_values_follow_the_local_profile_and_render(docs, helm, tmp_path):
    """Flux merges valuesFrom in order, as helm merges -f files: the ConfigMap keys are the
    chart's values files (as `kubectl create configmap --from-file` names them), in the
    order skaffold's `local` profile passes them, and the secrets come from a Secret."""
    release = by_kind(docs, "HelmRelease")
    sources = release["spec"]["valuesFrom"]
    maps = [s for s in sources if s["kind"] == "ConfigMap"]
    secrets = [s for s in sources if s["kind"] == "Secret"]
    assert len(secrets) == 1 and sources[-1] is secrets[0], "the secrets last"
    assert len({m["name"] for m in maps}) == 1
    skaffold = yaml.safe_load((REPO / "skaffold.yaml").read_text())
    local = next(p for p in skaffold["profiles"] if p["name"] == "local")
    profile_files = [p["value"] for p in local["patches"]
                     if p["path"].endswith("valuesFiles/-") and p["value"].startswith("deploy/")]
    assert [f"deploy/helm/learnflow/{m['valuesKey']}" for m in maps] == profile_files
    # Make the Secret as the header says, from dev-secrets.sh's output, and render.
    generated = tmp_path / "secrets.yaml"
    out = subprocess.run(["sh", str(CHART / "dev-secrets.sh"), str(generated)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    args = [helm, "template", release["spec"]["releaseName"], str(CHART),
            "--namespace", release["spec"]["targetNamespace"], "--kube-version", "1.30"]
    for m in maps:
        args += ["-f", str(CHART / m["valuesKey"])]
    args += ["-f", str(generated)]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rendered = load_yaml_docs(out.stdout)
    images = {c["image"] for d in rendered if d["kind"] == "Deployment"
              for c in d["spec"]["template"]["spec"]["containers"]}
    assert images and all(re.match(r"127\.0\.0\.1:15000/", i) for i in images), images


def test_header_commands_publish_what_the_source_pulls(docs):
    header = "\n".join(line for line in FLUX.read_text().splitlines() if line.startswith("#"))
    source = by_kind(docs, "OCIRepository")
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    registry_path = source["spec"]["url"].removeprefix("oci://").rsplit("/", 1)[0]
    assert f"helm push target/learnflow/{chart['name']}-{chart['version']}.tgz oci://{registry_path}" in header
    for m in by_kind(docs, "HelmRelease")["spec"]["valuesFrom"]:
        if m["kind"] == "ConfigMap":
            assert f"--from-file=deploy/helm/learnflow/{m['valuesKey']}" in header
        else:
            assert f"create secret generic {m['name']}" in header
            assert f"--from-file={m['valuesKey']}=" in header
