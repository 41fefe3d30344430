"""The HPA algorithm (hpa.py) against the Kubernetes documentation's own examples, and
docs/scaling.md against what scaling.py computes from the chart and the measurements."""

from __future__ import annotations

import math
import re
import subprocess

import kubernetes_validate
import pytest
import yaml

import hpa
import scaling
from conftest import REPO, load_yaml_docs

DOC = REPO / "docs/scaling.md"


def run(spec: hpa.HpaSpec, start: int, proposals, sync_s: float = 15.0) -> list[int]:
    """Replica counts after each sync, with the metric proposing `proposals[i]` at sync i."""
    c = hpa.Controller(spec)
    current, out = start, []
    for i, proposed in enumerate(proposals):
        current = c.reconcile(i * sync_s, current, proposed)
        out.append(current)
    return out


# ── the replica calculation (kubernetes.io, "Horizontal Pod Autoscaling") ─────────────


def test_ratio_doubles_and_halves():
    # "if the current metric value is 200m, and the desired value is 100m, the number of
    # replicas will be doubled … If the current value is instead 50m, you'll halve".
    assert hpa.resource_replicas(3, [200, 200, 200], 1000, 10) == 6
    assert hpa.resource_replicas(4, [50, 50, 50, 50], 1000, 10) == 2


def test_tolerance_of_ten_percent_is_inclusive():
    # "The control plane skips any scaling action if the ratio is sufficiently close to 1.0
    # (within a configurable tolerance, 0.1 by default)."
    assert hpa.resource_replicas(10, [110] * 10, 100, 100) == 10
    assert hpa.resource_replicas(10, [90] * 10, 100, 100) == 10
    assert hpa.resource_replicas(10, [111] * 10, 100, 100) == 12  # ceil(1.11 * 10)
    assert hpa.resource_replicas(10, [89] * 10, 100, 100) == 9  # ceil(0.89 * 10)


def test_php_apache_walkthrough():
    # HPA walkthrough: one php-apache pod (request 200m) at 305% of a 50% target -> 7 pods.
    assert hpa.resource_replicas(1, [610], 200, 50) == 7
    assert hpa.utilization_percent([610], [200]) == 305


def test_utilization_is_a_truncated_integer_percent():
    # 2 pods at 139.9m of 200m: 69.95% -> 69%, ratio 0.986 (within tolerance either way),
    # but 3 pods at 230.9m of 200m: 115.45% -> 115%, ratio 115/70 -> ceil(1.642 * 3) = 5.
    assert hpa.utilization_percent([139.9, 139.9], [200, 200]) == 70  # 140m each (rounded up)
    assert hpa.utilization_percent([139, 139], [200, 200]) == 69
    assert hpa.resource_replicas(3, [230.9] * 3, 200, 70) == 5


def test_not_ready_pods_count_as_idle_on_scale_up():
    # "if any pod has yet to become ready … on scale up, assume 0%": 2 ready pods at 100% of
    # a 50% target with 2 pods still starting re-average to 50% -> no change at all.
    assert hpa.resource_replicas(4, [100, 100], 100, 50, unready=2) == 4
    # Without the starting pods the same samples would double the count.
    assert hpa.resource_replicas(2, [100, 100], 100, 50) == 4
    # Twice that load still scales: (200 + 200 + 0 + 0) / 4 = 100% -> ratio 2 -> 8.
    assert hpa.resource_replicas(4, [200, 200], 100, 50, unready=2) == 8


def test_no_sample_no_change():
    assert hpa.resource_replicas(3, [], 100, 50, unready=3) == 3


# ── behaviour: policies, stabilisation, bounds ───────────────────────────────────────


def test_default_scale_up_is_100_percent_or_4_pods_per_15_seconds():
    # Defaults: "Percent 100 / 15s, Pods 4 / 15s, selectPolicy Max, no stabilisation".
    spec = hpa.HpaSpec(1, 100, 50)
    assert run(spec, 1, [100] * 5) == [5, 10, 20, 40, 80]


