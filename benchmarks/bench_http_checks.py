"""1,000 HTTP health checks through `run_checks` against a local server in another process.

The goal is "seconds, not minutes" for a large environment's health pass. The reference,
measured in the same run against the same server, is the bare client work each check
needs (a `requests` GET and a JSON parse per check, on the same number of threads with
one keep-alive session per thread): the ratio is what Vigil's runner adds on top.

    .venv/bin/python benchmarks/bench_http_checks.py [--checks 1000] [--workers 8,16,32]

The last line of output is one JSON object for machines.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.support (vigil comes from the venv)

from tests.support.child_server import child_server  # noqa: E402 (after the path setup)
from vigil.checks import DEFAULT_WORKERS, run_checks  # noqa: E402
from vigil.checks.models import HttpCheck  # noqa: E402
from vigil.context import RunContext  # noqa: E402
from vigil.result import Status  # noqa: E402
from vigil.spec.models import Checks, HttpTarget, Spec  # noqa: E402

SERVER_START_TIMEOUT_S = 20.0


@contextmanager
def server_process(delay_s: float = 0.05) -> Iterator[str]:
    """tests/support/http_server.py in its own process, so it does not share our GIL."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    argv = [sys.executable, "-m", "tests.support.http_server", str(delay_s)]
    with child_server(argv, cwd=ROOT, env=env, start_timeout_s=SERVER_START_TIMEOUT_S) as port:
        yield f"http://127.0.0.1:{port}"


def build_context(base_url: str, n: int, path: str) -> tuple[list[HttpCheck], RunContext]:
    checks = [
        HttpCheck(
            kind="http",
            id=f"health-{i:04d}",
            target="api",
            path=path,
            timeout_s=10,
            check_dependencies=True,
            conditions=['status == "ok"'],
        )
        for i in range(n)
    ]
    target = HttpTarget(kind="http", base_url=base_url, headers={"X-Bench": "1"})
    spec = Spec(environment="bench", targets={"api": target}, checks=Checks(health=checks))
    return checks, RunContext(spec, environ={})


def reference(url: str, n: int, workers: int) -> float:
    """The bare client work: GET + JSON parse per check, one session per thread."""
    local = threading.local()

    def one(_: int) -> bool:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        resp = session.get(url, headers={"X-Bench": "1"}, timeout=10)
        doc = resp.json()
        return resp.status_code == 200 and doc["status"] == "ok" and "dependencies" in doc

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        ok = all(pool.map(one, range(n)))
    elapsed = time.perf_counter() - start
    if not ok:
        raise RuntimeError("reference requests did not all succeed")
    return elapsed


def vigil_run(checks: list[HttpCheck], ctx: RunContext, workers: int) -> float:
    start = time.perf_counter()
    results = run_checks(checks, ctx, max_workers=workers)
    elapsed = time.perf_counter() - start
    bad = [r for r in results if r.status is not Status.PASSED]
    if len(results) != len(checks) or bad:
        raise RuntimeError(f"{len(bad)} checks did not pass, e.g. {bad[0].message if bad else ''}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--workers", default="8,16,32", help="comma-separated pool sizes")
    parser.add_argument("--repeat", type=int, default=3, help="runs per setting; best kept")
    parser.add_argument(
        "--delay-ms",
        type=float,
        default=0.0,
        help="server-side latency per request (0: answer at once)",
    )
    args = parser.parse_args()
    pools = [int(w) for w in args.workers.split(",")]

    path = "/slow" if args.delay_ms else "/health"
    with server_process(args.delay_ms / 1000) as base_url:
        checks, ctx = build_context(base_url, args.checks, path)
        vigil_run(checks[:50], ctx, 8)  # warm up imports, server threads, sockets
        rows = []
        for workers in pools:
            ref = min(reference(base_url + path, args.checks, workers) for _ in range(args.repeat))
            run = min(vigil_run(checks, ctx, workers) for _ in range(args.repeat))
            rows.append({"workers": workers, "seconds": run, "reference_seconds": ref})
            print(
                f"workers={workers:3d}  vigil {run:6.3f} s ({args.checks / run:7.0f} checks/s)"
                f"  reference {ref:6.3f} s ({args.checks / ref:7.0f} req/s)"
                f"  ratio {run / ref:4.2f}x"
            )

    best = min(rows, key=lambda r: r["seconds"])
    default = next((r for r in rows if r["workers"] == DEFAULT_WORKERS), best)
    print(
        f"{args.checks} HTTP checks: best {best['seconds']:.3f} s with {best['workers']} "
        f"workers ({args.checks / best['seconds']:.0f} checks/s); "
        f"default pool ({DEFAULT_WORKERS}): {default['seconds']:.3f} s; "
        f"{os.cpu_count()} CPUs, server in a separate process, "
        f"server latency {args.delay_ms:g} ms"
    )
    print(
        json.dumps(
            {
                "name": f"http_checks_{args.checks}"
                + (f"_delay{args.delay_ms:g}ms" if args.delay_ms else ""),
                "server_delay_ms": args.delay_ms,
                "seconds": round(best["seconds"], 4),
                "checks_per_second": round(args.checks / best["seconds"], 1),
                "workers": best["workers"],
                "reference_seconds": round(best["reference_seconds"], 4),
                "ratio_to_reference": round(best["seconds"] / best["reference_seconds"], 3),
                "default_workers_seconds": round(default["seconds"], 4),
                "runs": [
                    {k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}
                    for r in rows
                ],
            }
        )
    )


if __name__ == "__main__":
    main()
