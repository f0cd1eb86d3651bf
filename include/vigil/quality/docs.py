"""GX Data Docs for one run: every expectation's outcome, as GX's own HTML site.

The runner calls GX's Validator directly (see `plan`), so nothing lands in a GX results
store on the way. Here the outcomes of both passes are put back together, one GX
`ExpectationSuiteValidationResult` per spec check, each expectation shown as the suite
wrote it (not the cheaper stand-in the first pass ran) with the evidence pass's sample
values where it failed. They go into file-backed stores beside the site and GX's own
SiteBuilder renders it:

    <state>/data_docs/<environment>/<dag_id>/<run_id>/index.html
    <state>/data_docs/<environment>/<dag_id>/<run_id>/.gx/{validations,expectations}/

Every database target of a run has its own task, and each adds its suites to the same
site: the stores on disk are what the index is built from, and a file lock keeps two
tasks from rendering the index at once. A retried task replaces its own suites' pages.
No query runs here: building costs rendering only (measured ~0.1 s a suite on the demo).
A part of a page GX cannot render is one warning line in the log, not a traceback.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vigil.quality._gx import ephemeral_context, gx
from vigil.quality.gx_run import Outcome
from vigil.quality.runner import Validation
from vigil.quality.suites import Check
from vigil.result import CheckResult, Status

log = logging.getLogger("vigil")
LOCK_TIMEOUT_S = 120.0
_RESULTS, _SUITES = "vigil_validations", "vigil_suites"


class DocsError(RuntimeError):
    """The site could not be built (the caller logs it; validation never fails on it)."""


@dataclass(frozen=True)
class SuiteRun:
    """One spec check's validation, as the site shows it."""

    name: str  # the spec check id: one suite page and one validation page each
    target: str
    validation: Validation
    results: list[CheckResult]  # the validation's results, with their final check ids


def build_site(runs: list[SuiteRun], folder: Path, run_name: str) -> Path:
    """Add `runs` to the site in `folder` and (re)build it; returns its index.html."""
    runs = [r for r in runs if r.validation.suite is not None]
    if not runs:
        raise DocsError("no suite could be loaded: nothing to show")
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder / ".gx" / "lock"), _render_errors() as failed:
        context = _context(folder)
        run_id = _run_identifier(run_name)
        for run in runs:
            _store(context, folder, run, run_id)
        _builder(context, folder).build()
    if failed:
        log.warning(
            "Data Docs: GX could not render %d part(s) of %s (first: %s); results unaffected",
            len(failed),
            folder,
            failed[0],
        )
    index = folder / "index.html"
    if not index.exists():
        raise DocsError(f"GX built no {index}")
    return index


class _Collect(logging.Handler):
    """Keeps the gist of each error GX's renderer logs (`KeyError: 'x'`), not its traceback."""

    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.ERROR)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        found = _GIST.search(text)
        self.into.append(f"{found.group(1)}: {found.group(2)}" if found else text.split("\n")[0])


# GX 1.24's renderer: `An unexpected Exception occurred ... {type}: "{message}".  Traceback:`
_GIST = re.compile(r"(\w+): \"(.*?)\"\.\s+Traceback", re.DOTALL)


@contextlib.contextmanager
def _render_errors() -> Iterator[list[str]]:
    """GX's renderer logs every part of a page it fails to render as an ERROR carrying a
    whole traceback, and goes on (site_builder, column_section_renderer): a side channel's
    noise in the task log. They are collected here instead, for one warning line."""
    caught: list[str] = []
    handler = _Collect(caught)
    logger = logging.getLogger("great_expectations.render")
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield caught
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        deadline = time.monotonic() + LOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise DocsError(
                        f"another task held {path} for over {LOCK_TIMEOUT_S:.0f} s"
                    ) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _context(folder: Path) -> Any:
    context = ephemeral_context()
    for name, class_name, sub in (
        (_RESULTS, "ValidationResultsStore", "validations"),
        (_SUITES, "ExpectationsStore", "expectations"),
    ):
        backend = {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(folder / ".gx" / sub),
        }
        context.add_store(name, {"class_name": class_name, "store_backend": backend})
    return context


def _builder(context: Any, folder: Path) -> Any:
    gx()
    from great_expectations.render.renderer.site_builder import SiteBuilder

    return SiteBuilder(
        data_context=context,
        store_backend={"class_name": "TupleFilesystemStoreBackend", "base_directory": str(folder)},
        site_name="vigil",
        show_how_to_buttons=False,
        site_section_builders={
            "expectations": {"source_store_name": _SUITES},
            "validations": {"source_store_name": _RESULTS},
            "profiling": "None",
        },
        runtime_environment={"root_directory": str(folder)},
    )


def _run_identifier(run_name: str) -> Any:
    gx()
    from great_expectations.core.run_identifier import RunIdentifier

    return RunIdentifier(run_name=run_name, run_time=datetime.now(UTC))


