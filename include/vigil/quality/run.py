"""The `quality` check family: every quality check of ONE postgres target, in one process.

`run_checks(checks, ctx)` is what the pipeline calls for a target's `quality` task.

Why one task per database, not one per suite: `import great_expectations` is the fixed
cost of every quality task — measured 5.9-6.7 s here on a quiet machine (2 shared cores,
bytecode compiled; up to 15 s under load; STACK_NOTES saw 3-5 s), against 0.25-0.7 s to
validate one demo suite once GX is loaded (the demo's seven suites: 2-3.5 s in all) and
~1 s to build the run's Data Docs. One task per suite would pay the import seven times for
the demo's seven tables (and seven Airflow task start-ups); one task per target pays it
once and still lets targets run in parallel, each skipped on its own when its health
fails. Suites run one after another inside the task: each is a handful of statements the
database does the work of, and one session at a time is gentler on the watched database.

Check ids: a suite's expectations are reported as `<spec check id>.<expectation id>`,
where the expectation id is its `meta.id` (or the default, from what it checks, see
`vigil.quality.ids`), so two spec checks running one suite on two tables never share
an id: `orders-data.total.matches_items`. A row-count change check adds `.change` to its
row-count check's id. A problem with the spec check as a whole (suite file missing or
unusable, or no connection for its target) is one `error` result under the spec check's
own id. Schema drift: `<spec check id>` passed when nothing drifted, else one failed result
per drifted object, `<spec check id>.<schema>[.<table>[.column|index|constraint.<name>]]`:
`demo-db-schema.public.customers.column.loyalty_tier`.

Severity: an expectation's `meta.severity` when the suite sets it, else the spec check's.

Sampled values of sensitive columns (the spec check's `sensitive_columns`, the suite's
`meta.sensitive_columns`, names like `*password*` by default) are redacted as GX hands
them over (`vigil.quality.redact`): no result, log line, report or Data Docs page has them.

Nothing raises: a missing suite or snapshot file, a connection that is not configured, a
database that is down, a missing table — each is an `error` result naming it. Data Docs
for the run are built at the end (`vigil.quality.docs`); if that fails it is logged as a
warning and the results stand.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from vigil.config_errors import configuration_details
from vigil.context import ConfigError, ConnectionInfo, RunContext
from vigil.quality import docs, volume
from vigil.quality.models import SchemaDriftCheck, SuiteCheck
from vigil.quality.paths import (
    OutsideExpectations,
    data_docs_dir,
    expectations_dir,
    inside_expectations,
)
from vigil.quality.redact import Sensitive
from vigil.quality.runner import Validation, validate
from vigil.quality.schema_drift import SnapshotError, check_drift, load_snapshot
from vigil.result import CheckResult

log = logging.getLogger("vigil")
KIND = "quality"
__all__ = ["expectations_dir", "run_checks"]


def run_checks(checks: Sequence[Any], ctx: RunContext) -> list[CheckResult]:
    """Run `checks` (all of one postgres target), then build the run's Data Docs."""
    results: list[CheckResult] = []
    suite_runs: list[docs.SuiteRun] = []
    history = _History(ctx)
    for check in checks:
        try:
            if isinstance(check, SuiteCheck):
                found, run = _suite(check, ctx, history)
                results += found
                suite_runs += [run] if run is not None else []
            elif isinstance(check, SchemaDriftCheck):
                results += _drift(check, ctx)
            else:
                kind = getattr(check, "kind", type(check).__name__)
                results.append(_whole_check_error(check, f"unknown quality check kind {kind!r}"))
        except Exception as exc:  # a bug here must not hide the other checks' results
            log.exception("quality check %s crashed", check.id)
            crash = f"{type(exc).__name__}: {exc}"
            results.append(_whole_check_error(check, crash, configuration=False))
    if suite_runs:
        _build_docs(suite_runs, ctx)
    return results


# --- suites -------------------------------------------------------------------------


def _suite(
    check: SuiteCheck, ctx: RunContext, history: _History
) -> tuple[list[CheckResult], docs.SuiteRun | None]:
    t0 = time.perf_counter()
    try:
        path = inside_expectations(check.suite)
    except OutsideExpectations as exc:
        return [_whole_check_error(check, str(exc))], None
    if not path.is_file():
        reason = f"suite file {check.suite} not found in {expectations_dir()}"
        return [_whole_check_error(check, reason, {"suite_path": str(path)})], None
    conn = _connection(check, ctx)
    if isinstance(conn, CheckResult):
        return [conn], None
    found = validate(
        conn,
        path,
        check.table,
        schema=check.schema_name,
        row_filter=check.row_filter,
        target=check.target,
        statement_timeout_s=check.timeout_s,
        sensitive=Sensitive(tuple(check.sensitive_columns), tuple(check.not_sensitive_columns)),
    )
    if found.suite is None:  # the suite file cannot be used: one error for the check
        reason = found.results[0].details.get("error", found.results[0].message)
        return [_whole_check_error(check, str(reason), {"suite_path": str(path)})], None
    results = _own(check, found)
    results += _changes(check, found, results, history)
    log.info(
        "quality %s: %s.%s against %s in %.2f s",
        check.id,
        check.schema_name,
        check.table,
        check.suite,
        time.perf_counter() - t0,
    )
    return results, docs.SuiteRun(check.id, check.target, found, results[: len(found.results)])


