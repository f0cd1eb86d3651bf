"""1,000 creates at concurrency 50 through a journey's `parallel` step, against a local
server in another process.

The reference, measured in the same run against the same server, round by round, is a
minimal asyncio client: 50 keep-alive connections opened with asyncio streams, each POST
written by hand and its answer read by Content-Length and parsed as JSON. Vigil's run is
a whole journey: templating per copy, the request built from the spec, the status,
a condition and a JSONPath capture judged per copy, the distinct-ids rule over the 1,000
copies, the trace; both include opening their connections. Goal: Vigil <= 1.3x.

    .venv/bin/python benchmarks/bench_scenarios.py [--copies 1000] [--concurrency 50]
        [--rounds 5] [--delay-ms 0]

The last line of output is one JSON object for machines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.support (vigil comes from the venv)

from tests.support.child_server import child_server  # noqa: E402 (after the path setup)
from vigil.context import RunContext  # noqa: E402
from vigil.result import Status  # noqa: E402
from vigil.scenarios.engine import run_journey  # noqa: E402
from vigil.scenarios.models import JourneyCheck  # noqa: E402
from vigil.spec.models import Checks, HttpTarget, Spec  # noqa: E402

SERVER_START_TIMEOUT_S = 20.0
BODY = {"customer_id": 1, "items": [{"sku": "SKU-0001", "quantity": 1}]}

# An orders endpoint: every create gets the next id and answers 201 with the order, after
# `delay` seconds (a database insert's time; 0 answers at once). aiohttp, as the demo's.
SERVER = """
import asyncio, itertools, sys
from aiohttp import web
ids = itertools.count(1)
delay = float(sys.argv[1])
async def create(request):
    body = await request.json()
    if delay:
        await asyncio.sleep(delay)
    return web.json_response({"id": next(ids), "status": "reserved", **body}, status=201)
async def main():
    app = web.Application()
    app.router.add_post("/v1/orders", create)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    print("PORT", site._server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
asyncio.run(main())
"""


def server_process(delay_s: float) -> AbstractContextManager[int]:
    """The server in its own process, so it does not share our GIL; it stops when its
    stdin closes."""
    argv = [sys.executable, "-c", SERVER, str(delay_s)]
    return child_server(argv, start_timeout_s=SERVER_START_TIMEOUT_S)


async def _reference(port: int, copies: int, concurrency: int) -> float:
    """The minimal asyncio client: the same POSTs, the same JSON parsed, nothing judged."""
    payload = json.dumps(BODY).encode()
    head = (
        b"POST /v1/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(payload)
    )
    started = time.perf_counter()
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(concurrency):
        idle.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    ids: list[int] = []

    async def one() -> None:
        reader, writer = await idle.get()
        writer.write(head + payload)
        await writer.drain()
        status = await reader.readline()
        length = 0
        while (line := await reader.readline()) != b"\r\n":
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        ids.append(json.loads(await reader.readexactly(length))["id"])
        if b" 201 " not in status:
            raise RuntimeError(f"reference got {status!r}")
        idle.put_nowait((reader, writer))

    await asyncio.gather(*(one() for _ in range(copies)))
    elapsed = time.perf_counter() - started
    while not idle.empty():
        idle.get_nowait()[1].close()
    if len(set(ids)) != copies:
        raise RuntimeError("reference: ids not distinct")
    return elapsed


def reference(port: int, copies: int, concurrency: int) -> float:
    return asyncio.run(_reference(port, copies, concurrency))


def journey(port: int, copies: int, concurrency: int) -> tuple[JourneyCheck, Spec]:
    check = JourneyCheck.model_validate(
        {
            "kind": "journey",
            "id": "bench-creates",
            "target": "api",
            "timeout_s": 600,
            "steps": [
                {
                    "name": "burst",
                    "timeout_s": 600,
                    "parallel": {
                        "copies": copies,
                        "concurrency": concurrency,
                        "expect": {"distinct": ["order_id"]},
                        "steps": [
                            {
                                "name": "create",
                                "http": {
                                    "method": "POST",
                                    "path": "/v1/orders",
                                    "headers": {"Idempotency-Key": "{{run.marker}}-{{copy}}"},
                                    "body": BODY,
                                },
                                "expect": {"status": [201], "conditions": ['status == "reserved"']},
                                "capture": {"order_id": "$.id"},
                            }
                        ],
                    },
                }
            ],
        }
    )
    target = HttpTarget(kind="http", base_url=f"http://127.0.0.1:{port}", allow_writes=True)
    return check, Spec(
        environment="bench", targets={"api": target}, checks=Checks(scenarios=[check])
    )


def vigil(check: JourneyCheck, spec: Spec, run_id: str) -> float:
    started = time.perf_counter()
    [result] = run_journey(check, RunContext(spec, environ={}, run_id=run_id))
    elapsed = time.perf_counter() - started
    if result.status is not Status.PASSED:
        raise RuntimeError(f"the journey did not pass: {result.message}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--delay-ms", type=float, default=0.0, help="server time per create (0: at once)"
    )
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with server_process(args.delay_ms / 1000) as port:
        check, spec = journey(port, args.copies, args.concurrency)
        vigil(check, spec, "warm-up")  # imports, the event loop, the server's first answers
        reference(port, args.copies, args.concurrency)
        for n in range(args.rounds):
            ref = reference(port, args.copies, args.concurrency)
            run = vigil(check, spec, f"round-{n}")
            rows.append({"vigil_s": run, "reference_s": ref, "ratio": run / ref})
            print(
                f"round {n + 1}: vigil {run:.3f} s  reference {ref:.3f} s  ratio {run / ref:.2f}x"
            )
    median = {k: statistics.median(r[k] for r in rows) for k in ("vigil_s", "reference_s", "ratio")}
    print(
        f"{args.copies} creates at concurrency {args.concurrency} through a parallel step: "
        f"median {median['vigil_s']:.3f} s vs {median['reference_s']:.3f} s for a minimal "
        f"asyncio client, {median['ratio']:.2f}x (goal <= 1.3x); {os.cpu_count()} CPUs, "
        f"server in a separate process, server time {args.delay_ms:g} ms"
    )
    print(
        json.dumps(
            {
                "name": f"scenario_parallel_{args.copies}x{args.concurrency}"
                + (f"_delay{args.delay_ms:g}ms" if args.delay_ms else ""),
                "seconds": round(median["vigil_s"], 4),
                "reference_seconds": round(median["reference_s"], 4),
                "ratio_to_reference": round(median["ratio"], 3),
                "rounds": [{k: round(v, 4) for k, v in r.items()} for r in rows],
            }
        )
    )


if __name__ == "__main__":
    main()
