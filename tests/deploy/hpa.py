"""The Kubernetes HorizontalPodAutoscaler (autoscaling/v2) algorithm, as pure Python.

A transcription of what kube-controller-manager's HPA controller does on every sync
(`--horizontal-pod-autoscaler-sync-period`, 15 s by default) for one CPU `Utilization`
metric (`Resource` or `ContainerResource`), after pkg/controller/podautoscaler:

1. replica_calculator.go `GetResourceReplicas`: utilisation = sum(usage) * 100 / sum(requests)
   over the pods with a usable sample, truncated to an integer percent; ratio =
   utilisation / target; no change while the ratio is within the tolerance (0.1, both
   ends inclusive); otherwise ceil(ratio * pods). Pods not yet ready are set aside; on a
   scale-up they are counted back in at 0 % and the ratio recomputed, and if that
   reverses the direction or lands within the tolerance nothing happens.
2. horizontal.go `reconcileAutoscaler`: above maxReplicas go to max, below minReplicas go
   to min, otherwise normalise the metric's proposal with the `behavior`:
   - `stabilizeRecommendationWithBehaviors`: scale up to at most the lowest proposal of
     the scale-up window, scale down to at least the highest proposal of the scale-down
     window (proposals are remembered per sync);
   - `convertDesiredReplicasWithBehaviorRate`: the policies bound the change against the
     replicas at the start of each policy's period (selectPolicy Max takes the policy
     allowing the biggest change, Min the smallest, Disabled none); Pods policies add or
     remove a count, Percent policies a share (rounded up on scale-up, down on scale-down);
     then min/max.

Defaults when `behavior` is absent (kubernetes/website, HPA docs): scale up 100 % or 4
pods per 15 s, whichever is more, no stabilisation; scale down 100 % per 15 s with a
300 s stabilisation window.

Deliberately left out: the "missing metrics" branch (pods without any sample), the
cluster-wide cpu-initialization-period subtleties beyond "a new pod counts once it is
ready and has one metrics window", and the alpha per-direction tolerance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

DEFAULT_TOLERANCE = 0.1
SYNC_PERIOD_S = 15


@dataclass(frozen=True)
class Policy:
    """One HPAScalingPolicy: `kind` is "Pods" or "Percent"."""

    kind: str
    value: int
    period_s: int

    def __post_init__(self):
        if self.kind not in ("Pods", "Percent"):
            raise ValueError(f"policy type must be Pods or Percent, not {self.kind!r}")
        if self.value <= 0 or self.period_s <= 0:
            raise ValueError("policy value and period must be positive")


@dataclass(frozen=True)
class Rules:
    """HPAScalingRules of one direction."""

    window_s: int
    policies: tuple[Policy, ...]
    select: str = "Max"

    def __post_init__(self):
        if self.select not in ("Max", "Min", "Disabled"):
            raise ValueError(f"selectPolicy must be Max, Min or Disabled, not {self.select!r}")


DEFAULT_SCALE_UP = Rules(0, (Policy("Percent", 100, 15), Policy("Pods", 4, 15)))
DEFAULT_SCALE_DOWN = Rules(300, (Policy("Percent", 100, 15),))


@dataclass(frozen=True)
class HpaSpec:
    """What an HPA says: bounds, the CPU utilisation target (percent) and behaviour."""

    min_replicas: int
    max_replicas: int
    target_utilization: int
    scale_up: Rules = DEFAULT_SCALE_UP
    scale_down: Rules = DEFAULT_SCALE_DOWN
    tolerance: float = DEFAULT_TOLERANCE

    def __post_init__(self):
        if not 1 <= self.min_replicas <= self.max_replicas:
            raise ValueError("need 1 <= minReplicas <= maxReplicas")
        if self.target_utilization <= 0:
            raise ValueError("the utilisation target must be positive")


def rules_from_behavior(direction: dict | None, default: Rules) -> Rules:
    """Rules from one direction of an HPA `behavior` (a parsed manifest or chart values);
    fields left out take the defaults, as the API server fills them."""
    if not direction:
        return default
    policies = direction.get("policies")
    return Rules(
        window_s=int(direction.get("stabilizationWindowSeconds", default.window_s)),
        policies=tuple(
            Policy(p["type"], int(p["value"]), int(p["periodSeconds"])) for p in policies
        )
        if policies
        else default.policies,
        select=direction.get("selectPolicy", default.select),
    )


def within_tolerance(ratio: float, tolerance: float = DEFAULT_TOLERANCE) -> bool:
    return 1.0 - tolerance <= ratio <= 1.0 + tolerance


def utilization_percent(usage_m: list[float], request_m: list[float]) -> int:
    """Average utilisation as the controller computes it: whole millicores per pod (the
    metrics API rounds up), then an integer percent, truncated."""
    return sum(math.ceil(u) for u in usage_m) * 100 // sum(math.ceil(r) for r in request_m)


def resource_replicas(
    current: int,
    ready_usage_m: list[float],
    request_m: float,
    target: int,
    unready: int = 0,
    tolerance: float = DEFAULT_TOLERANCE,
) -> int:
    """The replica count one CPU Utilization metric asks for (GetResourceReplicas).

    `ready_usage_m`: CPU (millicores) of each pod with a usable sample; `unready`: pods
    that exist but have no usable sample yet (starting, not ready); every pod requests
    `request_m`."""
    if not ready_usage_m:
        # No usable sample: the controller reports an error and leaves the scale alone.
        return current
    requests = [request_m] * len(ready_usage_m)
    ratio = utilization_percent(ready_usage_m, requests) / target
    if unready == 0 or ratio <= 1.0:
        if within_tolerance(ratio, tolerance):
            return current
        return math.ceil(ratio * len(ready_usage_m))
    # Scale-up with unready pods: count them at 0 % and look again.
    usage = ready_usage_m + [0.0] * unready
    new_ratio = utilization_percent(usage, [request_m] * len(usage)) / target
    if within_tolerance(new_ratio, tolerance) or new_ratio < 1.0:
        return current
    proposed = math.ceil(new_ratio * len(usage))
    return current if proposed < current else proposed


@dataclass
class _Event:
    at: float
    change: int


@dataclass
class Controller:
    """The state the controller keeps per HPA between syncs."""

    spec: HpaSpec
    recommendations: list[tuple[float, int]] = field(default_factory=list)
    up_events: list[_Event] = field(default_factory=list)
    down_events: list[_Event] = field(default_factory=list)

    def reconcile(self, now: float, current: int, proposed: int) -> int:
        """The replica count after one sync at `now` (seconds), given the current count
        and what the metric proposes; records the scale event."""
        s = self.spec
        if current > s.max_replicas:
            desired = s.max_replicas
        elif current < s.min_replicas:
            desired = s.min_replicas
        else:
            stabilized = self._stabilize(now, current, proposed)
            desired = self._limit_rate(now, current, stabilized)
        if desired > current:
            self.up_events.append(_Event(now, desired - current))
        elif desired < current:
            self.down_events.append(_Event(now, current - desired))
        return desired

    def _stabilize(self, now: float, current: int, proposed: int) -> int:
        up_cutoff = now - self.spec.scale_up.window_s
        down_cutoff = now - self.spec.scale_down.window_s
        up, down = proposed, proposed
        for at, rec in self.recommendations:
            if at > up_cutoff:
                up = min(up, rec)
            if at > down_cutoff:
                down = max(down, rec)
        # Keep only what a window can still see; then remember this proposal.
        oldest = min(up_cutoff, down_cutoff)
        self.recommendations = [r for r in self.recommendations if r[0] > oldest]
        self.recommendations.append((now, proposed))
        return min(max(current, up), down)

    @staticmethod
    def _changed(events: list[_Event], now: float, period_s: int) -> int:
        return sum(e.change for e in events if e.at > now - period_s)

    def _period_start(self, now: float, current: int, period_s: int) -> int:
        return (
            current
            - self._changed(self.up_events, now, period_s)
            + self._changed(self.down_events, now, period_s)
        )

    def _limit_rate(self, now: float, current: int, desired: int) -> int:
        s = self.spec
        if desired > current:
            rules = s.scale_up
            if rules.select == "Disabled":
                limit = current
            else:
                proposals = []
                for p in rules.policies:
                    start = self._period_start(now, current, p.period_s)
                    if p.kind == "Pods":
                        proposals.append(start + p.value)
                    else:
                        proposals.append(math.ceil(start * (1 + p.value / 100)))
                limit = max(proposals) if rules.select == "Max" else min(proposals)
            limit = max(limit, current)
            return min(desired, limit, s.max_replicas)
        if desired < current:
            rules = s.scale_down
            if rules.select == "Disabled":
                limit = current
            else:
                proposals = []
                for p in rules.policies:
                    start = self._period_start(now, current, p.period_s)
                    if p.kind == "Pods":
                        proposals.append(start - p.value)
                    else:
                        proposals.append(int(start * (1 - p.value / 100)))
                limit = min(proposals) if rules.select == "Max" else max(proposals)
            limit = min(limit, current)
            return max(desired, limit, s.min_replicas)
        return desired


# ── a workload under a load, and the loop over time ─────────────────────────────────


@dataclass(frozen=True)
class Workload:
    """How one Deployment's app container uses CPU.

    `idle_m`: millicores a pod burns with no traffic; `cpu_ms_per_unit`: CPU milliseconds
    per unit of work (a lesson), so `rate * cpu_ms_per_unit` is the total demand in
    millicores; `request_m`/`limit_m`: the container's CPU request and limit (None: no
    limit); `max_active`: at most this many pods share the work (Kafka partitions for a
    consumer; None: every ready pod); `ready_after_s`: from the scale decision to a pod
    serving and having one metrics sample."""

    idle_m: float
    cpu_ms_per_unit: float
    request_m: float
    limit_m: float | None = None
    max_active: int | None = None
    ready_after_s: float = 45.0


@dataclass(frozen=True)
class Sample:
    """The state after the sync at time `t`."""

    t: float
    rate: float
    replicas: int
    ready: int
    utilization: int
    served: float  # share of the demand the ready pods can serve within their CPU limits


def pod_usage(workload: Workload, rate: float, ready: int) -> tuple[list[float], float]:
    """CPU of each ready pod and the share of the demand served, for `rate` units/s spread
    evenly over the pods that get work."""
    if ready == 0:
        return [], 0.0
    demand = rate * workload.cpu_ms_per_unit
    active = ready if workload.max_active is None else min(ready, workload.max_active)
    wanted = workload.idle_m + demand / active
    if workload.limit_m is None or wanted <= workload.limit_m:
        return [wanted] * active + [workload.idle_m] * (ready - active), 1.0
    got = workload.limit_m
    usage = [got] * active + [workload.idle_m] * (ready - active)
    return usage, max(0.0, (got - workload.idle_m) * active / demand)


def simulate(
    spec: HpaSpec,
    workload: Workload,
    load,
    duration_s: float,
    start_replicas: int | None = None,
    sync_s: float = SYNC_PERIOD_S,
) -> list[Sample]:
    """Runs the controller every `sync_s` seconds for `duration_s`; `load(t)` is the rate
    (units/s) at time t. Pods start ready (a steady state before t = 0)."""
    controller = Controller(spec)
    replicas = start_replicas if start_replicas is not None else spec.min_replicas
    born = [-math.inf] * replicas  # when each pod was asked for; ready after ready_after_s
    samples = []
    t = 0.0
    while t <= duration_s:
        rate = load(t)
        ready = sum(1 for b in born if t - b >= workload.ready_after_s)
        usage, served = pod_usage(workload, rate, ready)
        util = utilization_percent(usage, [workload.request_m] * ready) if ready else 0
        proposed = resource_replicas(
            replicas, usage, workload.request_m, spec.target_utilization,
            unready=replicas - ready, tolerance=spec.tolerance,
        )
        new = controller.reconcile(t, replicas, proposed)
        if new > replicas:
            born += [t] * (new - replicas)
        elif new < replicas:
            # The ReplicaSet removes not-yet-ready and youngest pods first.
            born = sorted(born)[: new]
        replicas = new
        samples.append(Sample(t, rate, replicas, ready, util, served))
        t += sync_s
    return samples


@dataclass(frozen=True)
class Settled:
    """Where an HPA ends up under a constant rate, and how long it took."""

    replicas: int
    utilization: int  # average over ready pods, percent of the request, once settled
    reached_s: float  # time of the last replica change
    served: float
    capped: bool  # wants more than maxReplicas


def settle(
    spec: HpaSpec, workload: Workload, rate: float, start_replicas: int | None = None,
    duration_s: float = 3600.0,
) -> Settled:
    """Steps from `start_replicas` (default: min) to a constant `rate` and runs an hour."""
    start = spec.min_replicas if start_replicas is None else start_replicas
    samples = simulate(spec, workload, lambda _t: rate, duration_s, start)
    last = samples[-1]
    reached, previous = 0.0, start
    for s in samples:
        if s.replicas != previous:
            reached, previous = s.t, s.replicas
    usage, _ = pod_usage(workload, rate, last.replicas)
    wanted = resource_replicas(last.replicas, usage, workload.request_m, spec.target_utilization,
                               tolerance=spec.tolerance)
    return Settled(
        replicas=last.replicas,
        utilization=last.utilization,
        reached_s=reached,
        served=last.served,
        capped=last.replicas == spec.max_replicas and wanted > spec.max_replicas,
    )