def _own(check: SuiteCheck, found: Validation) -> list[CheckResult]:
    """The engine's results under this spec check: prefixed ids, the spec's severity
    where the suite sets none."""
    assert found.suite is not None
    return [
        result.model_copy(
            update={
                "check_id": f"{check.id}.{result.check_id}",
                "parent": check.id,
                "check_kind": check.kind,
                "target": check.target,
                "severity": result.severity if item.severity_set else check.severity,
                "details": {**result.details, "suite_file": check.suite},
            }
        )
        for item, result in zip(found.suite.checks, found.results, strict=True)
    ]


def _changes(
    check: SuiteCheck, found: Validation, results: list[CheckResult], history: _History
) -> list[CheckResult]:
    assert found.suite is not None
    return [
        volume.change_result(result, item.row_count_change, history, result.severity)
        for item, result in zip(found.suite.checks, results, strict=True)
        if item.row_count_change is not None
    ]


class _History:
    """The previous row counts, from the results store, opened on first use."""

    def __init__(self, ctx: RunContext) -> None:
        self._ctx = ctx
        self._read: volume.History | None = None

    def __call__(self, check_id: str) -> volume.Previous | None:
        if self._read is None:
            from vigil.results.store import ResultStore

            ctx = self._ctx
            store = ResultStore.from_connection(ctx.connection(ctx.spec.results_conn_id))
            self._read = volume.store_history(store, ctx.spec.environment, ctx.dag_id, ctx.run_id)
        return self._read(check_id)


# --- schema drift -------------------------------------------------------------------


def _drift(check: SchemaDriftCheck, ctx: RunContext) -> list[CheckResult]:
    try:
        path = inside_expectations(check.snapshot)
        snap = load_snapshot(path)
    except OutsideExpectations as exc:
        return [_whole_check_error(check, str(exc))]
    except SnapshotError as exc:
        return [_whole_check_error(check, str(exc), {"snapshot_path": str(path)})]
    missing = [s for s in check.schemas if s not in snap["schemas"]]
    if missing:
        reason = (
            f"snapshot {check.snapshot} has no schema {', '.join(missing)}: regenerate it with "
            f"`vigil snapshot-schema --target {check.target}`"
        )
        return [_whole_check_error(check, reason, {"snapshot_path": str(path)})]
    conn = _connection(check, ctx)
    if isinstance(conn, CheckResult):
        return [conn]
    wanted = {**snap, "schemas": {s: snap["schemas"][s] for s in check.schemas}}
    results = check_drift(
        conn, wanted, target=check.target, prefix=check.id, severity=check.severity
    )
    return [
        r.model_copy(
            update={
                "details": {**r.details, "snapshot": check.snapshot},
                "check_kind": check.kind,
                "parent": None if r.check_id == check.id else check.id,
            }
        )
        for r in results
    ]


# --- shared -------------------------------------------------------------------------


def _connection(check: Any, ctx: RunContext) -> ConnectionInfo | CheckResult:
    """The target's connection, or an error result saying why there is none."""
    target = ctx.spec.targets.get(check.target)
    conn_id = getattr(target, "conn_id", None)
    if conn_id is None:
        kind = getattr(target, "kind", "missing")
        return _whole_check_error(check, f"target {check.target} is not a postgres target ({kind})")
    try:
        return ctx.connection(conn_id)
    except (ConfigError, ValueError) as exc:
        return _whole_check_error(check, f"connection {conn_id!r}: {exc}")


def _whole_check_error(
    check: Any, reason: str, details: dict[str, Any] | None = None, *, configuration: bool = True
) -> CheckResult:
    """The spec check could not run at all. Most such causes are configuration (a suite or
    snapshot file missing or unusable, no connection, a target of the wrong kind): the
    task is then not retried (ADR 0002); a crash of Vigil's own code passes False."""
    reason = " ".join(reason.split())
    evidence = {**(details or {}), "error": reason}
    return CheckResult.error_of(
        check,
        KIND,
        f"{check.id} could not run: {reason}",
        details=configuration_details(evidence) if configuration else evidence,
    )


def _build_docs(runs: list[docs.SuiteRun], ctx: RunContext) -> None:
    """Data Docs are a side channel: a failure is a warning, never a failed validation."""
    folder = data_docs_dir(ctx.spec.environment, ctx.dag_id, ctx.run_id)
    t0 = time.perf_counter()
    try:
        index = docs.build_site(runs, folder, ctx.run_id)
    except Exception as exc:  # GX rendering, disk, lock: none may fail the validation
        log.warning("Data Docs not built in %s: %s: %s", folder, type(exc).__name__, exc)
        return
    log.info("Data Docs: %s (built in %.2f s)", index, time.perf_counter() - t0)