def test_docs_scale_down_example_80_pods():
    # Docs, "Scaling Policies": Pods 4/60s and Percent 10/60s. "if there are 80 replicas and
    # the target has to be scaled down to 10 replicas then during the first step 8 replicas
    # will be reduced. In the next iteration when the number of replicas is 72, 10% of the
    # pods is 7.2 but the number is rounded up to 8 … When the number of replicas falls below
    # 40 the first policy (Pods) is applied and 4 replicas will be reduced at a time."
    down = hpa.Rules(0, (hpa.Policy("Pods", 4, 60), hpa.Policy("Percent", 10, 60)))
    spec = hpa.HpaSpec(1, 100, 50, scale_down=down)
    counts = run(spec, 80, [10] * 200)
    steps = [80] + [b for a, b in zip([80] + counts, counts) if a != b]
    assert steps[:3] == [80, 72, 64]
    drops = [a - b for a, b in zip(steps, steps[1:])]
    assert all(d == 4 for a, d in zip(steps, drops) if a < 40 and a - 4 >= 10)
    assert steps[-1] == 10
    # One change per 60 s period at most: 4 syncs of 15 s.
    changes = [i for i in range(1, len(counts)) if counts[i] != counts[i - 1]]
    assert all(b - a >= 4 for a, b in zip(changes, changes[1:]))


def test_scale_down_waits_out_the_stabilisation_window():
    # Default scaleDown window 300 s: the highest proposal of the last 5 minutes wins.
    spec = hpa.HpaSpec(1, 20, 50)
    counts = run(spec, 10, [10] + [2] * 40)
    first_drop = next(i for i, n in enumerate(counts) if n < 10)
    # The proposal of t=0 leaves the window once it is no longer *after* now - 300 s.
    assert first_drop * 15 == 300
    assert counts[first_drop] == 2  # then 100%/15s allows the whole way at once


def test_scale_up_window_ignores_a_single_spike():
    up = hpa.Rules(60, hpa.DEFAULT_SCALE_UP.policies)
    spec = hpa.HpaSpec(2, 20, 50, scale_up=up)
    # After a minute of 3s, one sync asks for 10, then the metric is back at 3: the lowest
    # proposal of the last minute stays 3, so the spike does not scale.
    assert run(spec, 3, [3] * 5 + [10] + [3] * 5) == [3] * 11
    # A sustained demand scales once the whole window asks for it (then at the default
    # rate: max(100 %, 4 pods) per 15 s).
    counts = run(spec, 3, [3] * 5 + [10] * 10)
    assert counts[:8] == [3] * 8 and counts[8:10] == [7, 10]


def test_select_policy_min_and_disabled():
    pods_or_percent = (hpa.Policy("Pods", 1, 15), hpa.Policy("Percent", 100, 15))
    fast = hpa.HpaSpec(1, 50, 50, scale_up=hpa.Rules(0, pods_or_percent, "Max"))
    slow = hpa.HpaSpec(1, 50, 50, scale_up=hpa.Rules(0, pods_or_percent, "Min"))
    off = hpa.HpaSpec(1, 50, 50, scale_up=hpa.Rules(0, pods_or_percent, "Disabled"))
    assert run(fast, 4, [20, 20]) == [8, 16]
    assert run(slow, 4, [20, 20]) == [5, 6]
    assert run(off, 4, [20, 20]) == [4, 4]


def test_bounds():
    spec = hpa.HpaSpec(2, 6, 50)
    assert run(spec, 4, [100]) == [6]
    assert run(spec, 4, [4, 0]) == [4, 4]  # the 300 s window still holds the 4 …
    no_window = hpa.HpaSpec(2, 6, 50, scale_down=hpa.Rules(0, hpa.DEFAULT_SCALE_DOWN.policies))
    assert run(no_window, 4, [4, 0]) == [4, 2]  # … without it: down to min, not to 0
    assert run(spec, 9, [9]) == [6]  # above max: straight to max
    assert run(spec, 1, [1]) == [2]  # below min: straight to min


def test_behavior_from_chart_values_fills_defaults():
    rules = hpa.rules_from_behavior({"policies": [{"type": "Pods", "value": 2, "periodSeconds": 30}]},
                                    hpa.DEFAULT_SCALE_DOWN)
    assert rules.window_s == 300 and rules.select == "Max"
    assert rules.policies == (hpa.Policy("Pods", 2, 30),)
    assert hpa.rules_from_behavior(None, hpa.DEFAULT_SCALE_UP) == hpa.DEFAULT_SCALE_UP
    with pytest.raises(ValueError):
        hpa.Policy("Replicas", 1, 15)


# ── the simulator ────────────────────────────────────────────────────────────────────


