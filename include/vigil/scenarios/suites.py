"""Run an existing test suite and ingest its JUnit XML: one result per test case.

A `suite` scenario runs either a command (`CommandSuite`: a subprocess on the worker) or an
image (`ContainerSuite`: through Airflow's DockerOperator, `vigil.airflow.docker_suite`,
which the Airflow task hands over as `ctx.container_runner`). Either way the suite writes
JUnit XML to a fresh folder made for this run, and Vigil reads it back:

- one result per `<testcase>`: `check_id` `<suite id>::<classname>::<name>` (a repeated
  pair gets `#2`, `#3`: the results store keys a run's rows by check id), `parent` the
  suite's id, its status as JUnit says (failure: failed, error: error, skipped: skipped);
- one summary result for the suite itself (`check_id` the suite's id): the DAG checks
  that every spec check it ran was recorded under its own id, and the summary is where
  the counts, the exit code and the output's tail live;
- no JUnit at all, an empty or malformed file, a timeout, a command that cannot start:
  exactly one `error` result for the suite, with the exit code and the output's tail.

Everything a suite says (names, messages, traces, output) passes the run's masker: a
suite's test may print the very token it was given.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from junitparser import Error, Failure, JUnitXml, JUnitXmlError, Skipped, TestCase

from vigil.config_errors import ConfigError, configuration_error_of
from vigil.context import RunContext
from vigil.result import MAX_EVIDENCE_STRING, CheckResult, Status
from vigil.scenarios import FAMILY
from vigil.scenarios.models import CommandSuite, SuiteCheck
from vigil.spec.secret_shapes import is_secret_name

__all__ = [
    "JUNIT_ENV",
    "JUNIT_NAME",
    "JUNIT_PLACEHOLDER",
    "KILL_GRACE_S",
    "PASSED_THROUGH",
    "SuiteRun",
    "ingest_junit",
    "render",
    "run_suite",
]

JUNIT_PLACEHOLDER = "{{junit_xml}}"
PYTHON_PLACEHOLDER = "{{python}}"
JUNIT_ENV = "VIGIL_JUNIT_XML"
JUNIT_NAME = "junit.xml"
# A suite that outlives its timeout gets SIGTERM (pytest and most runners stop at once),
# then SIGKILL this much later if anything of its process group is still there.
KILL_GRACE_S = 5.0
# The only variables of the worker's environment a command sees (besides its spec's `env`
# and VIGIL_JUNIT_XML): what finding programs, a home and a locale take. Not the rest:
# an Airflow worker's environment holds AIRFLOW_CONN_* URIs with passwords, the
# metadata database's address and the secrets backend's settings, which a test suite has
# no business reading (or printing into its output, and so into our results).
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
# The results store keeps MAX_EVIDENCE_STRING characters of a string, from its start
# (`CheckResult.to_row`). Traces and output are kept as their tails (where a traceback's
# assertion and a runner's summary are) cut to fit whole, so the stored text still ends
# where the suite's did.
_CUT = "… [{n} chars cut] …\n"
TRACE_CHARS = MAX_EVIDENCE_STRING - 40
STREAM_CHARS = 1000  # each case's system-out / system-err tail
MESSAGE_CHARS = 500  # a case's one-line message; the trace holds the rest
MAX_JUNIT_BYTES = 64 * 1024 * 1024  # beyond this a file is refused rather than parsed
# DockerContainerFailedException says "Docker container failed: {'StatusCode': 3, ...}".
_STATUS_CODE = re.compile(r"StatusCode'?\"?\s*:\s*(-?\d+)")


@dataclass(frozen=True)
class SuiteRun:
    """How the suite's process (or container) ended."""

    exit_code: int
    output_tail: str
    duration_ms: float
    runner: str  # "command" or "container"


class _BadJunit(Exception):
    """The suite's JUnit XML is missing, empty or unreadable: what the result says."""


def run_suite(check: SuiteCheck, ctx: RunContext) -> list[CheckResult]:
    """Run the suite `check` and return its results (cases first, then the summary), every
    string masked. Never raises for the suite's sake: anything wrong is an `error` result.
    A `ConfigError` (a missing `${VAR}`, a missing `cwd`) is one marked as configuration,
    so its task is not retried."""
    started_at = datetime.now(UTC)
    try:
        with _results_dir() as tmp:
            results_dir = Path(tmp)
            ran = (
                _run_command(check, ctx, results_dir, started_at)
                if check.command is not None
                else _run_container(check, ctx, results_dir, started_at)
            )
            if isinstance(ran, CheckResult):
                results = [ran]
            else:
                results = ingest_junit(check, results_dir / JUNIT_NAME, ran, started_at, ctx)
    except ConfigError as exc:
        results = [
            configuration_error_of(
                check, FAMILY, f"configuration problem: {exc.explained()}", started_at=started_at
            )
        ]
    return [result.masked(ctx.masker.mask) for result in results]


