"""The Vigil UI's pages at 1,000,000 stored check results, against their own SQL.

A throwaway LocalPostgres gets a results store seeded by SQL: 10 environments x 100 daily
runs x 1,000 checks (1M check results over 100 days; ~3% failed, ~1% errors). Then, round
by round, each page is requested in-process (FastAPI's TestClient on `create_app`: the
server-side time, no browser) and, as the reference, the exact statements that page sent
(recorded on its first request) are replayed on one psycopg2 connection. The ratio says
what the page costs beyond its SQL; the absolute figures are the issue's budget
(overview and environment <= 300 ms, a check's history <= 100 ms).

Run: .venv/bin/python benchmarks/bench_ui.py [--rounds 5] [--checks 1000] [--runs 100]
Prints one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import psycopg2
from fastapi.testclient import TestClient

from vigil.results.store import ResultStore
from vigil.stack.postgres import LocalPostgres, free_port
from vigil.ui import session
from vigil.ui.app import create_app

ENVIRONMENTS = 10

SEED = """
INSERT INTO vigil.runs (environment, cadence, dag_id, run_id, started_at, ended_at, state,
                        total, passed, failed, error, skipped, critical_problems)
SELECT 'env-' || e, 'daily', 'env-' || e || '_daily', 'scheduled__' || d,
       now() - d * interval '1 day', now() - d * interval '1 day' + interval '2 minutes',
       CASE WHEN d %% 9 = 0 THEN 'failed' ELSE 'success' END,
       %(checks)s, %(checks)s, 0, 0, 0, 0
FROM generate_series(0, %(envs)s - 1) e, generate_series(0, %(runs)s - 1) d;

INSERT INTO vigil.check_results (run, environment, check_id, family, check_kind, target,
                                 status, severity, started_at, duration_ms, message, details)
SELECT r.id, r.environment, 'check-' || lpad(c::text, 4, '0'),
       CASE WHEN c %% 10 < 6 THEN 'health' WHEN c %% 10 < 9 THEN 'quality' ELSE 'probes' END,
       'http', 'target-' || (c %% 20),
       CASE WHEN random() < 0.03 THEN 'failed' WHEN random() < 0.01 THEN 'error'
            ELSE 'passed' END,
       CASE WHEN c %% 4 = 0 THEN 'warning' ELSE 'critical' END,
       r.started_at + (c %% 60) * interval '1 second', 5 + random() * 200,
       'checked', '{}'::jsonb
FROM vigil.runs r, generate_series(0, %(checks)s - 1) c;
"""


def seed(dsn: str, checks: int, runs: int) -> int:
    store = ResultStore(dsn)
    store.migrate(purpose="seed the benchmark")
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(SEED, {"envs": ENVIRONMENTS, "runs": runs, "checks": checks})
        cur.execute("VACUUM ANALYZE vigil.runs")
        cur.execute("VACUUM ANALYZE vigil.check_results")
        cur.execute("SELECT count(*) FROM vigil.check_results")
        row = cur.fetchone()
        count = int(row[0]) if row else 0
    conn.close()
    return count


Recorded = list[tuple[str, Mapping[str, Any]]]


def record_statements(client: TestClient, path: str) -> Recorded:
    """The statements one request of `path` sends, in order."""
    seen: Recorded = []
    original = session.RequestStore._read

    def recording(self: Any, action: str, sql: str, params: Mapping[str, Any]) -> list[Any]:
        seen.append((sql, dict(params)))
        return original(self, action, sql, params)

    session.RequestStore._read = recording  # type: ignore[method-assign]
    try:
        response = client.get(path)
    finally:
        session.RequestStore._read = original  # type: ignore[method-assign]
    if response.status_code != 200:
        raise SystemExit(f"{path} answered {response.status_code}: {response.text[:300]}")
    return seen


def replay(dsn: str, statements: Recorded) -> Callable[[], None]:
    conn = psycopg2.connect(dsn)
    conn.set_session(readonly=True, autocommit=True)

    def run() -> None:
        with conn.cursor() as cur:
            for sql, params in statements:
                cur.execute(sql, params)
                cur.fetchall()

    return run


def timed(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--checks", type=int, default=1000, help="checks per run")
    parser.add_argument("--runs", type=int, default=100, help="daily runs per environment")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="vigil-bench-ui-") as tmp:
        pg = LocalPostgres(Path(tmp) / "pg", free_port())
        pg.start()
        try:
            pg.create_database("results")
            dsn = pg.dsn("results")
            started = time.perf_counter()
            count = seed(dsn, args.checks, args.runs)
            print(f"seeded {count:,} check results in {time.perf_counter() - started:.1f} s")
            figures = measure(dsn, args.rounds)
        finally:
            pg.stop()
    out = {"name": "ui_pages", "check_results": count, "rounds": args.rounds, **figures}
    print(json.dumps(out))
    return 0


PAGES = {
    "overview": "/",
    "environment": "/environments/env-3",
    "check_history": "/environments/env-3/checks/check-0042",
    "api_environments": "/api/environments",
    "api_check_history": "/api/environments/env-3/checks/check-0042",
}


def measure(dsn: str, rounds: int) -> dict[str, Any]:
    app = create_app(lambda: ResultStore(dsn), specs=dict)
    client = TestClient(app)
    statements = {name: record_statements(client, path) for name, path in PAGES.items()}
    references = {name: replay(dsn, found) for name, found in statements.items()}
    samples: dict[str, list[float]] = {name: [] for name in PAGES}
    sql: dict[str, list[float]] = {name: [] for name in PAGES}
    for _ in range(rounds):  # interleaved: the page, then its own SQL, page by page
        for name, path in PAGES.items():
            samples[name].append(timed(lambda: client.get(path)))  # noqa: B023 - called now
            sql[name].append(timed(references[name]))
    out: dict[str, Any] = {}
    for name in PAGES:
        page, raw = statistics.median(samples[name]), statistics.median(sql[name])
        out[f"{name}_ms"] = round(page, 1)
        out[f"{name}_sql_ms"] = round(raw, 1)
        out[f"{name}_ratio"] = round(page / raw, 2) if raw else None
        out[f"{name}_statements"] = len(statements[name])
        print(
            f"{name:<18} page {page:7.1f} ms   its {len(statements[name])} statements "
            f"{raw:7.1f} ms   ratio {page / raw if raw else float('nan'):.2f}"
        )
    return out


if __name__ == "__main__":
    sys.exit(main())