def test_settled_count_meets_the_target_or_a_bound():
    spec = hpa.HpaSpec(2, 10, 70)
    w = hpa.Workload(idle_m=1.0, cpu_ms_per_unit=1.0, request_m=100.0, limit_m=1000.0)
    previous = 0
    for rate in (0, 20, 50, 100, 200, 400, 700, 2000):
        s = hpa.settle(spec, w, rate)
        util = (w.idle_m * s.replicas + rate * w.cpu_ms_per_unit) / (s.replicas * w.request_m)
        at_bound = s.replicas in (spec.min_replicas, spec.max_replicas)
        assert at_bound or abs(util * 100 / spec.target_utilization - 1) <= 0.1 + 0.02, (rate, s)
        assert s.replicas >= previous, "more load never settles on fewer replicas"
        previous = s.replicas
    assert hpa.settle(spec, w, 2000).capped


def test_partitions_cap_the_consumers_that_get_work():
    w = hpa.Workload(idle_m=0.0, cpu_ms_per_unit=1.0, request_m=100.0, limit_m=200.0, max_active=2)
    usage, served = hpa.pod_usage(w, 300.0, 4)
    # Two partitions, four pods: two pods want 150m each, two idle; all is served.
    assert usage == [150.0, 150.0, 0.0, 0.0] and served == 1.0
    usage, served = hpa.pod_usage(w, 600.0, 4)
    # 300m wanted per active pod, the limit is 200m: two thirds served, more pods won't help.
    assert usage[:2] == [200.0, 200.0] and served == pytest.approx(2 / 3)


def test_new_pods_count_only_once_ready():
    spec = hpa.HpaSpec(1, 20, 50)
    slow = hpa.Workload(idle_m=0.0, cpu_ms_per_unit=1.0, request_m=100.0, ready_after_s=60.0)
    instant = hpa.Workload(idle_m=0.0, cpu_ms_per_unit=1.0, request_m=100.0, ready_after_s=0.0)
    samples = hpa.simulate(spec, slow, lambda t: 1000.0, 600.0)
    # The pods asked for at t=0 serve (and report CPU) from t=60 on; until then the one
    # original pod carries everything.
    assert [s.ready for s in samples if s.t < 60] == [1] * 4
    assert samples[4].ready > 1
    assert samples[-1].ready == samples[-1].replicas == 20
    assert hpa.simulate(spec, instant, lambda t: 1000.0, 600.0)[-1].replicas == 20


# ── docs/scaling.md and its inputs ───────────────────────────────────────────────────


def test_doc_matches_what_the_script_computes():
    doc = DOC.read_text()
    assert scaling.generated_section(doc) == scaling.render(), (
        "docs/scaling.md is stale: run python3 tests/deploy/scaling.py --write docs/scaling.md"
    )


def test_the_doc_check_notices_a_changed_number():
    doc = DOC.read_text()
    section = scaling.generated_section(doc)
    m = re.search(r"\*\*(\d+)\*\* \(", section)
    assert m, "no replica count in the generated section"
    tampered = section.replace(m.group(0), f"**{int(m.group(1)) + 1}** (", 1)
    assert tampered != scaling.render()


# What the chart requires to render: its secrets (any value; they land in Secrets only)
# and, without the in-cluster stores of the minikube profile, where Kafka and PostgreSQL are.
CHART_SECRETS = ("databasePassword", "jwtSecret", "daprApiToken", "courseAgentAppToken",
                 "userProgressAppToken")
CHART_STORES = ("kafka.brokers=kafka:9092", "postgresql.host=postgres", "postgresql.tls.caSecret=postgresql-ca")


def rendered_hpas(helm: str, *profiles: str) -> dict[str, dict]:
    cmd = [helm, "template", "learnflow", str(scaling.CHART)]
    for p in profiles:
        cmd += ["-f", str(scaling.CHART / p)]
    for key in CHART_SECRETS:
        # 32 bytes at least: the schema refuses a shorter JWT secret.
        cmd += ["--set", f"secrets.{key}=" + f"test-{key.lower()}".ljust(40, "0")]
    for setting in CHART_STORES:
        cmd += ["--set", setting]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    docs = load_yaml_docs(result.stdout)
    out = {}
    for d in docs:
        if d.get("kind") == "HorizontalPodAutoscaler":
            out[d["spec"]["scaleTargetRef"]["name"]] = {"hpa": d}
    for d in docs:
        if d.get("kind") == "Deployment" and d["metadata"]["name"] in out:
            out[d["metadata"]["name"]]["deployment"] = d
    return out


