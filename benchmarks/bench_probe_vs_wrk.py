"""Vigil's HTTP load engine (vigil.probes.http_load) against wrk, back to back.

Three comparisons, round by round (the order inside a round alternates):

- throughput: closed loop, C connections, against nginx serving a small static file:
  Vigil's req/s over the better of `wrk -t1` and `wrk -t2` (target >= 0.7, stretch 0.8);
- latency: closed loop at C against a local server answering in 50 ms: Vigil's p50 and
  p99 against `wrk --latency`'s, and both error counts;
- coordinated omission: a server that stalls 1 s in the middle of the run, loaded by
  Vigil's open loop at a fixed rate and by its closed loop: the open loop's p99 shows the
  stall, the closed loop's hides it.

Debian's wrk and nginx-light are installed when missing (vigil/stack/debian.py); nginx
runs as a child process with its own prefix and config in a temporary folder; the 50 ms
and stalling servers are tests/support/latency_server.py in their own processes.

    .venv/bin/python benchmarks/bench_probe_vs_wrk.py [--rounds 3] [--seconds 5]

The last line of output is one JSON object for machines.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.support (vigil comes from the venv)

from tests.support.latency_server import LatencyServer  # noqa: E402
from vigil.probes.http_load import Load, Request, run_http_load  # noqa: E402
from vigil.probes.measure import Measurement  # noqa: E402
from vigil.stack.debian import ensure_package  # noqa: E402 (after the path setup)
from vigil.stack.postgres import free_port  # noqa: E402

WRK = Path("/usr/bin/wrk")
NGINX = Path("/usr/sbin/nginx")
START_TIMEOUT_S = 10.0
OK = frozenset({200})

NGINX_CONF = """\
daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 10000000;
    server {{
        listen 127.0.0.1:{port};
        root {dir}/html;
        location / {{ }}
    }}
}}
"""


def wait_for_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nginx did not listen on {port} within {START_TIMEOUT_S}s")


@contextmanager
def nginx() -> Iterator[str]:
    """nginx on a free loopback port, everything it writes in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="vigil-bench-nginx-") as tmp:
        folder = Path(tmp)
        # As root, nginx's worker runs as `nobody`: it must be able to read the file.
        folder.chmod(0o755)
        (folder / "html").mkdir(mode=0o755)
        (folder / "html" / "index.html").write_text('{"status": "ok", "service": "bench"}\n')
        port = free_port()
        conf = folder / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=folder, port=port))
        argv = [str(NGINX), "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log")]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for_port(port, proc)
            yield f"http://127.0.0.1:{port}/index.html"
        finally:
            proc.terminate()  # SIGTERM: the master stops its worker and exits
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            if proc.stderr:
                proc.stderr.close()


# --- wrk ----------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if found is None:
        raise RuntimeError(f"not a wrk duration: {text!r}")
    return float(found.group(1)) * _UNITS[found.group(2)]


def wrk(url: str, threads: int, connections: int, seconds: float) -> dict[str, float]:
    argv = [str(WRK), f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    argv += ["--timeout", "5s", url]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rps is None:
        raise RuntimeError(f"no Requests/sec in wrk's output:\n{out}")
    figures = {"rps": float(rps.group(1))}
    for pct, name in (("50", "p50"), ("99", "p99")):
        found = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.MULTILINE)
        if found:
            figures[name] = _ms(found.group(1))
    errors = 0
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        errors += int(non_2xx.group(1))
    figures["errors"] = float(errors)
    return figures


# --- Vigil --------------------------------------------------------------------------------


def vigil(url: str, model: str, connections: int, seconds: float, rate: float = 0.0) -> Measurement:
    load = Load(
        model="open" if model == "open" else "closed",
        connections=connections,
        rate=rate or None,
        duration_s=seconds,
        warmup_s=0.0,  # as wrk: no warm-up
        max_requests=100_000_000,
        timeout_s=5.0,
    )
    return run_http_load([Request("GET", url)], load, OK)


def figures(m: Measurement) -> dict[str, float]:
    f = m.figures()
    return {
        "rps": f["rps"],
        "p50": f.get("p50", 0.0),
        "p99": f.get("p99", 0.0),
        "errors": f["errors"],
    }


def stall_run(model: str, args: argparse.Namespace) -> dict[str, float]:
    """One run against a fresh server that stalls 1 s from 40 % of the run on."""
    stall = {"delay_s": 0.005, "stall_at_s": args.seconds * 0.4, "stall_s": 1.0}
    with LatencyServer(**stall) as srv:
        rate = args.rate if model == "open" else 0.0
        return figures(vigil(srv.url(), model, args.connections, args.seconds, rate))


# --- rounds -------------------------------------------------------------------------------