def _results_dir() -> tempfile.TemporaryDirectory[str]:
    # In the worker's temp folder (TMPDIR). A container's bind mount names a path on the
    # Docker host: when the worker itself runs in a container, its TMPDIR must be a folder
    # mounted at the same path on the host. What a container left there under another
    # user and could not be removed must not turn the suite's results into an error.
    return tempfile.TemporaryDirectory(prefix="vigil-suite-", ignore_cleanup_errors=True)


def render(argv: list[str], junit_path: str, python: str = sys.executable) -> list[str]:
    """`argv` with `{{junit_xml}}` replaced by `junit_path` wherever it occurs (as a whole
    item or inside one: `--junitxml={{junit_xml}}`), and `{{python}}` by the interpreter
    running Vigil (the worker's PATH need not lead to the environment Vigil runs in)."""
    return [
        item.replace(JUNIT_PLACEHOLDER, junit_path).replace(PYTHON_PLACEHOLDER, python)
        for item in argv
    ]


def resolve_env(env: Mapping[str, str], ctx: RunContext) -> dict[str, str]:
    """A suite's `env` with `${VAR}` references expanded; a value whose name says it is a
    credential (`SUITE_TOKEN`) is remembered by the run's masker, whole and in parts."""
    resolved: dict[str, str] = {}
    for name, value in env.items():
        secret = is_secret_name(name)
        resolved[name] = ctx.resolve(value, secret=secret)
        if secret:
            ctx.masker.remember(resolved[name])
    return resolved


# --- a command -------------------------------------------------------------------------


def _run_command(
    check: SuiteCheck, ctx: RunContext, results_dir: Path, started_at: datetime
) -> SuiteRun | CheckResult:
    command = check.command
    assert command is not None  # the caller picked this runner for it
    junit = results_dir / JUNIT_NAME
    argv = render(command.argv, str(junit))
    env = _child_env(command, ctx, str(junit))
    cwd = _cwd(command, ctx)
    output = results_dir / "output.log"
    started = time.monotonic()
    with output.open("wb") as sink:
        try:
            # A session (and process group) of its own: on a timeout the whole tree the
            # suite started (servers, browsers, xdist workers) is killed, not only argv[0].
            process = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:  # FileNotFoundError, PermissionError: a retry fails alike
            return configuration_error_of(
                check,
                FAMILY,
                f"the suite's command cannot start: {argv[0]}: {exc.strerror or exc} "
                f"(cwd {cwd}, PATH {env.get('PATH', '')})",
                details={"argv": argv, "cwd": str(cwd)},
                started_at=started_at,
            )
        timed_out = _wait(process, check.timeout_s)
    elapsed_ms = round((time.monotonic() - started) * 1000, 3)
    tail = _tail(output, _tail_chars(check))
    if timed_out:
        return CheckResult.error_of(
            check,
            FAMILY,
            f"the suite timed out after {check.timeout_s:g} s (timeout_s); its process group "
            f"was killed. Output ends: {_last_line(tail)}",
            details={"exit_code": process.returncode, "output_tail": tail, "argv": argv},
            started_at=started_at,
            duration_ms=elapsed_ms,
        )
    return SuiteRun(process.returncode, tail, elapsed_ms, "command")


def _child_env(command: CommandSuite, ctx: RunContext, junit: str) -> dict[str, str]:
    env = {name: ctx.environ[name] for name in PASSED_THROUGH if name in ctx.environ}
    env.setdefault("PATH", os.defpath)
    env.update(resolve_env(command.env, ctx))
    env[JUNIT_ENV] = junit
    return env


def _cwd(command: CommandSuite, ctx: RunContext) -> Path:
    # Relative to the spec's folder, as the quality family's suite paths are: a spec and
    # the suites it names move together. A spec built in code (no file): the process's.
    source = ctx.spec.source
    base = source.resolve().parent if source is not None else Path.cwd()
    cwd = (base / command.cwd).resolve() if command.cwd else base
    if not cwd.is_dir():
        raise ConfigError(
            f"the suite's cwd {cwd} is not a folder",
            fix="`cwd` is relative to the spec file's folder",
        )
    return cwd


