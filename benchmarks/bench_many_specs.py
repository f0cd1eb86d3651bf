"""Many environments: how Vigil's DAG files grow with 1, 10, 50 and 200 specs of 100 checks.

For each count of generated specs (a realistic mix: http/tcp/postgres health checks, Great
Expectations suites, journeys and probes, pointing at loopback addresses nobody answers;
parsing never contacts them), and for each layout of the DAG files:

- `single`: one `vigil_dags.py` for every spec, the layout before this benchmark (and the
  repo's `vigil_broken_specs.py` without its cache of built specs);
- `shards`: the repo's `dags/` as it is (the good specs spread over 16 `vigil_dags*.py` by
  a hash of the spec's file name; the broken-specs file skips the specs a good-DAGs file
  has built in that exact text, and checks the others within a time budget),

it measures:

1. parse: each DAG file imported in a fresh interpreter (DagBag, as the dag-processor's
   child does), in seconds: what `[core] dagbag_import_timeout` (30 s) bounds;
2. Airflow's own record of each file's processing (import + serialisation: what
   `[dag_processor] dag_file_processor_timeout` (50 s) bounds), from the dag-processor's
   "DAG File Processing Stats" table, and the time from its start until every DAG is in
   `serialized_dag` (a real `airflow dag-processor` on a throwaway PostgreSQL);
3. the scheduler's loop time with every DAG unpaused (its own "Ran scheduling loop in
   N ms" debug line), median and p95 over a bounded window, with the dag-processor
   stopped so that the two do not share the CPU.

The reference, measured in the same run, is the 1-spec cost x N: a per-spec cost that
stays flat means linear growth. At the largest count it also proves, against the real
dag-processor, that one broken spec among N is an import error naming its file and line
while the other N-1 keep their DAGs.

Run: .venv/bin/python benchmarks/bench_many_specs.py [--counts 1,10,50,200] [--quick]
(prints a table on stderr; the last line of stdout is one JSON object)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2

from vigil.stack import procs
from vigil.stack.airflow import airflow_bin, airflow_env
from vigil.stack.postgres import LocalPostgres, free_port
from vigil.stack.state import Ports, StackPaths

REPO = Path(__file__).resolve().parents[1]

CADENCES = 3  # daily, weekly, monthly: DAGs per spec
BROKEN_LINE = 3  # where `broken_spec` puts its misspelt key


# --- generated specs -------------------------------------------------------------------


def spec_text(n: int) -> str:
    """100 checks: 64 health (2 postgres, 2 tcp, 60 http over 6 services), 30 quality (14
    suites and a schema snapshot per database), 4 journeys and 2 probes; 20 tasks a DAG."""
    env = f"env{n:03d}"
    lines = [f"environment: {env}", f"description: Generated environment {n}.", "timezone: UTC"]
    lines += ["tags: [bench]", *_targets(n), "checks:", *_health(), *_quality(env)]
    lines += [*_scenarios(), *_probes()]
    lines += ["schedules:", "  daily: {cron: 0 6 * * *}", "  weekly: {cron: 0 7 * * 1}"]
    lines += ["  monthly: {cron: 0 8 1 * *}"]
    return "\n".join(lines) + "\n"


def _targets(n: int) -> list[str]:
    lines = ["targets:"]
    for d in range(2):
        lines += [f"  db-{d}:", "    kind: postgres", f"    conn_id: env{n:03d}_db_{d}"]
        lines += ["    allow_load: true"]
    for t in range(2):
        lines += [f"  port-{t}:", "    kind: tcp", f"    address: 127.0.0.{2 + t}:{5432 + n}"]
    for a in range(6):
        lines += [f"  api-{a}:", "    kind: http", f"    base_url: http://127.0.0.{10 + a}:9"]
        lines += ["    depends_on: [db-0]", "    allow_load: true", "    allow_writes: true"]
    return lines


def _health() -> list[str]:
    lines = ["  health:"]
    for d in range(2):
        lines += [f"    - {{id: db-{d}-up, kind: postgres, target: db-{d}}}"]
    for t in range(2):
        lines += [f"    - {{id: port-{t}-open, kind: tcp, target: port-{t}, timeout_s: 3}}"]
    for a in range(6):
        for c in range(10):
            lines += [f"    - id: api-{a}-check-{c}", "      kind: http", f"      target: api-{a}"]
            lines += [f"      path: /v1/resource/{c}", "      latency_budget_ms: 500"]
            lines += ["      conditions:", '        - status == "ok"']
    return lines


def _quality(env: str) -> list[str]:
    lines = ["  quality:"]
    for d in range(2):
        for q in range(14):
            lines += [f"    - id: db-{d}-table-{q}", "      kind: suite", f"      target: db-{d}"]
            lines += [f"      suite: {env}/table_{q}.json", f"      table: table_{q}"]
        lines += [f"    - id: db-{d}-schema", "      kind: schema_drift", f"      target: db-{d}"]
        lines += [f"      snapshot: {env}/schema_{d}.yaml", "      schemas: [public]"]
    return lines


def _scenarios() -> list[str]:
    lines = ["  scenarios:"]
    for s in range(4):
        lines += [f"    - id: journey-{s}", "      kind: journey", f"      target: api-{s}"]
        lines += ["      timeout_s: 30", "      steps:", "        - name: create"]
        lines += ["          http: {method: POST, path: /v1/orders, body: {customer_id: 1}}"]
        lines += ["          expect: {status: [201]}", "          capture: {order_id: $.id}"]
        lines += ["        - name: read", '          http: {path: "/v1/orders/{{order_id}}"}']
        lines += ["          expect: {conditions: ['id == {{order_id}}']}"]
    return lines


def _probes() -> list[str]:
    lines = ["  probes:", "    - id: api-0-load", "      kind: http_load", "      target: api-0"]
    lines += ["      request: {path: /v1/orders}"]
    lines += ["      load: {model: closed, connections: 2, duration_s: 2}"]
    lines += ["      thresholds: [p95 < 250ms]"]
    lines += ["    - id: db-0-history", "      kind: pg_query", "      target: db-0"]
    lines += ["      query: SELECT 1", "      load: {concurrency: 2, iterations: 50}"]
    lines += ["      thresholds: [p95 < 50ms]"]
    return lines


def write_specs(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        (folder / f"env{n:03d}.yaml").write_text(spec_text(n))


def broken_spec(text: str) -> str:
    """The same spec with a misspelt key on line BROKEN_LINE: the whole spec is refused."""
    lines = text.splitlines()
    lines.insert(BROKEN_LINE - 1, "timezon: UTC")
    return "\n".join(lines) + "\n"


# --- DAG folder layouts ----------------------------------------------------------------


def write_dags(folder: Path, design: str) -> list[str]:
    """The DAG files of a layout: `shards` is the repo's dags/ as it is; `single` is its
    first file alone, which then builds every spec (vigil.airflow.factory)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = sorted(p.name for p in (REPO / "dags").glob("vigil_dags*.py"))
    if design == "single":
        names = names[:1]
    for name in [*names, "vigil_broken_specs.py"]:
        shutil.copy(REPO / "dags" / name, folder / name)
    return sorted(p.name for p in folder.glob("*.py"))