def one_round(i: int, args: argparse.Namespace, nginx_url: str, slow_url: str) -> dict[str, Any]:
    c, s = args.connections, args.seconds
    row: dict[str, Any] = {}
    order = ["vigil", "wrk1", "wrk2"] if i % 2 == 0 else ["wrk2", "wrk1", "vigil"]
    for who in order:
        if who == "vigil":
            row["nginx_vigil"] = figures(vigil(nginx_url, "closed", c, s))
        else:
            row[f"nginx_{who}"] = wrk(nginx_url, int(who[-1]), c, s)
    for who in ["vigil", "wrk"] if i % 2 == 0 else ["wrk", "vigil"]:
        if who == "vigil":
            row["slow_vigil"] = figures(vigil(slow_url, "closed", c, s))
        else:
            row["slow_wrk"] = wrk(slow_url, 1, c, s)
    for model in ["open", "closed"] if i % 2 == 0 else ["closed", "open"]:
        row[f"stall_{model}"] = stall_run(model, args)

    best_wrk = max(row["nginx_wrk1"]["rps"], row["nginx_wrk2"]["rps"])
    row["throughput_ratio"] = row["nginx_vigil"]["rps"] / best_wrk
    print(
        f"round {i + 1}: nginx c={c}: vigil {row['nginx_vigil']['rps']:8.0f} req/s, "
        f"wrk -t1 {row['nginx_wrk1']['rps']:8.0f}, wrk -t2 {row['nginx_wrk2']['rps']:8.0f}"
        f"  ratio {row['throughput_ratio']:.2f}"
    )
    sv, sw = row["slow_vigil"], row["slow_wrk"]
    print(
        f"         50 ms endpoint c={c}: vigil p50 {sv['p50']:.2f} ms p99 {sv['p99']:.2f} ms "
        f"({sv['errors']:g} errors); wrk p50 {sw.get('p50', 0):.2f} ms "
        f"p99 {sw.get('p99', 0):.2f} ms ({sw['errors']:g} errors)"
    )
    print(
        f"         1 s stall: vigil open loop ({args.rate:g} req/s) p99 "
        f"{row['stall_open']['p99']:.1f} ms; closed loop p99 {row['stall_closed']['p99']:.1f} ms"
    )
    return row


def median(rows: list[dict[str, Any]], key: str, field: str | None = None) -> float:
    values = [r[key][field] if field else r[key] for r in rows]
    return float(statistics.median(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of every run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rate", type=float, default=200.0, help="open-loop requests/s")
    args = parser.parse_args()

    ensure_package(WRK, "wrk")
    ensure_package(NGINX, "nginx-light")
    with nginx() as nginx_url, LatencyServer(delay_s=0.05) as slow:
        vigil(nginx_url, "closed", args.connections, 1.0)  # warm up: imports, sockets, caches
        rows = [one_round(i, args, nginx_url, slow.url()) for i in range(args.rounds)]

    def ratio(a: float, b: float) -> float | None:
        return round(a / b, 3) if b else None

    nginx_vigil = median(rows, "nginx_vigil", "rps")
    nginx_wrk = statistics.median(max(r["nginx_wrk1"]["rps"], r["nginx_wrk2"]["rps"]) for r in rows)
    throughput = median(rows, "throughput_ratio")
    slow_p50, slow_p99 = median(rows, "slow_vigil", "p50"), median(rows, "slow_vigil", "p99")
    wrk_p50, wrk_p99 = median(rows, "slow_wrk", "p50"), median(rows, "slow_wrk", "p99")
    open_p99, closed_p99 = median(rows, "stall_open", "p99"), median(rows, "stall_closed", "p99")
    print(
        f"median of {args.rounds} rounds of {args.seconds:g} s, c={args.connections}, "
        f"{os.cpu_count()} CPUs: throughput {nginx_vigil:.0f} vs wrk {nginx_wrk:.0f} req/s "
        f"= {throughput:.2f}x (target 0.7, stretch 0.8); 50 ms endpoint p50 "
        f"{slow_p50:.2f}/{wrk_p50:.2f} ms, p99 {slow_p99:.2f}/{wrk_p99:.2f} ms (vigil/wrk); "
        f"stall p99 open {open_p99:.0f} ms vs closed {closed_p99:.1f} ms"
    )
    rounded = [
        {
            k: {n: round(v, 3) for n, v in f.items()} if isinstance(f, dict) else round(f, 3)
            for k, f in r.items()
        }
        for r in rows
    ]
    print(
        json.dumps(
            {
                "name": f"probe_vs_wrk_c{args.connections}",
                "rounds": args.rounds,
                "seconds": args.seconds,
                "connections": args.connections,
                "throughput_rps": round(nginx_vigil, 1),
                "wrk_best_rps": round(nginx_wrk, 1),
                "ratio_to_wrk": round(throughput, 3),
                "latency_50ms_p50_ms": slow_p50,
                "latency_50ms_p99_ms": slow_p99,
                "wrk_50ms_p50_ms": wrk_p50,
                "wrk_50ms_p99_ms": wrk_p99,
                "p50_ratio_to_wrk": ratio(slow_p50, wrk_p50),
                "p99_ratio_to_wrk": ratio(slow_p99, wrk_p99),
                "errors_vigil": sum(
                    r["slow_vigil"]["errors"] + r["nginx_vigil"]["errors"] for r in rows
                ),
                "errors_wrk": sum(
                    r["slow_wrk"]["errors"] + r["nginx_wrk1"]["errors"] + r["nginx_wrk2"]["errors"]
                    for r in rows
                ),
                "open_rate": args.rate,
                "stall_open_p99_ms": open_p99,
                "stall_closed_p99_ms": closed_p99,
                "stall_open_to_closed_p99": ratio(open_p99, closed_p99),
                "runs": rounded,
            }
        )
    )


if __name__ == "__main__":
    main()
