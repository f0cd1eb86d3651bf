"""Vigil on many expectations and on real-world-shaped suites, against stock GX (issue 13 §6).

Three measurements, each against a reference measured in the same run, interleaved round
by round (GX already imported; its import is timed once and reported apart):
- `wide`: one suite of 500 expectations (10 kinds x 50 columns) on a 50-column table of
  1,000 rows, through `vigil.quality.runner.validate_table`, against GX as documented
  (`ValidationDefinition.run`, SUMMARY) on the same suite and table;
- `suites`: three suites of tests/fixtures/gx_suites (a 1.x one, two migrated from 0.x),
  each on a Titanic-shaped table with mixed-case columns, against stock GX the same way;
- `check_spec`: `vigil check-spec`'s lint over the whole fixture set (1.x and 0.x as they
  are, 0.x migrated), against the same lint without asking GX's graph which expectations
  PostgreSQL can run (`vigil.quality.runnable`): what that question costs; and the same
  as `vigil check-spec` in a fresh process, against a process that only imports GX.

Run: .venv/bin/python benchmarks/bench_quality_suites.py [--rounds 3]
Prints one JSON line per measurement last.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg2

from vigil.stack.postgres import LocalPostgres, free_port

ROOT = Path(__file__).resolve().parents[1]
SUITES = ROOT / "tests" / "fixtures" / "gx_suites"
COLUMNS, ROWS = 50, 1000
TITANIC = """
CREATE TABLE "Titanic" ("Unnamed: 0" int PRIMARY KEY, "Name" text, "PClass" text,
                        "Age" numeric, "Sex" text, "Survived" int, "SexCode" int);
INSERT INTO "Titanic"
SELECT g, 'Passenger ' || g, (ARRAY['1st','2nd','3rd'])[g % 3 + 1],
       CASE WHEN g % 4 = 0 THEN NULL ELSE 20 + g % 50 END,
       CASE WHEN g % 2 = 0 THEN 'female' ELSE 'male' END, g % 2, (g + 1) % 2
