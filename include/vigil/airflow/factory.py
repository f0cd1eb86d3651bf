"""Specs → DAGs. Called from the DAG files; parse-time work only.

Parsing reads YAML and builds tasks. It opens no connection, makes no request and imports
no check runner or Great Expectations: Airflow re-parses DAG files every few seconds.

The good specs' DAGs are spread over identical DAG files, `dags/vigil_dags.py` and
`dags/vigil_dags_<n>.py`: each builds the specs whose file name hashes to it. Airflow
imports, serialises and times out each DAG file in a process of its own, and serialising
a spec's DAGs costs it about five times what loading and building them costs Vigil
(`benchmarks/bench_many_specs.py`): in one file, 50 specs of 100 checks overran the
dag-processor's 50 s per-file timeout, and 200 took 30 s just to import.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import time
import zlib
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, CronTriggerTimetable, TaskGroup, TriggerRule

from vigil import families
from vigil.airflow import tasks
from vigil.airflow.params import run_params
from vigil.family import Gate
from vigil.spec.loader import load_files, spec_files, specs_dir
from vigil.spec.models import CADENCES, Spec

# The DAG files that share the good specs between them: `vigil_dags.py` is shard 0.
SHARD_FILE = re.compile(r"vigil_dags(?:_(\d+))?\.py")
VIGIL_ROOT = Path(__file__).resolve().parents[1]  # include/vigil: part of the build key
# What the broken-specs file spends checking specs no good-DAGs file has built yet: well
# inside Airflow's `dagbag_import_timeout` (30 s) on a busy machine.
BROKEN_SPECS_BUDGET_S = 10.0

log = logging.getLogger(__name__)


class SpecLoadError(Exception):
    """Shown by Airflow as the import error of `dags/vigil_broken_specs.py`: every problem
    of every bad spec, each with its file, line and field."""


def build_dags(namespace: dict[str, Any], directory: Path | None = None) -> list[DAG]:
    """Add `<env>_daily|weekly|monthly` to `namespace` (a DAG file's globals) for every good
    spec of this DAG file's shard (all of them for a file without siblings). Bad specs are
    left out here and reported by `raise_broken_specs` from a DAG file of their own
    (ADR 0001): Airflow 3.3's dag-processor hides every DAG of a file that has an import
    error, so the good specs' DAGs must not share a file with it."""
    shard = dag_file_shard(namespace.get("__file__"))
    dags, _errors = load_and_build(directory, shard)
    for dag in dags:
        namespace[dag.dag_id] = dag
    return dags


def raise_broken_specs(directory: Path | None = None) -> None:
    """Raise, listing every bad spec's problems, when any spec fails to load or to build:
    the import error of the DAG file that calls it is how Airflow shows them. Specs left
    unchecked for want of time are listed too: no error would be a false all-clear."""
    errors, unchecked = broken_specs(directory)
    parts = []
    if errors:
        report = "\n\n".join(errors.values())
        parts.append(f"{len(errors)} spec file(s) failed to load:\n{report}")
    if unchecked:
        names = ", ".join(str(path) for path in unchecked)
        parts.append(
            f"{len(unchecked)} spec file(s) not checked yet (over this parse's "
            f"{BROKEN_SPECS_BUDGET_S:.0f} s; the next parse checks them): {names}"
        )
    if parts:
        raise SpecLoadError("\n\n".join(parts))


def broken_specs(
    directory: Path | None = None, budget_s: float | None = None
) -> tuple[dict[Path, str], list[Path]]:
    """Every spec that cannot become DAGs, with its report; and the specs not checked.

    A spec that a good-DAGs file has built in its exact text, with this exact code, is not
    loaded or built again (`built_environment`): doing so for every spec would cost this
    one file as much as all the others together. The rest are checked one by one until
    `budget_s` is spent, so that this file stays inside Airflow's import timeout when many
    specs are new at once (a first start); the next parse checks what is left, by when
    the good-DAGs files have built most of them."""
    budget_s = BROKEN_SPECS_BUDGET_S if budget_s is None else budget_s
    deadline = time.monotonic() + budget_s
    owners: dict[str, Path] = {}
    errors: dict[Path, str] = {}
    unchecked: list[Path] = []
    for path in spec_files(directory or specs_dir()):
        key = build_key(path)
        environment = built_environment(key) if key else None
        if environment is None:
            if time.monotonic() > deadline:
                unchecked.append(path)
                continue
            environment, error = _check_spec(path, key)
            if error is not None:
                errors[path] = error
                continue
        if environment in owners:
            # Rare: load both, for the loader's own located report of the second one.
            _specs, spec_errors = load_files([owners[environment], path])
            errors[path] = str(spec_errors.get(path) or f"{path}: {environment!r} declared twice")
            continue
        owners[str(environment)] = path
    if unchecked:
        log.warning("%d spec(s) left for the next parse (over %.0f s)", len(unchecked), budget_s)
    return errors, unchecked


def _check_spec(path: Path, key: str | None) -> tuple[str | None, str | None]:
    """(environment, None) for a spec that loads and builds; (_, its report) otherwise."""
    specs, spec_errors = load_files([path])
    if path in spec_errors or not specs:
        return None, str(spec_errors.get(path, f"{path}: no spec"))
    spec = next(iter(specs.values()))
    try:
        _build_spec(spec, path)
    except Exception as exc:  # reported, as in load_and_build
        return spec.environment, _build_error(path, exc)
    _remember_if_unchanged(path, key, spec.environment)
    return spec.environment, None


def _build_spec(spec: Spec, source: Path) -> list[DAG]:
    return [
        build_dag(spec, source, cadence)
        for cadence in CADENCES
        if getattr(spec.schedules, cadence).enabled
    ]


def _build_error(source: Path, exc: Exception) -> str:
    return f"{source}: could not build its DAGs: {type(exc).__name__}: {exc}"


def dag_file_shard(dag_file: str | None) -> tuple[int, int] | None:
    """(index, count) of a shard DAG file among its siblings, by sorted name; None (every
    spec) for anything else: a test's namespace, a copy of one DAG file on its own."""
    if not dag_file or not SHARD_FILE.fullmatch(Path(dag_file).name):
        return None
    try:
        names = os.listdir(Path(dag_file).parent)
    except OSError:
        return None
    siblings = sorted(n for n in names if SHARD_FILE.fullmatch(n))
    if len(siblings) < 2:
        return None
    return siblings.index(Path(dag_file).name), len(siblings)


def spec_shard(path: Path, count: int) -> int:
    """Stable across processes and machines (unlike `hash`), and by file name only, so a
    spec keeps its shard whatever folder the specs are in."""
    return zlib.crc32(path.name.encode()) % count


def load_and_build(
    directory: Path | None = None, shard: tuple[int, int] | None = None
) -> tuple[list[DAG], dict[Path, str]]:
    """Every good spec's DAGs, and the report of every spec that could not become DAGs.

    One spec never costs another its DAGs: a spec that loads but cannot be built (a bug,
    a value the factory cannot take) is reported with the others, not raised."""
    every = spec_files(directory or specs_dir())
    paths = every
    if shard is not None:
        index, count = shard
        paths = [p for p in every if spec_shard(p, count) == index]
    # Keyed on the bytes about to be loaded: a file rewritten while this parse runs is
    # not remembered as built in text that was never loaded.
    keys = {path: build_key(path) for path in paths}
    specs, spec_errors = load_files(paths)
    errors: dict[Path, str] = {path: str(error) for path, error in spec_errors.items()}
    elsewhere = _declared_elsewhere(every, set(paths)) if shard is not None else {}
    dags: list[DAG] = []
    for spec in specs.values():
        source = spec.source or Path()
        first = elsewhere.get(spec.environment)
        if first is not None and first < source:
            # Declared first by a spec of another DAG file, which builds it; the loader
            # keeps the first file too, and the broken-specs file reports this one.
            continue
        try:
            built = _build_spec(spec, source)
        except Exception as exc:  # the others' DAGs must still load
            errors[source] = _build_error(source, exc)
            continue
        _remember_if_unchanged(source, keys.get(source), spec.environment)
        dags += built
    return dags, errors


def _declared_elsewhere(every: list[Path], mine: set[Path]) -> dict[str, Path]:
    """Environment → the first spec file outside this DAG file's shard that a DAG file has
    built it from (the build cache knows; a spec not built yet is not known until it is)."""
    found: dict[str, Path] = {}
    for path in every:
        if path in mine:
            continue
        key = build_key(path)
        environment = built_environment(key) if key else None
        if environment is not None:
            found.setdefault(environment, path)
    return found


def _remember_if_unchanged(source: Path, key: str | None, environment: str) -> None:
    if key is not None and build_key(source) == key:
        remember_built(key, environment)


# --- which specs were built before: a parse cache keyed on the spec's content ----------


def build_cache_dir() -> Path:
    """Under VIGIL_STATE_DIR (the stack's state), else the temp folder: one per user."""
    state = os.environ.get("VIGIL_STATE_DIR")
    root = Path(state) if state else Path(tempfile.gettempdir()) / f"vigil-{os.getuid()}"
    return root / "built-specs"


@cache  # once per process: a DAG file is parsed in a fresh one
def _code_stamp() -> str:
    """What Vigil's code is: the name, size and mtime of every module. A spec that built
    with other code may not build with this one (~2 ms for the whole package)."""
    stamp = hashlib.sha256()
    for path in sorted(VIGIL_ROOT.rglob("*.py")):
        info = path.stat()
        stamp.update(f"{path.relative_to(VIGIL_ROOT)}:{info.st_size}:{info.st_mtime_ns};".encode())
    return stamp.hexdigest()


def build_key(source: Path) -> str | None:
    """The spec file's path and bytes with the code's stamp; None if it cannot be read."""
    try:
        content = source.read_bytes()
    except OSError:
        return None
    digest = hashlib.sha256(_code_stamp().encode())
    digest.update(str(source.resolve()).encode() + b"\0" + content)
    return digest.hexdigest()


def built_environment(key: str) -> str | None:
    """The environment of a spec built before under this key; None if it was not."""
    try:
        return (build_cache_dir() / key).read_text() or None
    except OSError:
        return None


def remember_built(key: str, environment: str) -> None:
    """Best effort: a cache that cannot be written only means checking again next time.
    Written whole or not at all (rename), as DAG files are parsed side by side."""
    folder = build_cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{key}.{os.getpid()}"
        partial.write_text(environment)
        partial.replace(folder / key)
    except OSError:
        pass


def build_dag(spec: Spec, spec_path: Path, cadence: str) -> DAG:
    schedule = getattr(spec.schedules, cadence)
    # Pipeline order (the registry's), whatever the spec's order.
    order = [f.name for f in spec.families()]
    chosen = sorted(schedule.families or spec.declared_families(), key=order.index)
    defaults = spec.defaults
    dag = DAG(
        dag_id=f"{spec.environment}_{cadence}",
        # No start_date: a new DAG waits for its next scheduled time instead of running
        # at once for the latest past one (a fresh `make demo` would queue three runs).
        schedule=CronTriggerTimetable(schedule.cron, timezone=spec.timezone, run_immediately=False),
        catchup=False,
        max_active_runs=1,
        # Found through the DAG file's globals only: the broken-specs file builds them
        # too (to report a spec that cannot be built) and must not define any.
        auto_register=False,
        tags=sorted({"vigil", spec.environment, cadence, *spec.tags}),
        doc_md=describe(spec, cadence, chosen),
        params=run_params(spec, chosen, cadence),
        default_args={
            "owner": defaults.owner,
            "retries": defaults.retries,
            "retry_delay": timedelta(seconds=defaults.retry_delay_s),
            # A multiplier in Airflow 3.3 (True would mean 1.0: no backoff at all).
            "retry_exponential_backoff": 2.0,
            "max_retry_delay": tasks.RETRY_DELAY_CAP,
            "execution_timeout": timedelta(seconds=defaults.task_timeout_s),
            "retry_policy": tasks.retry_policy(),
        },
    )
    op_kwargs = {"spec_path": str(spec_path), "cadence": cadence}
    with dag:
        summarize = PythonOperator(
            task_id="summarize",
            python_callable=tasks.summarize,
            op_kwargs=op_kwargs,
            trigger_rule=TriggerRule.ALL_DONE,
            retries=1,
        )
        # Ends every DAG, whatever happened upstream: alerts, notifications, reports.
        summarize >> PythonOperator(
            task_id="evaluate",
            python_callable=tasks.evaluate,
            op_kwargs=op_kwargs,
            trigger_rule=TriggerRule.ALL_DONE,
            retries=1,
        )
        health: dict[str, PythonOperator] = {}
        earlier: list[PythonOperator] = []
        for name in chosen:
            family = families.get(name)
            group = _family_group(spec, name, op_kwargs)
            for task, gates in group:
                if family.gate is Gate.DEPENDENCIES:
                    health[gates[0]] = task
                else:
                    # Other families wait for their targets' health, and skip when it failed.
                    [health[t] for t in gates if t in health] >> task
                if family.after_others:
                    # Load measured while other checks run measures both: wait for them.
                    earlier >> task
                task >> summarize
            earlier += [task for task, _ in group]
    return dag


def _family_group(
    spec: Spec, family: str, op_kwargs: dict[str, Any]
) -> list[tuple[PythonOperator, list[str]]]:
    """The family's tasks, each with the targets whose health it waits for (for health:
    the task's own target); a health task waits for the health of the targets it depends on.

    One task per target, not per check: a target's checks run concurrently inside it, and
    for data quality one task per database pays the Great Expectations import once. A
    family of long, independent checks (scenarios) has one task per check instead.
    """
    record = families.get(family)
    # A check whose `cadences` leave this one out gets no task here.
    on_cadence = [c for c in spec.checks_of(family) if c.runs_on(op_kwargs["cadence"])]
    with TaskGroup(group_id=family, tooltip=f"{family} checks: {record.description}"):
        if record.task_per_check:
            return [
                (_check_task(spec, family, check, op_kwargs), record.gating_targets(check))
                for check in on_cadence
            ]
        by_target = {
            target: PythonOperator(
                task_id=target,
                python_callable=tasks.run_target_checks,
                op_kwargs={**op_kwargs, "family": family, "target": target},
                # Runs whatever its dependencies did, and skips itself (saying why) when
                # one of them is unhealthy, rather than failing as "upstream failed".
                trigger_rule=TriggerRule.ALL_DONE,
                doc_md=_target_doc(spec, family, target),
                pool=record.pool,  # None: Airflow's default pool
            )
            for target in sorted({c.target for c in on_cadence})
        }
    if record.gate is Gate.DEPENDENCIES:
        for target, task in by_target.items():
            for dependency in spec.targets[target].depends_on:
                if dependency in by_target:
                    by_target[dependency] >> task
    return [(task, [target]) for target, task in by_target.items()]


def _check_task(spec: Spec, family: str, check: Any, op_kwargs: dict[str, Any]) -> PythonOperator:
    record = families.get(family)
    used = record.gating_targets(check)
    return PythonOperator(
        task_id=check.id,
        python_callable=tasks.run_target_checks,
        op_kwargs={**op_kwargs, "family": family, "target": check.target, "check": check.id},
        trigger_rule=TriggerRule.ALL_DONE,
        doc_md=f"{family} check `{check.id}` ({check.kind}): {check.description}\n\n"
        f"Skipped, with the reason, when any target it uses is unhealthy: {', '.join(used)}.",
        pool=record.pool,
        # An exclusive check takes every slot of its pool: nothing else of the family
        # runs beside it (a journey that switches a shared dependency off and on).
        pool_slots=record.pool_slots if getattr(check, "exclusive", False) else 1,
        # Its own bound (plus the cleanup's) rather than the spec's default task timeout.
        execution_timeout=timedelta(
            seconds=float(check.timeout_s) + float(getattr(check, "cleanup_timeout_s", 0)) + 60
        ),
    )


def describe(spec: Spec, cadence: str, chosen: list[str]) -> str:
    lines = [
        f"# {spec.environment} — {cadence} validation",
        spec.description,
        "",
        f"Runs on `{getattr(spec.schedules, cadence).cron}` ({spec.timezone}). "
        "Each task runs one target's checks and logs a table of results; `summarize` "
        "records the run and fails when any critical check failed or errored; `evaluate` "
        "judges the alert rules, sends notifications, writes the run report and carries "
        "the same verdict, so the run's final state reflects the checks.",
        "",
    ]
    for family in chosen:
        lines.append(f"## {family}: {families.get(family).description}")
        for check in spec.checks_of(family):
            lines.append(f"- `{check.id}` on **{check.target}** ({check.kind}, {check.severity})")
        lines.append("")
    return "\n".join(lines)


def _target_doc(spec: Spec, family: str, target: str) -> str:
    checks = spec.checks_of_target(family, target)
    deps = spec.targets[target].depends_on
    text = f"{family} checks of `{target}`: " + ", ".join(f"`{c.id}`" for c in checks)
    if deps:
        text += f"\n\nSkipped, with the reason, when any of these is unhealthy: {', '.join(deps)}."
    return text
