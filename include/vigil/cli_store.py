"""`vigil results`, `vigil report` and `vigil silence`: the subcommands that work on the
results store.

The store is its connection id (default `vigil_results`), found as the tasks find it
(`vigil.cli_connections`): `AIRFLOW_CONN_<ID>`, else Airflow's own connections (secrets
backends, the metadata database), else the local `make demo` stack's.
"""

from __future__ import annotations

import argparse
import getpass
from typing import Any

from vigil.cli_connections import cli_connection
from vigil.result_table import format_duration
from vigil.spec.models import CADENCES

SubParsers = Any  # argparse's private _SubParsersAction


def _user_errors() -> tuple[type[Exception], ...]:
    from vigil.alerts.silences import SilenceError
    from vigil.context import ConfigError
    from vigil.reports import ReportError
    from vigil.results.models import StoreError

    return (SilenceError, ConfigError, ReportError, StoreError, ValueError)


USER_ERRORS = _user_errors()


def _store(args: argparse.Namespace) -> Any:
    from vigil.results.store import ResultStore

    return ResultStore.from_connection(cli_connection(args.conn_id))


def _add_store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--conn-id",
        default="vigil_results",
        help="Airflow connection id of the results store (default: %(default)s)",
    )


def _current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a uid with no passwd entry and no USER/LOGNAME
        return "unknown"


def add_report(subparsers: SubParsers) -> None:
    parser = subparsers.add_parser(
        "report",
        help="regenerate the HTML report of a run",
        description="Write the run report of RUN_ID again, from the results store, into the "
        "state folder's reports/ (the weekly and monthly reports are written by their runs).",
    )
    parser.add_argument("--run", required=True, metavar="RUN_ID", help="the Airflow run id")
    parser.add_argument("--dag-id", help="when several DAGs have a run with this id")
    _add_store_option(parser)
    parser.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from vigil.conclude import reports_dir
    from vigil.reports import find_runs, write_run_report

    store = _store(args)
    runs = find_runs(store, args.run, args.dag_id)
    if not runs:
        print(f"no run {args.run!r} in the results store {store!r}")
        return 1
    for summary in runs:
        path = write_run_report(store, summary.ref, out_dir=reports_dir())
        print(f"{summary.ref}: {path}")
    return 0


def add_results(subparsers: SubParsers) -> None:
    parser = subparsers.add_parser(
        "results",
        help="print one run's results as the task log shows them",
        description="Print the results of one stored run as the tasks log them: one row per "
        "check, problems first, then the summary line. Exit 1 when no such run is stored.",
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", metavar="RUN_ID", help="the Airflow run id")
    which.add_argument("--latest", metavar="ENV", help="the newest run of environment ENV")
    parser.add_argument("--dag-id", help="with --run: when several DAGs have a run with this id")
    parser.add_argument(
        "--cadence",
        choices=CADENCES,
        help="with --latest: the newest run of this cadence (default: any)",
    )
    _add_store_option(parser)
    parser.set_defaults(func=cmd_results)


# The newest runs --latest looks through for one of the wanted cadence.
LATEST_SCAN = 200


def cmd_results(args: argparse.Namespace) -> int:
    from vigil.reports import find_runs
    from vigil.result_table import format_table

    store = _store(args)
    if args.run is not None:
        runs = find_runs(store, args.run, args.dag_id)
        wanted = f"run {args.run!r}" + (f" of {args.dag_id}" if args.dag_id else "")
    else:
        recent = store.recent_runs(args.latest, limit=LATEST_SCAN)
        runs = [r for r in recent if args.cadence in (None, r.ref.cadence)][:1]
        wanted = f"{args.cadence + ' ' if args.cadence else ''}run of environment {args.latest!r}"
    if not runs:
        print(f"no {wanted} in the results store {store!r}")
        return 1
    for number, summary in enumerate(runs):
        results = store.results_of(summary.ref)
        print(("\n" if number else "") + _heading(summary))
        print(format_table(results) if results else "no results recorded")
    return 0


def _heading(summary: Any) -> str:
    """`Run <run_id> of <dag_id> (demo, daily): success, started 2026-11-30 07:03 UTC`."""
    ref = summary.ref
    started = f"{summary.started_at:%Y-%m-%d %H:%M:%S %Z}".strip()
    took = ""
    if summary.ended_at is not None:
        took = (
            f", {format_duration((summary.ended_at - summary.started_at).total_seconds() * 1000)}"
        )
    dry = ", dry run" if summary.dry_run else ""
    return (
        f"Run {ref.run_id} of {ref.dag_id} ({ref.environment}, {ref.cadence}): "
        f"{summary.state}{dry}, started {started}{took}\n"
    )


def add_silence(subparsers: SubParsers) -> None:
    parser = subparsers.add_parser(
        "silence",
        help="add, list or remove alert silences",
        description="A silenced alert is recorded, not sent; its resolve still reaches the "
        "channels that saw it fire.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="silence alerts matching a scope until a time")
    add.add_argument(
        "--scope", required=True, help="e.g. 'target=demo-db' or 'rule=target-down target=orders-*'"
    )
    add.add_argument("--until", required=True, help="an ISO time or a duration such as 2h, 1d")
    add.add_argument("--reason", required=True)
    add.add_argument("--by", help="who (default: the current user)")
    listing = actions.add_parser("list", help="silences in force (--all: every silence)")
    listing.add_argument("--all", action="store_true")
    remove = actions.add_parser("remove", help="end a silence now")
    remove.add_argument("id", type=int)
    remove.add_argument("--by", help="who (default: the current user)")
    for sub in (add, listing, remove):
        _add_store_option(sub)
    parser.set_defaults(func=cmd_silence)


def cmd_silence(args: argparse.Namespace) -> int:
    from vigil.alerts.silences import add_silence as add
    from vigil.alerts.silences import list_silences, remove_silence

    store = _store(args)
    args.by = getattr(args, "by", None) or _current_user()
    if args.action == "add":
        made = add(store, args.scope, args.until, args.reason, args.by)
        print(f"silence #{made.id} on {made.scope!r} until {made.until:%Y-%m-%d %H:%M %Z}")
    elif args.action == "list":
        silences = list_silences(store, include_inactive=args.all)
        for s in silences:
            ended = f", removed by {s.removed_by}" if s.removed_at else ""
            print(
                f"#{s.id}  {s.scope}  until {s.until:%Y-%m-%d %H:%M %Z}  by {s.created_by}: "
                f"{s.reason}{ended}"
            )
        print(f"{len(silences)} silence(s)")
    else:
        removed = remove_silence(store, args.id, removed_by=args.by)
        print(f"silence #{removed.id} on {removed.scope!r} removed")
    return 0