FROM generate_series(1, 1313) g;
ANALYZE "Titanic";
"""


def wide_table() -> str:
    cols = ", ".join(f"c{i} int, t{i} text" for i in range(COLUMNS // 2))
    values = ", ".join(f"g % {i + 7}, 'v' || (g % {i + 3})" for i in range(COLUMNS // 2))
    return (
        f"CREATE TABLE wide (id int PRIMARY KEY, {cols});\n"
        f"INSERT INTO wide SELECT g, {values} FROM generate_series(1, {ROWS}) g;\nANALYZE wide;"
    )


def wide_suite() -> dict[str, Any]:
    """10 expectations on each of 50 columns (25 int, 25 text): 500 in all."""
    out = []
    for i in range(COLUMNS // 2):
        c, t = f"c{i}", f"t{i}"
        out += [
            ("expect_column_values_to_not_be_null", {"column": c}),
            ("expect_column_values_to_be_between", {"column": c, "min_value": 0}),
            ("expect_column_values_to_be_in_set", {"column": c, "value_set": list(range(40))}),
            ("expect_column_min_to_be_between", {"column": c, "min_value": 0}),
            ("expect_column_max_to_be_between", {"column": c, "max_value": 100}),
            ("expect_column_values_to_not_be_null", {"column": t}),
            ("expect_column_value_lengths_to_be_between", {"column": t, "min_value": 2}),
            ("expect_column_values_to_match_regex", {"column": t, "regex": "^v[0-9]+$"}),
            ("expect_column_values_to_not_be_in_set", {"column": t, "value_set": ["", "x"]}),
            ("expect_column_unique_value_count_to_be_between", {"column": t, "min_value": 1}),
        ]
    return {"name": "wide", "expectations": [{"type": k, "kwargs": kw} for k, kw in out]}


def run_vigil(dsn: str, path: Path, table: str) -> None:
    from vigil.quality.runner import validate_table

    results = validate_table(dsn, path, table, target="bench")
    errors = [r.message for r in results if r.status.value == "error"]
    assert not errors, errors[:3]


def run_stock_gx(dsn: str, path: Path, table: str) -> None:
    from vigil.quality._gx import ephemeral_context, gx
    from vigil.quality.gx_run import exact

    great_expectations = gx()
    ctx = ephemeral_context()
    url = dsn.replace("postgresql://", "postgresql+psycopg2://")
    source = ctx.data_sources.add_postgres(name="s", connection_string=url)
    asset = source.add_table_asset(name="t", table_name=exact(table))
    suite = ctx.suites.add(great_expectations.ExpectationSuite(**json.loads(path.read_text())))
    definition = great_expectations.ValidationDefinition(
        name="v", data=asset.add_batch_definition_whole_table("w"), suite=suite
    )
    definition.run(result_format={"result_format": "SUMMARY", "partial_unexpected_count": 20})


def lint_all(workdir: Path, files: dict[str, str], ask_gx: bool = True) -> None:
    """`vigil check-spec`'s lint of every suite of the set, as a fresh process meets it:
    without the answers of an earlier round (which expectations PostgreSQL can run).
    `ask_gx=False`: the same lint with that question answered "yes" at no cost (the
    reference: what check-spec cost before it asked)."""
    from vigil.quality import runnable

    runnable._MISSING.clear()
    if ask_gx:
        _acceptance().lint(files, workdir)
        return
    asked = runnable._first_missing
    runnable._first_missing = lambda kind, kwargs: None
    try:
        _acceptance().lint(files, workdir)
    finally:
        runnable._first_missing = asked


@functools.cache
def _acceptance() -> Any:
    """tests/fixtures/gx_suites/acceptance.py, which lints the set as check-spec does."""
    spec = importlib.util.spec_from_file_location("gx_suites_acceptance", SUITES / "acceptance.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fixture_set() -> tuple[dict[str, str], list[tuple[str, dict[str, Any]]]]:
    """The set as check-spec meets it (1.x as they are, 0.x as is and migrated), and every
    expectation in it."""
    acceptance = _acceptance()
    files = {str(p.relative_to(SUITES)): p.read_text() for p in acceptance.suites()}
    migrated = acceptance.migrated([p for p in acceptance.suites() if p.parent.name == "v0"])
    expectations = []
    for text in [*files.values(), *migrated.values()]:
        for item in json.loads(text)["expectations"]:
            if "type" in item:
                expectations.append((item["type"], item["kwargs"]))
    files.update({f"migrated/{k}": v for k, v in migrated.items()})
    return files, expectations


_IMPORT_GX = "from vigil.quality._gx import gx; gx()"


def fresh_process(args: list[str], folder: Path) -> None:
    """`vigil check-spec` as a person runs it (the reference: a process that only imports
    GX, which check-spec must do to build the expectations)."""
    env = {**os.environ, "VIGIL_EXPECTATIONS_DIR": str(folder / "expectations")}
    done = subprocess.run(
        [sys.executable, *args], cwd=folder, env=env, capture_output=True, check=False
    )
    assert done.returncode in (0, 1), done.stderr[-500:]  # 1: the set's refused suites


def rounds(n: int, runners: dict[str, Callable[[], Any]]) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(n):
        for name, run in runners.items():
            start = time.perf_counter()
            run()
            samples[name].append(time.perf_counter() - start)
    return samples


def figures(name: str, samples: dict[str, list[float]], **extra: Any) -> dict[str, Any]:
    vigil, ref = statistics.median(samples["vigil"]), statistics.median(samples["reference"])
    out = {
        "name": name,
        **extra,
        "seconds": round(vigil, 3),
        "reference_seconds": round(ref, 3),
        "ratio": round(vigil / ref, 2),
        "samples": {k: [round(x, 3) for x in v] for k, v in samples.items()},
    }
    print(json.dumps(out), file=sys.stderr)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    lines = []
    with tempfile.TemporaryDirectory(prefix="vigil-bench-suites-") as tmp:
        workdir = Path(tmp)
        server = LocalPostgres(workdir / "pg", free_port()).start()
        try:
            server.create_database("bench")
            dsn = server.dsn("bench")
            with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
                cur.execute(wide_table() + TITANIC)
            start = time.perf_counter()
            from vigil.quality._gx import gx

            gx()
            print(f"GX imported in {time.perf_counter() - start:.1f}s", file=sys.stderr)
            lines += measure(dsn, workdir, args.rounds)
        finally:
            server.stop()
    for line in lines:
        print(json.dumps(line))


def measure(dsn: str, workdir: Path, n: int) -> list[dict[str, Any]]:
    from vigil.quality.migrate import migrate_file

    wide = workdir / "wide.json"
    wide.write_text(json.dumps(wide_suite()))
    run_vigil(dsn, wide, "wide")  # first-use costs (registries, caches), uncounted
    samples = rounds(
        n,
        {
            "vigil": lambda: run_vigil(dsn, wide, "wide"),
            "reference": lambda: run_stock_gx(dsn, wide, "wide"),
        },
    )
    lines = [figures("wide_500_expectations", samples, expectations=500, rows=ROWS)]
    for name, suite in (
        ("v1_titanic", json.loads((SUITES / "v1" / "titanic.json").read_text())),
        ("v0_titanic_profiled", migrate_file(SUITES / "v0" / "titanic_profiled.json").suite),
        ("v0_pandas_conditions", migrate_file(SUITES / "v0" / "pandas_conditions.json").suite),
    ):
        path = workdir / f"{name}.json"
        path.write_text(json.dumps(suite))
        samples = rounds(
            n,
            {
                "vigil": functools.partial(run_vigil, dsn, path, "Titanic"),
                "reference": functools.partial(run_stock_gx, dsn, path, "Titanic"),
            },
        )
        lines.append(figures(f"suite_{name}", samples, expectations=len(suite["expectations"])))
    lint_dir = workdir / "lint"
    lint_dir.mkdir()
    files, expectations = fixture_set()
    samples = rounds(
        n,
        {
            "vigil": lambda: lint_all(lint_dir, files),
            "reference": lambda: lint_all(lint_dir, files, ask_gx=False),
        },
    )
    lines.append(
        figures(
            "check_spec_fixture_set", samples, suites=len(files), expectations=len(expectations)
        )
    )
    samples = rounds(
        n,
        {
            "vigil": lambda: fresh_process(
                ["-m", "vigil.cli", "check-spec", "spec.yaml"], lint_dir
            ),
            "reference": lambda: fresh_process(["-c", _IMPORT_GX], lint_dir),
        },
    )
    lines.append(figures("check_spec_fresh_process", samples, suites=len(files)))
    return lines


if __name__ == "__main__":
    main()
