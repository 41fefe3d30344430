#!/usr/bin/env python3
"""Resident memory each kept-alive connection costs the frontend-gateway.

Starts the release gateway binary on its own (no daprd is needed: every connection is
opened with one request without a token, which the gateway answers 401 itself), opens
N connections, waits for every answer, keeps them open and compares the process's
VmRSS with its idle VmRSS. This is the figure behind docs/adr/0008-http1-server.md and
the gateway's row in docs/benchmarks.md, isolated from the rest of the flow.

    cargo build --release -p frontend-gateway
    python3 tools/measure_conn_memory.py --gateway target/release/frontend-gateway --connections 1000
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import socket
import subprocess
import sys
import time

REQUEST = b"GET /api/v1/progress HTTP/1.1\r\nHost: gateway\r\n\r\n"


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_listening(port: int, deadline_s: float = 10.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the gateway did not listen on port {port} within {deadline_s} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gateway", default="target/release/frontend-gateway")
    parser.add_argument("--connections", type=int, default=1000)
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = args.connections + 64
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))

    api, admin = free_port(), free_port()
    env = dict(
        os.environ,
        LEARNFLOW_SERVER__PORT=str(api),
        LEARNFLOW_ADMIN__PORT=str(admin),
        LEARNFLOW_AUTH__JWT_SECRET=secrets.token_hex(32),
        LEARNFLOW_TELEMETRY__LOG_FILTER="warn",
    )
    gateway = subprocess.Popen([args.gateway], env=env, stdout=subprocess.DEVNULL)
    connections: list[socket.socket] = []
    try:
        wait_listening(api)
        time.sleep(0.3)
        idle = rss_kib(gateway.pid)
        for _ in range(args.connections):
            connection = socket.create_connection(("127.0.0.1", api))
            connection.sendall(REQUEST)
            connections.append(connection)
        for connection in connections:
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = connection.recv(4096)
                if not chunk:
                    raise RuntimeError("the gateway closed a connection")
                answer += chunk
            if not answer.startswith(b"HTTP/1.1 401"):
                raise RuntimeError(f"expected 401, got {answer.splitlines()[0]!r}")
        time.sleep(0.3)
        loaded = rss_kib(gateway.pid)
    finally:
        for connection in connections:
            connection.close()
        gateway.terminate()
        gateway.wait(timeout=10)
    per_connection = (loaded - idle) / args.connections
    print(
        f"frontend-gateway: idle {idle / 1024:.1f} MiB, with {args.connections} kept-alive "
        f"connections {loaded / 1024:.1f} MiB: {per_connection:.1f} KiB per connection"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
