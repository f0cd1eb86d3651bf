"""`vigil run SPEC`: the spec's checks without Airflow, as a deployment pipeline's gate.

    vigil run include/specs/demo.yaml --cadence daily --junit vigil.xml
    vigil run include/specs/demo.yaml --families health --targets orders-api --dry-run

Exit codes: 0 no critical check failed or errored; 1 one did; 2 a bad spec, bad
arguments, a selection that matches no check, or a configured results store that cannot
be reached (nothing ran).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from vigil.spec.models import CADENCES

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_run(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a spec's checks now, without Airflow (exit 1 when a critical one fails)",
        description="Run a spec's checks in this process, through the same pipeline as the "
        "DAG tasks: gating on health, skips with reasons, the same runners and timeouts. "
        "Exit 0 when no critical check failed or errored, 1 when one did, 2 for a bad spec "
        "or bad arguments.",
    )
    parser.add_argument("spec", type=Path, metavar="SPEC", help="the spec file")
    parser.add_argument("--cadence", choices=CADENCES, default="daily")
    for name, what in (
        ("--families", "check families to run (default: the cadence's)"),
        ("--targets", "only these targets"),
        ("--checks", "only these checks, by id"),
    ):
        flags = [name, "--kinds"] if name == "--families" else [name]
        parser.add_argument(*flags, dest=name[2:], nargs="+", metavar="NAME", help=what)
    parser.add_argument("--dry-run", action="store_true", help="record, but notify nobody")
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML here")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the results as JSON")
    parser.add_argument(
        "--report-dir", type=Path, metavar="DIR", help="where the run report goes "
        "(default: $VIGIL_STATE_DIR/reports)",
    )  # fmt: skip
    parser.set_defaults(func=_cmd_run)


def _cmd_run(args: argparse.Namespace) -> int:
    from vigil.spec.errors import SpecError
    from vigil.spec.loader import load_spec

    try:
        spec = load_spec(args.spec)
    except (SpecError, OSError) as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    params: dict[str, Any] = {
        key: value
        for key, value in (
            ("families", args.families),
            ("targets", args.targets),
            ("checks", args.checks),
        )
        if value
    }
    params["dry_run"] = args.dry_run
    return _run(spec, args, params)


def _run(spec: Any, args: argparse.Namespace, params: dict[str, Any]) -> int:
    from vigil.context import ConfigError
    from vigil.result_table import format_table
    from vigil.standalone import MemoryStore, connection_resolver, run_spec

    connection = connection_resolver()
    store, where = _store(spec, connection)
    if not isinstance(store, MemoryStore):
        from vigil.results.models import StoreError

        try:  # the store is configuration: unreachable, nothing runs (exit 2, not 1)
            store.migrate(purpose="before vigil run records in it")
        except StoreError as exc:
            print(f"vigil run: results store unusable, nothing ran: {exc}", file=sys.stderr)
            return EXIT_USAGE
    try:
        done = run_spec(spec, args.cadence, params, store, connection=connection)
    except ValueError as exc:  # unknown families, targets or checks
        print(f"vigil run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as exc:
        print(f"vigil run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(format_table(done.results))
    report = _conclude(spec, store, done, args, connection, isinstance(store, MemoryStore))
    print(f"results: {where}")
    print(f"run report: {report}")
    for path in _outputs(done, args):
        print(f"wrote {path}")
    return int(done.exit_code)


def _store(spec: Any, connection: Any) -> tuple[Any, str]:
    """The results store when the spec's results connection resolves; else memory."""
    from vigil.context import ConfigError
    from vigil.results.store import ResultStore
    from vigil.standalone import MemoryStore

    try:
        info = connection(spec.results_conn_id)
    except ConfigError as exc:
        reason = f"not recorded: no results store ({exc})"
        return MemoryStore(), reason
    store = ResultStore.from_connection(info)
    return store, f"recorded in the results store {store!r} (connection {spec.results_conn_id!r})"


def _conclude(
    spec: Any, store: Any, done: Any, args: argparse.Namespace, connection: Any, memory: bool
) -> Path:
    """Alerts and reports with a store (as the `evaluate` task does); without one, the
    run report alone, from the results in hand (alert rules need the history)."""
    from vigil.conclude import conclude, reports_dir
    from vigil.reports import render
    from vigil.reports.run_report import render_run_report_of, run_report_path

    out_dir = args.report_dir or reports_dir()
    if memory:
        html = render_run_report_of(done.run, done.summary, done.results)
        return render.write(html, run_report_path(out_dir, done.run))
    conclusion = conclude(
        spec, store, done.run, dry_run=args.dry_run, connection=connection, out_dir=out_dir
    )
    print(conclusion.alerts_summary)
    return Path(conclusion.reports["run"])


def _outputs(done: Any, args: argparse.Namespace) -> list[Path]:
    from vigil.junit import write_junit

    written = []
    if args.junit:
        written.append(write_junit(done.results, args.junit, done.run.dag_id))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        rows = [r.to_row() for r in done.results]
        args.json.write_text(json.dumps(rows, indent=2, default=str))
        written.append(args.json)
    return written
