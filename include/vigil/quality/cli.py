"""The quality family's commands: `vigil snapshot-schema` and `vigil suites migrate`.

    vigil snapshot-schema --target demo-db [--spec include/specs/demo.yaml] [--out PATH]
    vigil suites migrate old_suite.json [--in-place | --out PATH]

`snapshot-schema` writes a database's schema snapshot for a schema_drift check.

The target's connection is found as the tasks find it (`vigil.cli_connections`):
`AIRFLOW_CONN_<CONN_ID>`, else Airflow's own connections (secrets backends, the metadata
database: the UI, the REST API, `airflow connections add`), else the local `make demo`
stack's. Without --out the snapshot goes where the spec's schema_drift check of
that target expects it (`<expectations>/<snapshot>`), else to stdout; commit the file.
Without --spec, every spec in VIGIL_SPECS_DIR (default include/specs/) is searched for the
target. Nothing here imports Great Expectations: the snapshot is read from the PostgreSQL catalog.

`suites migrate` rewrites GX 0.x suites in the 1.x format (`vigil.quality.migrate`); it
imports GX, to build every expectation it carries over.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


class SnapshotCliError(Exception):
    """Bad input or an unreachable database: said in one line, no traceback."""


def add_snapshot_schema(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "snapshot-schema",
        help="write a target database's schema snapshot for its schema_drift check",
        description="Read tables, columns, indexes and constraints of a postgres target "
        "(its conn_id: AIRFLOW_CONN_<ID>, or a connection added in Airflow) and write them "
        "as the YAML snapshot its schema_drift check compares against. Commit the file.",
    )
    parser.add_argument("--target", required=True, metavar="NAME", help="a postgres target")
    parser.add_argument(
        "--spec",
        type=Path,
        metavar="FILE",
        help="the spec naming the target (default: search VIGIL_SPECS_DIR or include/specs)",
    )
    parser.add_argument(
        "--out",
        metavar="PATH",
        help="where to write ('-' for stdout; default: the schema_drift check's snapshot "
        "path, else stdout)",
    )
    parser.add_argument(
        "--schema",
        action="append",
        dest="schemas",
        metavar="NAME",
        help="a schema to include, repeatable (default: the check's schemas, else public)",
    )
    parser.set_defaults(func=cmd_snapshot_schema)


def cmd_snapshot_schema(args: argparse.Namespace) -> int:
    from vigil.quality.schema_drift import dump_snapshot, dump_yaml

    try:
        snap, out = _snapshot(args)
    except SnapshotCliError as exc:
        print(f"vigil snapshot-schema: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    if out is None:
        sys.stdout.write(dump_yaml(snap))
        return EXIT_OK
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        dump_snapshot(snap, out)  # YAML for .yaml/.yml, else JSON
    except OSError as exc:
        print(f"vigil snapshot-schema: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    print(f"wrote {out}", file=sys.stderr)
    return EXIT_OK


def _snapshot(args: argparse.Namespace) -> tuple[dict[str, Any], Path | None]:
    import psycopg2

    from vigil.cli_connections import cli_connection
    from vigil.context import ConfigError
    from vigil.quality.connection import database
    from vigil.quality.schema_drift import snapshot

    spec = _spec(args.target, args.spec)
    target = spec.targets[args.target]
    conn_id = getattr(target, "conn_id", None)
    if conn_id is None:
        raise SnapshotCliError(f"target {args.target} is a {target.kind} target, not postgres")
    drift = _drift_check(spec, args.target)
    schemas = args.schemas or (list(drift.schemas) if drift is not None else ["public"])
    try:
        conn = cli_connection(conn_id)
        snap = snapshot(conn, schemas)
    except ConfigError as exc:
        raise SnapshotCliError(exc.explained()) from None
    except psycopg2.Error as exc:
        db = database(conn)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SnapshotCliError(f"cannot read {db.describe()}: {db.mask(first)}") from None
    missing = [s for s in schemas if s not in snap["schemas"]]
    if missing:
        raise SnapshotCliError(f"no schema {', '.join(missing)} in database {snap['database']}")
    return snap, _out(args.out, drift)


def _spec(target: str, path: Path | None) -> Any:
    from vigil.spec.errors import SpecError
    from vigil.spec.loader import load_files, load_spec, spec_files, specs_dir

    if path is not None:
        try:
            spec = load_spec(path)
        except (OSError, SpecError) as exc:
            raise SnapshotCliError(f"{path}: {exc}") from None
        if target not in spec.targets:
            names = ", ".join(sorted(spec.targets))
            raise SnapshotCliError(f"{path} has no target {target!r} (targets: {names})")
        return spec
    folder = specs_dir()
    specs, _ = load_files(spec_files(folder)) if folder.is_dir() else ({}, {})
    having = [s for s in specs.values() if target in s.targets]
    if len(having) != 1:
        found = "no spec" if not having else f"{len(having)} specs"
        raise SnapshotCliError(f"{found} in {folder} name target {target!r}: pass --spec")
    return having[0]


def _drift_check(spec: Any, target: str) -> Any:
    from vigil.quality.models import SchemaDriftCheck

    checks = [c for c in spec.checks_of("quality") if isinstance(c, SchemaDriftCheck)]
    return next((c for c in checks if c.target == target), None)


def _out(out: str | None, drift: Any) -> Path | None:
    if out == "-":
        return None
    if out is not None:
        return Path(out)
    if drift is None:
        return None
    from vigil.quality.paths import expectations_dir

    return expectations_dir() / str(drift.snapshot)


# --- suites migrate -----------------------------------------------------------------


def add_suites(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "suites",
        help="work on Great Expectations suite files (migrate 0.x suites to 1.x)",
        description="Work on Great Expectations suite files.",
    )
    commands = parser.add_subparsers(dest="suites_command", required=True, metavar="SUBCOMMAND")
    migrate = commands.add_parser(
        "migrate",
        help="rewrite GX 0.x suites in the 1.x format Vigil reads",
        description="Rewrite GX 0.x suites as 1.x: rename keys and expectations, drop "
        "run-time options and arguments 1.x no longer has, and list (and keep under "
        "meta.vigil_not_migrated) what could not be carried over: expectations removed in "
        "1.x, ones PostgreSQL cannot run, evaluation parameters with no value. What it did "
        "goes to stderr; a file already in the 1.x format is left as it is.",
    )
    migrate.add_argument("paths", nargs="+", type=Path, metavar="FILE", help="a 0.x suite")
    where = migrate.add_mutually_exclusive_group()
    where.add_argument(
        "--in-place",
        action="store_true",
        help="rewrite each FILE, keeping the original as FILE.gx0.bak",
    )
    where.add_argument(
        "-o",
        "--out",
        type=Path,
        metavar="PATH",
        help="write to PATH (a directory when there are several FILEs); default: stdout",
    )
    migrate.set_defaults(func=cmd_suites_migrate)


def cmd_suites_migrate(args: argparse.Namespace) -> int:
    from vigil.quality.migrate import migrate_file, report

    paths: list[Path] = args.paths
    if len(paths) > 1 and not (args.in_place or args.out):
        print("vigil suites migrate: several files: pass --in-place or --out DIR", file=sys.stderr)
        return EXIT_PROBLEMS
    clash = _same_output(paths, args)
    if clash:
        print(f"vigil suites migrate: {clash}", file=sys.stderr)
        return EXIT_USAGE
    status = EXIT_OK
    for path in paths:
        try:
            found = migrate_file(path)
        except (OSError, ValueError) as exc:  # unreadable, or not JSON
            reason = exc.strerror if isinstance(exc, OSError) else f"not valid JSON: {exc}"
            print(f"vigil suites migrate: {path}: {reason or exc}", file=sys.stderr)
            status = EXIT_PROBLEMS
            continue
        print(report(str(path), found), file=sys.stderr)
        if found.already_1x:
            continue
        text = json.dumps(found.suite, indent=2, ensure_ascii=False) + "\n"
        out = _migrated_path(path, args, several=len(paths) > 1)
        if out is None:
            sys.stdout.write(text)
            continue
        try:
            if args.in_place:
                path.replace(path.with_name(path.name + ".gx0.bak"))
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"vigil suites migrate: cannot write {out}: {exc.strerror}", file=sys.stderr)
            status = EXIT_PROBLEMS
            continue
        print(f"  wrote {out}", file=sys.stderr)
    return status


def _same_output(paths: list[Path], args: argparse.Namespace) -> str | None:
    """Why two inputs cannot be migrated together: both would write the same file, the
    second overwriting the first (`a/x.json b/x.json --out DIR`)."""
    seen: dict[Path, Path] = {}
    for path in paths:
        out = _migrated_path(path, args, several=len(paths) > 1)
        if out is None:
            continue
        key = Path(os.path.abspath(out))
        if key in seen:
            return (
                f"{seen[key]} and {path} would both be written to {out}; "
                "migrate them separately or to different --out folders"
            )
        seen[key] = path
    return None


def _migrated_path(path: Path, args: argparse.Namespace, several: bool) -> Path | None:
    if args.in_place:
        return path
    out: Path | None = args.out
    if out is not None and (several or out.is_dir()):
        return out / path.name
    return out