def _store(context: Any, folder: Path, run: SuiteRun, run_id: Any) -> None:
    gx()
    from great_expectations.core import ExpectationSuite
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    results_store, suites_store = context.stores[_RESULTS], context.stores[_SUITES]
    suite_key = ExpectationSuiteIdentifier(name=run.name)
    for key in results_store.list_keys():  # a retried task: its earlier attempt goes
        if key.expectation_suite_identifier.name == run.name:
            results_store.remove_key(key)
    shutil.rmtree(folder / "validations" / run.name, ignore_errors=True)
    validated = suite_result(run, run_id)
    v = run.validation
    key = ValidationResultIdentifier(
        expectation_suite_identifier=suite_key,
        run_id=run_id,
        batch_identifier=f"{run.target}.{v.schema}.{v.table}",
    )
    results_store.set(key, validated)
    configs = [r.expectation_config for r in validated.results]
    suites_store.set(suite_key, ExpectationSuite(name=run.name, expectations=configs))


def suite_result(run: SuiteRun, run_id: Any) -> Any:
    """GX's ExpectationSuiteValidationResult for one spec check, from Vigil's results."""
    great_expectations = gx()
    from great_expectations.core import ExpectationSuiteValidationResult

    v = run.validation
    assert v.suite is not None  # build_site keeps only validations with a suite
    pairs = v.outcomes or [None] * len(v.suite.checks)
    results = [
        _expectation_result(check, pair, result)
        for check, pair, result in zip(v.suite.checks, pairs, run.results, strict=True)
    ]
    passed = sum(1 for r in results if r.success)
    meta = {
        "great_expectations_version": great_expectations.__version__,
        "batch_spec": {"type": "table", "schema_name": v.schema, "table_name": v.table},
        "batch_markers": {},
        "active_batch_definition": {"data_asset_name": f"{v.schema}.{v.table}"},
        **v.batch_meta,
        "expectation_suite_name": run.name,
        "run_id": run_id,
        "validation_time": run_id.run_time,
        "vigil_target": run.target,
    }
    return ExpectationSuiteValidationResult(
        success=passed == len(results),
        results=results,
        suite_name=run.name,
        meta=meta,
        statistics={
            "evaluated_expectations": len(results),
            "successful_expectations": passed,
            "unsuccessful_expectations": len(results) - passed,
            "success_percent": 100.0 * passed / len(results) if results else None,
        },
    )


def _expectation_result(
    check: Check, pair: tuple[Outcome, Outcome | None] | None, result: CheckResult
) -> Any:
    gx()
    from great_expectations.core import ExpectationValidationResult
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    config = ExpectationConfiguration(
        type=check.type,
        kwargs=check.kwargs,
        meta={**check.meta, "vigil_check_id": result.check_id, "vigil_status": result.status},
        description=check.description,
    )
    raised = result.status is Status.ERROR or (pair is None and result.status is Status.FAILED)
    return ExpectationValidationResult(
        success=result.status is Status.PASSED,
        expectation_config=config,
        result={} if raised else _gx_result(check, pair, result),
        exception_info={
            "raised_exception": raised,
            "exception_message": result.message if raised else None,
            "exception_traceback": result.message if raised else None,
        },
    )


def _gx_result(
    check: Check, pair: tuple[Outcome, Outcome | None] | None, result: CheckResult
) -> dict[str, Any]:
    """GX's own result dict where GX ran this very expectation (the evidence pass first);
    rebuilt from Vigil's result where the cheap pass ran a stand-in for it."""
    for outcome in (pair[1], pair[0]) if pair else ():
        raw = outcome.raw if outcome is not None else None
        config = getattr(raw, "expectation_config", None)
        if raw is not None and config is not None and config.type == check.type:
            return _renderable(dict(raw.result or {}))
    rebuilt = dict(result.observed or {})
    if result.details.get("unexpected_rows"):
        rebuilt["details"] = {"unexpected_rows": result.details["unexpected_rows"]}
    if rebuilt.get("unexpected_count") == 0:
        rebuilt.setdefault("unexpected_percent", 0.0)
        rebuilt.setdefault("partial_unexpected_list", [])
    return _renderable(rebuilt)


def _renderable(result: dict[str, Any]) -> dict[str, Any]:
    """A result GX's own renderer can show. Whenever `unexpected_count` is non-zero it reads
    `unexpected_percent` and `element_count` (GX 1.24, Expectation's unexpected statement),
    which GX's own distinct-values checks do not report: a KeyError, logged with its
    traceback. They count distinct values, not rows: said under another key."""
    bad, total = result.get("unexpected_count"), result.get("element_count")
    if bad and "unexpected_percent" not in result:
        if total:
            result["unexpected_percent"] = 100.0 * bad / total
        else:
            result["unexpected_distinct_values"] = result.pop("unexpected_count")
    return result