def _wait(process: subprocess.Popen[bytes], timeout_s: float) -> bool:
    """Wait for `process` up to `timeout_s`; True when it had to be killed. Either way no
    member of its process group is left running."""
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        return True
    # Whatever the suite started and left behind (a server its fixture forgot to stop)
    # goes with it: nothing a check started may outlive the check.
    _signal_group(process.pid, signal.SIGKILL)
    return False


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    _signal_group(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=KILL_GRACE_S)
    # The leader may have exited on SIGTERM while a child ignores it: the group is still
    # addressable by its id while any member lives.
    _signal_group(process.pid, signal.SIGKILL)
    process.wait()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    # ProcessLookupError: nothing of the group is left; PermissionError: a member changed
    # its user (setuid), nothing we may do about it.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _tail(path: Path, chars: int) -> str:
    """The last `chars` characters of the file at `path` (read from its end: output may
    be large), or "" when there is none."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - chars * 4))  # a UTF-8 character is at most 4 bytes
            data = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return _tail_of(data, chars)


def _tail_of(text: str, chars: int) -> str:
    if len(text) <= chars:
        return text
    marker = _CUT.format(n=len(text) - chars)
    return marker + text[-(chars - len(marker)) :]


def _tail_chars(check: SuiteCheck) -> int:
    # The spec's bound, and never more than the store keeps (see TRACE_CHARS).
    return min(check.output_tail_chars, MAX_EVIDENCE_STRING)


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no output)"


# --- a container -----------------------------------------------------------------------


def _run_container(
    check: SuiteCheck, ctx: RunContext, results_dir: Path, started_at: datetime
) -> SuiteRun | CheckResult:
    runner = ctx.container_runner
    if runner is None:
        return configuration_error_of(
            check,
            FAMILY,
            "container suites run through Airflow's DockerOperator; this run has none "
            "(vigil run outside Airflow)",
            started_at=started_at,
        )
    # The container's user is the image's, not the worker's: the folder (fresh, random,
    # gone after this run) must take its file whoever writes it.
    results_dir.chmod(0o777)
    started = time.monotonic()
    try:
        exit_code, output = runner(check, ctx, results_dir, JUNIT_NAME)
    except ConfigError:
        raise
    except Exception as exc:  # no Docker engine, an image that cannot be pulled, a timeout
        return CheckResult.error_of(
            check,
            FAMILY,
            f"the suite's container could not run: {exc or type(exc).__name__}",
            details={"image": check.container.image if check.container else ""},
            started_at=started_at,
            duration_ms=round((time.monotonic() - started) * 1000, 3),
        )
    elapsed_ms = round((time.monotonic() - started) * 1000, 3)
    return SuiteRun(
        int(exit_code), _tail_of(str(output), _tail_chars(check)), elapsed_ms, "container"
    )


def exit_code_of(message: str, default: int = 1) -> int:
    """The exit code DockerOperator's failure message carries, else `default`."""
    found = _STATUS_CODE.search(message)
    return int(found.group(1)) if found else default


# --- ingestion -------------------------------------------------------------------------


def ingest_junit(
    check: SuiteCheck, path: Path, ran: SuiteRun, started_at: datetime, ctx: RunContext
) -> list[CheckResult]:
    """The results of the JUnit XML at `path`: one per test case and the suite's summary,
    or one `error` when there is no readable JUnit XML there."""
    try:
        results = _case_results(check, _read_cases(path), started_at, ctx)
    except _BadJunit as exc:
        return [
            CheckResult.error_of(
                check,
                FAMILY,
                f"{exc} (exit {ran.exit_code}). Output ends: {_last_line(ran.output_tail)}",
                details={"exit_code": ran.exit_code, "output_tail": ran.output_tail},
                started_at=started_at,
                duration_ms=ran.duration_ms,
            )
        ]
    return [*results, _summary(check, results, ran, started_at)]


def _case_results(
    check: SuiteCheck, cases: list[TestCase], started_at: datetime, ctx: RunContext
) -> list[CheckResult]:
    """One result per case; _BadJunit when a field does not read (junitparser reads each
    attribute when asked: `time="soon"` fails only then)."""
    seen: Counter[tuple[str, str]] = Counter()
    results = []
    try:
        for case in cases:
            classname, name = ctx.mask(case.classname or ""), ctx.mask(case.name or "?")
            seen[(classname, name)] += 1
            repeat = seen[(classname, name)]
            case_id = f"{check.id}::{classname}::{name}" + (f"#{repeat}" if repeat > 1 else "")
            results.append(_case_result(check, case, case_id, started_at))
    except (ValueError, TypeError) as exc:
        raise _BadJunit(f"malformed JUnit XML: {exc}") from None
    return results


