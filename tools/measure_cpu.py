#!/usr/bin/env python3
"""CPU time per lesson of every process of a running native stack.

docs/benchmarks.json has throughput and latency but no per-process CPU, and the HPA
arithmetic in docs/scaling.md needs exactly that: how many CPU milliseconds each
service (and each daprd) spends per lesson, and what it burns when idle. This script
measures both on a stack started with `cargo xtask up --detach`:

1. idle: CPU of every process over `--idle` seconds with no traffic (probes, scrapes,
   the outbox relay's idle polling);
2. load: `learnflow-load --stack <json> --rate R --duration D`, then a short wait so
   user-progress finishes consuming; CPU over that window minus the idle rate, divided
   by the lessons the gateway accepted.

CPU is read from /proc/<pid>/stat (utime + stime, plus cutime + cstime so that reaped
children count) summed over each component's process tree, so PostgreSQL's backends
count towards PostgreSQL. CPU time, unlike wall time, does not depend on what else the
machine is doing, which is why it is the figure to carry over to another machine.

    python3 tools/measure_cpu.py --stack target/learnflow/stack.json \
        --load target/release/learnflow-load --rate 40 --duration 60 --out tools/cpu-per-lesson.json

Above the dev learner's rate limit (50/s), pass the stack's JWT secret with --secret so
learnflow-load signs tokens for many learners (a dev stack's secret is random per run and
only in the gateway's environment: see docs/scaling.md, "Regenerating"). Runs accumulate
in --out, one per rate; tests/deploy/scaling.py reads them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds incl. reaped children) of `pid`, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: split after the last ')'.
    fields = text[text.rindex(")") + 2 :].split()
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return ppid, (utime + stime + cutime + cstime) / TICKS


def tree_cpu(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds of each root's whole process tree."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            s = _stat(int(entry))
            if s is not None:
                parents[int(entry)], cpu[int(entry)] = s
    out = {}
    for name, root in roots.items():
        total = 0.0
        for pid, seconds in cpu.items():
            p = pid
            # Walk up to the root (or init): is `pid` in `root`'s tree?
            while p > 1 and p != root:
                p = parents.get(p, 1)
            if p == root:
                total += seconds
        out[name] = total
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stack", required=True, help="stack.json written by cargo xtask up --detach")
    ap.add_argument("--load", required=True, help="the learnflow-load binary")
    ap.add_argument("--rate", type=float, default=40.0)
    ap.add_argument("--duration", type=int, default=60)
    ap.add_argument("--idle", type=int, default=30, help="seconds of idle measurement")
    ap.add_argument("--settle", type=int, default=5, help="seconds to wait after the load")
    ap.add_argument(
        "--secret",
        help="the stack's JWT secret: lets learnflow-load sign tokens for --learners learners "
        "(without it, the one dev learner of stack.json caps the rate at its 50/s limit)",
    )
    ap.add_argument("--learners", type=int, default=64)
    ap.add_argument("--out", required=True, help="JSON file the run is added to")
    ap.add_argument("--fresh", action="store_true", help="replace the runs already in --out")
    args = ap.parse_args()

    info = json.loads(Path(args.stack).read_text())
    roots = {name: int(pid) for name, pid in info["pids"].items()}

    t0, c0 = time.monotonic(), tree_cpu(roots)
    time.sleep(args.idle)
    t1, c1 = time.monotonic(), tree_cpu(roots)
    idle_cores = {n: (c1[n] - c0[n]) / (t1 - t0) for n in roots}

    started = time.monotonic()
    before = tree_cpu(roots)
    if args.secret:
        target = ["--gateway", info["gateway"], "--secret", args.secret]
        target += ["--learners", str(args.learners)]
    else:
        target = ["--stack", args.stack]
    run = subprocess.run(
        [args.load, *target, "--rate", str(args.rate), "--duration", str(args.duration)],
        capture_output=True,
        text=True,
        check=True,
    )
    time.sleep(args.settle)
    after = tree_cpu(roots)
    elapsed = time.monotonic() - started
    match = re.search(r"sent (\d+)\s+accepted (\d+)", run.stdout)
    if not match:
        print(run.stdout, run.stderr, file=sys.stderr)
        return 1
    sent, accepted = int(match.group(1)), int(match.group(2))
    if accepted == 0:
        print("no lesson was accepted; nothing to divide by", file=sys.stderr)
        return 1

    per_lesson_ms = {
        n: max(0.0, (after[n] - before[n]) - idle_cores[n] * elapsed) * 1000.0 / accepted
        for n in roots
    }
    result = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {
            "cpu": _cpu_model(),
            "cpus": os.cpu_count(),
            "binaries": {n: _exe(p) for n, p in sorted(roots.items())},
        },
        "load": {
            "rate": args.rate,
            "learners": args.learners if args.secret else 1,
            "duration_s": args.duration,
            "sent": sent,
            "accepted": accepted,
            "window_s": round(elapsed, 2),
            "loadgen_summary": run.stdout.strip().splitlines()[-2:],
        },
        "idle_window_s": round(t1 - t0, 2),
        "idle_millicores": {n: round(v * 1000.0, 2) for n, v in sorted(idle_cores.items())},
        "cpu_ms_per_lesson": {n: round(v, 4) for n, v in sorted(per_lesson_ms.items())},
    }
    # Runs accumulate in one file (one per rate); --fresh starts it over.
    out = Path(args.out)
    runs = [] if args.fresh or not out.exists() else json.loads(out.read_text())["runs"]
    runs.append(result)
    runs.sort(key=lambda r: r["load"]["rate"])
    out.write_text(json.dumps({"runs": runs}, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


def _exe(pid: int) -> str:
    """The binary a process runs, relative to the repository or home (no machine paths)."""
    try:
        path = Path(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return "unknown"
    repo = Path(__file__).resolve().parents[1]
    if path.is_relative_to(repo):
        return str(path.relative_to(repo))
    if path.is_relative_to(Path.home()):
        return "~/" + str(path.relative_to(Path.home()))
    return str(path)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    sys.exit(main())
