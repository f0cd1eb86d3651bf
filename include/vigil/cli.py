"""`vigil` command line: one subcommand per function, added to one argparse parser.

    vigil check-spec include/specs/demo.yaml      # or a directory of specs
    vigil report --run RUN_ID                     # regenerate a run's HTML report
    vigil silence add --scope target=demo-db --until 2h --reason "maintenance"
    vigil snapshot-schema --target demo-db        # write the schema_drift snapshot

A new subcommand is a `_add_<name>(subparsers)` that sets `func` and a `_cmd_<name>(args)`
returning the exit code; `build_parser` lists them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from vigil import cli_run, cli_store
from vigil.quality import cli as quality_cli
from vigil.spec.errors import Problem
from vigil.spec.loader import load_files, spec_files
from vigil.spec.models import Spec

EXIT_OK, EXIT_PROBLEMS = 0, 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vigil", description="Scheduled validation of a software environment."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_check_spec(subparsers)
    cli_run.add_run(subparsers)
    cli_store.add_report(subparsers)
    cli_store.add_results(subparsers)  # `vigil results --run RUN_ID | --latest ENV`
    cli_store.add_silence(subparsers)
    _add_snapshot_schema(subparsers)
    quality_cli.add_suites(subparsers)  # `vigil suites migrate`; light: GX only when it runs
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except (
        cli_store.USER_ERRORS
    ) as exc:  # bad input or an unreachable store: say what, no traceback
        print(f"vigil {args.command}: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    return code


# --- snapshot-schema ---------------------------------------------------------------


def _add_snapshot_schema(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from vigil.quality.cli import add_snapshot_schema  # light: no GX, no database

    add_snapshot_schema(subparsers)


# --- check-spec ------------------------------------------------------------------------


def _add_check_spec(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "check-spec",
        help="validate spec files and list every problem",
        description="Validate spec files (a directory: every *.yaml / *.yml in it) with the "
        "same loader the DAG files use; exit 1 when any has a problem.",
    )
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="FILE",
        type=Path,
        help="a spec file or a directory of spec files",
    )
    parser.set_defaults(func=_cmd_check_spec)


def _cmd_check_spec(args: argparse.Namespace) -> int:
    files, missing = _expand(args.paths)
    specs, errors = load_files(files)
    for error in errors.values():
        print(error, end="\n\n")
    for problem in missing:
        print(problem.headline(), end="\n\n")
    deep = _deep_problems(specs.values())
    for found in deep:
        print("\n".join(p.render() for p in found), end="\n\n")
    problems = sum(len(e.problems) for e in errors.values()) + len(missing)
    problems += sum(len(found) for found in deep)
    if problems:
        bad = len(errors) + len(missing) + len(deep)
        total = len(files) + len(missing)
        print(f"{problems} problem{_s(problems)} in {bad} of {total} spec file{_s(total)}")
        return EXIT_PROBLEMS
    print(f"ok: {len(specs)} spec{_s(len(specs))}, {_count_checks(specs.values())} checks")
    return EXIT_OK


def _deep_problems(specs: Iterable[Spec]) -> list[list[Problem]]:
    """Problems in the files a loaded spec points to (suites, snapshots), per spec: each
    family's own lint, loaded only for a spec that has checks of that family (the quality
    lint builds every suite's expectations, so it imports Great Expectations)."""
    found = []
    for spec in specs:
        problems = [
            problem
            for family in spec.families()
            if spec.checks_of(family.name)
            for problem in family.lint_spec(spec)
        ]
        if problems:
            found.append(problems)
    return found


def _expand(paths: Sequence[Path]) -> tuple[list[Path], list[Problem]]:
    """Spec files named or found in directories; a path that leads to none is a problem."""
    files: list[Path] = []
    missing: list[Problem] = []
    for path in paths:
        if path.is_dir():
            found = spec_files(path)
            files.extend(found)
            if not found:
                missing.append(_no_place(path, "no *.yaml or *.yml spec files in this directory"))
        elif path.exists():
            files.append(path)
        else:
            missing.append(_no_place(path, "no such file or directory"))
    return files, missing


def _no_place(path: Path, message: str) -> Problem:
    return Problem(file=str(path), line=None, column=None, path="", message=message)


def _count_checks(specs: Iterable[Spec]) -> int:
    return sum(len(spec.all_checks()) for spec in specs)


def _s(count: int) -> str:
    return "" if count == 1 else "s"


if __name__ == "__main__":
    sys.exit(main())