def _read_cases(path: Path) -> list[TestCase]:
    if not path.is_file():
        raise _BadJunit(f"the suite wrote no JUnit XML at {path}")
    size = path.stat().st_size
    if size == 0:
        raise _BadJunit(f"the suite wrote an empty JUnit XML file at {path}")
    if size > MAX_JUNIT_BYTES:
        raise _BadJunit(f"the suite's JUnit XML is {size} bytes, over {MAX_JUNIT_BYTES}")
    data = path.read_bytes()
    # JUnit XML needs no DTD; refusing one rules out entity expansion (and its tricks).
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise _BadJunit("malformed JUnit XML: it declares a DOCTYPE or entities")
    try:
        xml = JUnitXml.fromstring(data)
        return [case for suite in xml for case in suite]
    except (JUnitXmlError, SyntaxError, ValueError) as exc:  # ParseError is a SyntaxError
        raise _BadJunit(f"malformed JUnit XML: {exc}") from None


def _case_result(
    check: SuiteCheck, case: TestCase, case_id: str, started_at: datetime
) -> CheckResult:
    outcomes = case.result
    # An error outranks a failure (a test that failed and then broke its teardown).
    errors = [r for r in outcomes if isinstance(r, Error)]
    failures = [r for r in outcomes if isinstance(r, Failure)]
    skips = [r for r in outcomes if isinstance(r, Skipped)]
    details: dict[str, Any] = {"classname": case.classname or "", "name": case.name or ""}
    file = case._elem.attrib.get("file")  # not a junitparser field; xunit1 and others set it
    if file:
        details["file"] = file
    if errors or failures:
        first = (errors or failures)[0]
        status = Status.ERROR if errors else Status.FAILED
        message = _message_of(first, "error" if errors else "failed")
        details["trace"] = _tail_of(first.text or first.message or "", TRACE_CHARS)
    elif skips:
        status, message = Status.SKIPPED, _message_of(skips[0], "skipped")
    else:
        status, message = Status.PASSED, "passed"
    for key, text in (("system_out", case.system_out), ("system_err", case.system_err)):
        if text and text.strip():
            details[key] = _tail_of(text, STREAM_CHARS)
    return CheckResult.of(
        check,
        FAMILY,
        status,
        message,
        check_id=case_id,
        parent=check.id,
        started_at=started_at,
        duration_ms=round((case.time or 0.0) * 1000, 3),
        details=details,
    )


def _message_of(outcome: Error | Failure | Skipped, default: str) -> str:
    message = (outcome.message or "").strip() or _first_line(outcome.text) or default
    message = " ".join(message.split())
    return message if len(message) <= MESSAGE_CHARS else message[: MESSAGE_CHARS - 1] + "…"


def _first_line(text: str | None) -> str:
    return next((line.strip() for line in (text or "").splitlines() if line.strip()), "")


def _summary(
    check: SuiteCheck, cases: list[CheckResult], ran: SuiteRun, started_at: datetime
) -> CheckResult:
    counts = Counter(result.status for result in cases)
    failures, errors = counts[Status.FAILED], counts[Status.ERROR]
    skipped, passed = counts[Status.SKIPPED], counts[Status.PASSED]
    text = (
        f"{check.id}: {passed} passed, {failures} failed, {errors} errors, {skipped} skipped "
        f"in {ran.duration_ms / 1000:.1f} s (exit {ran.exit_code})"
    )
    if errors or not cases:
        status = Status.ERROR
        text += "" if cases else "; the JUnit XML holds no test case"
    elif failures:
        status = Status.FAILED
    elif ran.exit_code != 0:
        # Every case passed, yet the runner says something went wrong (an internal error,
        # an interrupted session, a collection error its report left out): not a pass.
        status = Status.ERROR
        text += "; the suite exited non-zero although no test case failed"
    else:
        status = Status.PASSED
    details: dict[str, Any] = {"runner": ran.runner}
    problems = [r.check_id for r in cases if r.is_problem]
    if problems:
        details["problems"] = problems
    if status is not Status.PASSED:
        details["output_tail"] = ran.output_tail
    return CheckResult.of(
        check,
        FAMILY,
        status,
        text,
        started_at=started_at,
        duration_ms=ran.duration_ms,
        observed={
            "tests": len(cases),
            "failures": failures,
            "errors": errors,
            "skipped": skipped,
            "exit_code": ran.exit_code,
            "duration_ms": ran.duration_ms,
        },
        details=details,
    )