@pytest.mark.parametrize("profile", scaling.PROFILES, ids=lambda p: p[0])
def test_the_calculation_uses_what_the_chart_deploys(helm, profile):
    _, overlays = profile
    rendered = rendered_hpas(helm, *overlays)
    comps = scaling.scaled_components(scaling.chart_values(overlays))
    assert len(rendered) == len(comps), sorted(rendered)
    for c in comps:
        name = next(n for n in rendered if n.endswith(c.app))
        h, dep = rendered[name]["hpa"]["spec"], rendered[name]["deployment"]
        assert (h["minReplicas"], h["maxReplicas"]) == (c.spec.min_replicas, c.spec.max_replicas)
        cpu = [m for m in h["metrics"] if m["type"] == "ContainerResource"]
        assert len(cpu) == 1 and cpu[0]["containerResource"]["container"] == c.app, h["metrics"]
        target = cpu[0]["containerResource"]["target"]
        assert target == {"type": "Utilization", "averageUtilization": c.spec.target_utilization}
        behavior = h.get("behavior") or {}
        assert hpa.rules_from_behavior(behavior.get("scaleUp"), hpa.DEFAULT_SCALE_UP) == c.spec.scale_up
        assert hpa.rules_from_behavior(behavior.get("scaleDown"), hpa.DEFAULT_SCALE_DOWN) == c.spec.scale_down
        containers = {k["name"]: k for k in dep["spec"]["template"]["spec"]["containers"]}
        res = containers[c.app]["resources"]
        assert scaling.millicores(res["requests"]["cpu"]) == c.request_m
        assert scaling.millicores(res["limits"]["cpu"]) == c.limit_m
        annotations = dep["spec"]["template"]["metadata"]["annotations"]
        assert scaling.millicores(annotations["dapr.io/sidecar-cpu-request"]) == c.sidecar_request_m
        assert scaling.millicores(annotations["dapr.io/sidecar-cpu-limit"]) == c.sidecar_limit_m


def test_partition_count_is_the_same_for_native_stack_and_compose():
    compose = yaml.safe_load((REPO / "docker/compose.yaml").read_text())
    value = compose["services"]["kafka"]["environment"]["KAFKA_NUM_PARTITIONS"]
    default = re.fullmatch(r"\$\{LEARNFLOW_KAFKA_PARTITIONS:-(\d+)\}", value)
    assert default, value
    assert int(default.group(1)) == scaling.partitions()


def test_cpu_measurements_cover_every_scaled_app():
    runs, machine = scaling.cpu_runs()
    assert runs and machine["cpus"]
    for r in runs:
        assert r.accepted > 0 and r.accepted <= r.sent
        for _, app in scaling.COMPONENTS:
            assert r.cpu_ms[app] > 0, f"{app} used no CPU per lesson at {r.offered}/s?"
            assert app in r.idle_m
            assert f"daprd-{app}" in r.cpu_ms
    rates = [r.accepted_rate for r in runs]
    assert scaling.run_for(runs, 0).accepted_rate == min(rates)
    assert scaling.run_for(runs, math.inf).accepted_rate == max(rates)


def test_millicores():
    assert scaling.millicores("100m") == 100
    assert scaling.millicores("1") == 1000
    assert scaling.millicores(0.5) == 500


# ── deploy/minikube-hpa-watch.sh, against a stand-in kubectl ─────────────────────────

WATCH = REPO / "deploy/minikube-hpa-watch.sh"
FAKE_KUBECTL = r"""#!/usr/bin/env bash
# Answers what deploy/minikube-hpa-watch.sh asks, like a cluster with the chart installed.
echo "$*" >> "$FAKE_DIR/calls"
args="$*"
case "$args" in
  "config current-context") echo "${FAKE_CONTEXT:-minikube}" ;;
  "get --raw /apis/metrics.k8s.io/v1beta1") echo '{}' ;;
  *"get deploy -l"*) printf 'learnflow-frontend-gateway' ;;
  *"secretKeyRef.name"*) printf 'learnflow-app' ;;
  *"secretKeyRef.key"*) printf 'jwt-secret' ;;
  *"get deploy learnflow-frontend-gateway"*"loadgen-image}"*) printf '%s' "${FAKE_LOADGEN_IMAGE-registry.test/learnflow/loadgen:abc123@sha256:0f0f}" ;;
  *"get svc -l"*) printf 'learnflow-frontend-gateway' ;;
  *"get svc learnflow-frontend-gateway"*) printf '8080' ;;
  *"apply -f -"*) { cat; echo '---'; } >> "$FAKE_DIR/applied" ;;
  *" wait "*) sleep 2 ;;
  *" logs "*) echo "sent 100  accepted 100  (50.0/s)" ;;
  *"get hpa -o jsonpath"*) printf 'learnflow-frontend-gateway,1,4,2,3,85,70\nlearnflow-user-progress,1,3,1,1,20,70\n' ;;
  *"get hpa") echo "NAME   REFERENCE   TARGETS" ;;
  *"delete job"*) ;;
  *) echo "fake kubectl: unexpected: $args" >&2; exit 1 ;;
esac
"""