# --- 1. parse in a fresh interpreter ----------------------------------------------------

# Broken-specs file first (its cost before any DAG file has built a spec: the worst case),
# then the good DAGs' files, then the broken-specs file again (its steady state).
PARSE_PROBE = """
import json, sys, time
from pathlib import Path
from airflow.dag_processing.dagbag import DagBag
import airflow.sdk, airflow.providers.standard.operators.python
start = time.perf_counter()
import vigil.airflow.factory
out = {"vigil_import_s": time.perf_counter() - start, "files": []}
folder = Path(sys.argv[1])
good = sorted(p.name for p in folder.glob("vigil_dags*.py"))
for name in ["vigil_broken_specs.py", *good, "vigil_broken_specs.py"]:
    start = time.perf_counter()
    bag = DagBag(dag_folder=str(folder / name))
    out["files"].append({"file": name, "s": time.perf_counter() - start,
                         "dags": len(bag.dag_ids), "errors": len(bag.import_errors)})
print(json.dumps(out))
"""


def parse_probe(dags: Path, env: dict[str, str], timeout: float) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", PARSE_PROBE, str(dags)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"parse probe failed:\n{result.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


# --- 2. the dag-processor ---------------------------------------------------------------


STATS_ROW = re.compile(
    r"^\s*dags-folder\s+(?P<file>\S+\.py)\s.*?(?P<last>\d+\.\d+)s\s+\d{4}-\d\d-\d\dT\S+\s*$"
)
KILLED = re.compile(r"Processor for .*?(?P<file>[\w.]+\.py)\W.*?Killing it")


def processing_stats(log: Path) -> dict[str, float]:
    """File → its last processing duration (s), from the newest stats table in the log."""
    text = log.read_text(errors="replace")
    table = text.rsplit("DAG File Processing Stats", 1)
    if len(table) < 2:
        return {}
    found = {}
    for line in table[1].splitlines()[:200]:
        match = STATS_ROW.match(line)
        if match:
            found[Path(match["file"]).name] = float(match["last"])
    return found


def killed_files(log: Path) -> list[str]:
    return sorted({m["file"] for m in KILLED.finditer(log.read_text(errors="replace"))})


@dataclass
class Db:
    dsn: str

    def one(self, sql: str, *args: Any) -> Any:
        conn = psycopg2.connect(self.dsn, connect_timeout=5)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                row = cur.fetchone()
                return row[0] if row else None
        finally:
            conn.close()

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        conn = psycopg2.connect(self.dsn, connect_timeout=5)
        conn.autocommit = True  # CREATE DATABASE refuses a transaction
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return list(cur.fetchall()) if cur.description else []
        finally:
            conn.close()


def wait_for(what: str, check: Callable[[], bool], timeout: float, poll: float = 1.0) -> float:
    """Seconds until `check()` holds; raises TimeoutError after `timeout` s."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(poll)
    raise TimeoutError(f"{what}: not after {timeout:.0f} s")


# --- 3. the scheduler -------------------------------------------------------------------

LOOP = re.compile(r"Ran scheduling loop in (\d+(?:\.\d+)?) ms")


def loop_times(log: Path) -> list[float]:
    return [float(m) for m in LOOP.findall(log.read_text(errors="replace"))]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# --- one run: a layout and a count ------------------------------------------------------


@dataclass
class Run:
    design: str
    count: int
    parse: dict[str, Any] = field(default_factory=dict)
    processor: dict[str, float] = field(default_factory=dict)
    killed: list[str] = field(default_factory=list)
    serialised_s: float | None = None
    serialised: int = 0
    loop_ms: list[float] = field(default_factory=list)
    loop_dags: int = 0
    broken: dict[str, Any] = field(default_factory=dict)

    @property
    def worst_parse_s(self) -> float:
        return float(max((f["s"] for f in self.parse.get("files", [])), default=0.0))

    @property
    def total_parse_s(self) -> float:
        """A parse cycle: every file once (the broken-specs file in its steady state), each
        in a process of its own that imports Vigil's code again."""
        files = self.parse.get("files", [])[1:]
        vigil_import = float(self.parse.get("vigil_import_s", 0.0))
        return float(sum(f["s"] + vigil_import for f in files))


class Bench:
    def __init__(self, root: Path, pg: LocalPostgres, args: argparse.Namespace) -> None:
        self.root, self.pg, self.args = root, pg, args
        self.template = "airflow_template"

    def migrate_template(self) -> None:
        """`airflow db migrate` once; every run copies it (CREATE DATABASE ... TEMPLATE)."""
        self.pg.create_database(self.template)
        env = self.env(self.root / "template", self.template, self.root / "specs-none", "x")
        started = time.monotonic()
        result = subprocess.run(
            [airflow_bin(), "db", "migrate"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{result.stdout[-3000:]}")
        log(f"migrated the template metadata database in {time.monotonic() - started:.0f} s")

    def env(self, state: Path, database: str, specs: Path, dags: str) -> dict[str, str]:
        paths = StackPaths(repo=REPO, state=state, specs_dir=specs)
        paths.make_dirs()
        ports = Ports(
            api=free_port(), pg=self.pg.port, worker_log=free_port(), trigger_log=free_port()
        )
        env = {**os.environ, **airflow_env(paths, ports)}
        plugins = state / "plugins"
        plugins.mkdir(exist_ok=True)
        env.update(
            {
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": (
                    f"postgresql+psycopg2://postgres@127.0.0.1:{self.pg.port}/{database}"
                ),
                "AIRFLOW__CORE__DAGS_FOLDER": dags,
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
                "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "5",
            }
        )
        return env

    def run(self, design: str, count: int, specs: Path, prove_broken: bool) -> Run:
        run = Run(design, count)
        name = f"{design}_{count}"
        state = self.root / name
        dags = state / "dags"
        write_dags(dags, design)
        database = f"af_{name}"
        Db(self.pg.dsn()).rows(f'CREATE DATABASE "{database}" TEMPLATE {self.template}')
        db = Db(self.pg.dsn(database))
        env = self.env(state, database, specs, str(dags))
        if design == "single":
            # The layout before: nothing remembers which specs were built, so the
            # broken-specs file builds every spec again (an unwritable cache folder).
            env["VIGIL_STATE_DIR"] = "/dev/null/no-cache"
        log(f"[{name}] parse probe (fresh interpreter)")
        run.parse = parse_probe(dags, env, timeout=self.args.parse_timeout)
        # The probe's builds would warm the next step's cache: start it cold.
        shutil.rmtree(state / "built-specs", ignore_errors=True)
        paths = StackPaths(repo=REPO, state=state, specs_dir=specs)
        expected = CADENCES * count
        try:
            self.serialise(run, paths, env, db, expected)
            if prove_broken and run.serialised == expected:
                self.prove_broken(run, paths, db, specs)
        finally:
            procs.stop(paths, ["dag-processor"], timeout=20)
        if design == self.args.scheduler_design:
            self.scheduler(run, paths, env, db)
        return run

    def serialise(
        self, run: Run, paths: StackPaths, env: dict[str, str], db: Db, expected: int
    ) -> None:
        log_file = paths.log("dag-processor")
        good = {p.name for p in Path(env["AIRFLOW__CORE__DAGS_FOLDER"]).glob("vigil_dags*.py")}
        procs.start(paths, "dag-processor", [airflow_bin(), "dag-processor"], env, paths.state)
        started = time.monotonic()

        def done() -> bool:
            run.serialised = int(db.one("SELECT count(*) FROM serialized_dag") or 0)
            # A good-DAGs file that times out while importing is an import error of its own.
            timed_out = db.rows(
                "SELECT filename FROM import_error WHERE filename LIKE %s", "%vigil_dags%"
            )
            run.killed = killed_files(log_file) + [f"{Path(f).name} (import)" for (f,) in timed_out]
            if not procs.running(paths, "dag-processor"):
                raise RuntimeError(f"the dag-processor exited; see {log_file}")
            # A file killed for its time is retried later and killed again: once every
            # good-DAGs file has been, there is no point waiting.
            lost = {name.split(" ")[0] for name in run.killed}
            return run.serialised >= expected or good <= lost

        limit = self.args.serialise_base_s + self.args.serialise_per_spec_s * run.count
        with suppress(TimeoutError):
            wait_for("every DAG serialised", done, limit)
        if run.serialised >= expected:
            run.serialised_s = time.monotonic() - started
        # Every file's processing time, once the stats table has a row for each file.
        files = {p.name for p in Path(env["AIRFLOW__CORE__DAGS_FOLDER"]).glob("*.py")}
        with suppress(TimeoutError):
            wait_for(
                "stats for every DAG file",
                lambda: files <= set(processing_stats(log_file)),
                60,
            )
        run.processor = processing_stats(log_file)
        run.killed = sorted(set(run.killed) | set(killed_files(log_file)))
        log(
            f"[{run.design}_{run.count}] serialised {run.serialised}/{expected} DAGs"
            + (f" in {run.serialised_s:.1f} s" if run.serialised_s else "")
            + (f"; killed for time: {run.killed}" if run.killed else "")
        )

    def prove_broken(self, run: Run, paths: StackPaths, db: Db, specs: Path) -> None:
        """One spec broken among `count`: the import error names its file and line, and the
        others keep their DAGs (not stale) after their files have been parsed again."""
        victim = specs / f"env{run.count // 2:03d}.yaml"
        original = victim.read_text()
        victim.write_text(broken_spec(original))
        env = f"env{run.count // 2:03d}"
        started = time.monotonic()

        def error() -> list[tuple[Any, ...]]:
            return db.rows("SELECT filename, stacktrace FROM import_error")

        try:
            wait_for(
                "the broken spec's import error",
                lambda: any(f"{victim.name}:{BROKEN_LINE}" in str(e[1]) for e in error()),
                self.args.broken_timeout_s,
            )
            # Its DAGs go stale once its shard's file is parsed again; the others stay.
            wait_for(
                "the broken spec's DAGs stale",
                lambda: (
                    not db.one(
                        "SELECT count(*) FROM dag WHERE dag_id LIKE %s AND NOT is_stale", env + "_%"
                    )
                ),
                self.args.broken_timeout_s,
            )
            rows = error()
            active = int(db.one("SELECT count(*) FROM dag WHERE NOT is_stale") or 0)
            run.broken = {
                "spec": victim.name,
                "seconds": round(time.monotonic() - started, 1),
                "import_errors": [
                    {"file": Path(str(f)).name, "names_line": f"{victim.name}:{BROKEN_LINE}:"}
                    for f, text in rows
                    if f"{victim.name}:{BROKEN_LINE}:" in str(text)
                ],
                "import_error_files": sorted(Path(str(f)).name for f, _ in rows),
                "active_dags": active,
                "expected_active": CADENCES * (run.count - 1),
                "excerpt": next(
                    (str(t)[-400:] for _, t in rows if victim.name in str(t)), ""
                ).strip(),
            }
        except TimeoutError as exc:
            run.broken = {"spec": victim.name, "failed": str(exc)}
        finally:
            victim.write_text(original)
        log(f"[{run.design}_{run.count}] broken spec: {json.dumps(run.broken)[:600]}")

    def scheduler(self, run: Run, paths: StackPaths, env: dict[str, str], db: Db) -> None:
        run.loop_dags = int(
            db.one("SELECT count(*) FROM dag WHERE NOT is_stale AND NOT is_paused") or 0
        )
        env = {
            **env,
            # The loop's duration is a debug line (its statsd timer needs a statsd client).
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "DEBUG",
        }
        log_file = paths.log("scheduler")
        procs.start(paths, "scheduler", [airflow_bin(), "scheduler"], env, paths.state)
        try:
            wait_for("the scheduler's first loop", lambda: bool(loop_times(log_file)), 180)
            skip = len(loop_times(log_file))  # start-up loops are not the steady state
            time.sleep(self.args.scheduler_s)
            run.loop_ms = loop_times(log_file)[skip:]
        except TimeoutError as exc:
            log(f"[{run.design}_{run.count}] {exc}")
        finally:
            procs.stop(paths, ["scheduler"], timeout=30)
        if run.loop_ms:
            log(
                f"[{run.design}_{run.count}] scheduler: {len(run.loop_ms)} loops over "
                f"{run.loop_dags} unpaused DAGs, median {statistics.median(run.loop_ms):.1f} ms"
            )


# --- report -----------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def summary(run: Run, base: Run | None) -> dict[str, Any]:
    processing = max(run.processor.values(), default=None)
    out: dict[str, Any] = {
        "design": run.design,
        "specs": run.count,
        "dags_expected": CADENCES * run.count,
        "worst_file_parse_s": round(run.worst_parse_s, 2),
        "parse_cycle_s": round(run.total_parse_s, 2),
        "parse_files": {f["file"]: round(f["s"], 2) for f in run.parse.get("files", [])[:-1]},
        "broken_specs_file_warm_s": round(run.parse["files"][-1]["s"], 2),
        "worst_file_processing_s": processing,
        "dags_serialised": run.serialised,
        "serialised_s": None if run.serialised_s is None else round(run.serialised_s, 1),
        "killed_for_time": run.killed,
    }
    if run.loop_ms:
        out.update(
            loop_ms_median=round(statistics.median(run.loop_ms), 1),
            loop_ms_p95=round(percentile(run.loop_ms, 0.95), 1),
            loops=len(run.loop_ms),
            loop_dags=run.loop_dags,
        )
    if base is not None and base.count:
        # Per spec, as a multiple of the 1-spec cost: 1.0 is linear, below 1 better.
        out["parse_per_spec_vs_1"] = round(
            (run.total_parse_s / run.count) / (base.total_parse_s / base.count), 2
        )
        if run.serialised_s and base.serialised_s:
            out["serialise_per_spec_vs_1"] = round(
                (run.serialised_s / run.count) / (base.serialised_s / base.count), 2
            )
    if run.broken:
        out["broken_spec"] = run.broken
    return out


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'layout':7} {'specs':>5} {'DAGs':>5} {'parse cycle s':>13} {'worst file s':>12} "
        f"{'processing s':>12} {'serialised s':>12} {'loop ms med/p95':>16} "
        f"{'parse/spec':>10} {'ser./spec':>9}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        loop = f"{r['loop_ms_median']:.0f}/{r['loop_ms_p95']:.0f}" if "loop_ms_median" in r else "-"
        serialised = (
            f"{r['serialised_s']:.1f}"
            if r["serialised_s"] is not None
            else f"{r['dags_serialised']}/{r['dags_expected']}!"
        )
        processing = r["worst_file_processing_s"]
        lines.append(
            f"{r['design']:7} {r['specs']:>5} {r['dags_expected']:>5} "
            f"{r['parse_cycle_s']:>13.2f} {r['worst_file_parse_s']:>12.2f} "
            f"{'killed' if r['killed_for_time'] else processing or '-':>12} {serialised:>12} "
            f"{loop:>16} {r.get('parse_per_spec_vs_1', 1.0):>10} "
            f"{r.get('serialise_per_spec_vs_1', '-'):>9}"
        )
    return "\n".join(lines)


@contextmanager
def postgres(root: Path) -> Iterator[LocalPostgres]:
    server = LocalPostgres(root / "pg", free_port()).start()
    try:
        yield server
    finally:
        server.stop()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", default="1,10,50,200", help="spec counts, comma-separated")
    parser.add_argument("--designs", default="single,shards", help="DAG file layouts to measure")
    parser.add_argument("--quick", action="store_true", help="counts 1,10; short windows")
    parser.add_argument("--scheduler-s", type=float, default=60.0, help="loop-time window")
    parser.add_argument("--scheduler-design", default="shards", help="layout to run it on")
    parser.add_argument("--no-broken", action="store_true", help="skip the broken-spec proof")
    parser.add_argument("--serialise-base-s", type=float, default=120.0)
    parser.add_argument("--serialise-per-spec-s", type=float, default=1.5)
    parser.add_argument("--broken-timeout-s", type=float, default=420.0)
    parser.add_argument("--parse-timeout", type=float, default=900.0)
    args = parser.parse_args()
    if args.quick:
        args.counts, args.scheduler_s = "1,10", min(args.scheduler_s, 20.0)
    return args


def main() -> None:
    args = parse_args()
    counts = sorted({int(c) for c in args.counts.split(",")})
    designs = [d for d in args.designs.split(",") if d]
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="vigil-bench-many-") as tmp, postgres(Path(tmp)) as pg:
        bench = Bench(Path(tmp), pg, args)
        bench.migrate_template()
        base: dict[str, Run] = {}
        for count in counts:
            specs = Path(tmp) / f"specs-{count}"
            write_specs(specs, count)
            for design in designs:
                prove = not args.no_broken and count == counts[-1] and design == "shards"
                run = bench.run(design, count, specs, prove)
                base.setdefault(design, run)
                results.append(summary(run, base[design]))
                log(json.dumps(results[-1]))
    print(table(results), file=sys.stderr)
    print(
        json.dumps(
            {
                "name": "many_specs",
                "reference": "the 1-spec cost x N (per-spec ratios: 1.0 linear, < 1 better)",
                "checks_per_spec": 100,
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