def run_watch(tmp_path, **env):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "kubectl"
    fake.write_text(FAKE_KUBECTL)
    fake.chmod(0o755)
    out = tmp_path / "watch.csv"
    full_env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "FAKE_DIR": str(tmp_path),
        "OUT": str(out),
        "INTERVAL": "1",
        "PHASES": "normal:5:1 burst:5:20 idle:2:0",
        **env,
    }
    result = subprocess.run(["bash", str(WATCH)], env=full_env, capture_output=True,
                            text=True, timeout=120)
    return result, out


def test_watch_script_drives_load_jobs_and_records_every_hpa(tmp_path):
    result, out = run_watch(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = out.read_text().splitlines()
    assert rows[0] == ("time_utc,elapsed_s,phase,offered_rate,hpa,min,max,current_replicas,"
                       "desired_replicas,cpu_utilization_pct,cpu_target_pct")
    data = [r.split(",") for r in rows[1:]]
    assert data and all(len(r) == 11 for r in data)
    assert {r[4] for r in data} == {"learnflow-frontend-gateway", "learnflow-user-progress"}
    assert {(r[2], r[3]) for r in data} >= {("1-normal", "50"), ("2-burst", "1000")}
    jobs = [d for d in load_yaml_docs((tmp_path / "applied").read_text())]
    assert len(jobs) == 2, "one Job per loaded phase, none for idle"
    for job, rate in zip(jobs, ("50", "1000")):
        # Raises on any schema violation (strict: unknown fields too).
        kubernetes_validate.validate(job, "1.30.0", strict=True)
        pod = job["spec"]["template"]["spec"]
        c = pod["containers"][0]
        assert c["image"] == "registry.test/learnflow/loadgen:abc123@sha256:0f0f", "the release's loadgen image"
        assert c["args"][:4] == ["--gateway", "http://learnflow-frontend-gateway:8080",
                                 "--secret", "$(JWT_SECRET)"]
        assert c["args"][c["args"].index("--rate") + 1] == rate
        ref = c["env"][0]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "learnflow-app", "key": "jwt-secret"}
        # No release labels: the chart's default-deny NetworkPolicy must not catch the Job.
        assert "app.kubernetes.io/instance" not in job["spec"]["template"]["metadata"]["labels"]
    calls = (tmp_path / "calls").read_text()
    assert "delete job -l learnflow.dev/hpa-watch=" in calls, "the Jobs are cleaned up"
    assert "secret" not in re.sub(r"secretKeyRef\.\w+|JWT_SECRET", "", calls).lower(), (
        "the script must never read the Secret itself"
    )
    # The validation above can fail: the same Job with a misspelt field does.
    broken = dict(jobs[0], spec={**jobs[0]["spec"], "backofLimit": 0})
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.30.0", strict=True)


def test_watch_script_refuses_other_contexts_and_missing_metrics(tmp_path):
    result, _ = run_watch(tmp_path, FAKE_CONTEXT="prod-cluster")
    assert result.returncode != 0 and "not minikube" in result.stderr
    result, _ = run_watch(tmp_path, PHASES="normal:x:1")
    assert result.returncode != 0 and "bad phase" in result.stderr
    result, _ = run_watch(tmp_path, FAKE_LOADGEN_IMAGE="")
    assert result.returncode != 0 and "no learnflow.dev/loadgen-image" in result.stderr
    result, _ = run_watch(tmp_path, FAKE_CONTEXT="learnflow", PHASES="idle:1:0")
    assert result.returncode == 0, "the local cluster's context (cargo xtask cluster up) is allowed"
