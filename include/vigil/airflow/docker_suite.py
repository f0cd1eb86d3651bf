"""Container test suites through Airflow's DockerOperator: `ctx.container_runner`.

`vigil.scenarios.suites` runs a `suite` whose `container` is set by calling
`run_container(check, ctx, results_dir, junit_name)`; the Airflow task puts it in the run
context (outside Airflow there is none and such a suite is an `error`). It builds a
DockerOperator for the suite and executes it inside the scenario's own task:

- the results folder (made by the suite runner for this run) is bind-mounted at the
  spec's `results_dir`; `{{junit_xml}}` in the command (and VIGIL_JUNIT_XML) is the file
  inside it, which the suite runner reads once the container has exited;
- `env` is resolved from the worker's environment as any `${VAR}`; values whose name
  says they are credentials go in `private_environment` (never templated, never shown
  in Airflow's rendered fields);
- a non-zero exit (tests failed) is not an exception here: the exit code and the log's
  tail are returned, so the JUnit XML of a failing run is still ingested;
- the operator writes the container's output to the task log line by line: every line
  passes the run's masker first (a suite may print the very token it was given).

`execute(context)` is called directly, not by Airflow's task runner, so template fields
are never rendered: `command` and `environment` are final when built, and braces left in
them (a test name, a JSON argument) are not read as Jinja. Airflow logs a warning that
DockerOperator.execute runs "outside of the Task Runner": an operator nested in our
task, which Airflow allows (`allow_nested_operators`, on by default).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from airflow.providers.common.compat.sdk import AirflowException
from airflow.providers.docker.exceptions import DockerContainerFailedException
from airflow.providers.docker.operators.docker import DockerOperator
from docker import APIClient
from docker.errors import DockerException
from docker.types import Mount

from vigil.scenarios.models import SuiteCheck
from vigil.scenarios.suites import JUNIT_ENV, exit_code_of, render, resolve_env
from vigil.spec.secret_shapes import is_secret_name

if TYPE_CHECKING:
    from airflow.sdk import Context

    from vigil.context import RunContext

__all__ = ["DockerUnreachable", "SuiteOperator", "build_operator", "run_container"]

# The Docker API's own bound per call (create, start, inspect): the container's run is
# bounded by the suite's timeout (`run_container`), not by this.
API_TIMEOUT_S = 60
# After a timeout, how long stopping the container may take before we give up on it.
STOP_WAIT_S = 20.0


class DockerUnreachable(RuntimeError):
    """No Docker engine answers at the suite's `docker_url`."""


class SuiteOperator(DockerOperator):
    """A DockerOperator whose log (the container's output among it) is masked."""

    def __init__(self, *, mask: Callable[[str], str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._mask = mask

    @property
    def log(self) -> Any:
        mask = getattr(self, "_mask", None)  # None while the base class initialises
        return super().log if mask is None else _MaskedLog(super().log, mask)


class _MaskedLog:
    """A logger whose messages and their text arguments pass `mask` before it sees them."""

    def __init__(self, log: Any, mask: Callable[[str], str]) -> None:
        self._log, self._mask = log, mask

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._log, name)
        if not callable(found):
            return found

        def masked(*args: Any, **kwargs: Any) -> Any:
            return found(
                *(self._shown(a) for a in args), **{k: self._shown(v) for k, v in kwargs.items()}
            )

        return masked

    def _shown(self, value: Any) -> Any:
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        return self._mask(value) if isinstance(value, str) else value


def build_operator(
    check: SuiteCheck, ctx: RunContext, results_dir: Path, junit_name: str
) -> DockerOperator:
    """The DockerOperator that runs `check`'s container with `results_dir` mounted."""
    spec = check.container
    if spec is None:
        raise ValueError(f"suite {check.id!r} has no container to run")
    junit_in_container = f"{spec.results_dir.rstrip('/')}/{junit_name}"
    resolved = resolve_env(spec.env, ctx)
    public = {k: v for k, v in resolved.items() if not is_secret_name(k)}
    private = {k: v for k, v in resolved.items() if is_secret_name(k)}
    return SuiteOperator(
        mask=ctx.masker.mask,
        task_id=f"suite_{check.id}",
        image=spec.image,
        command=render(spec.command, junit_in_container),
        environment={**public, JUNIT_ENV: junit_in_container},
        private_environment=private,
        mounts=[Mount(target=spec.results_dir, source=str(results_dir), type="bind")],
        docker_url=spec.docker_url,
        network_mode=spec.network_mode,
        # Removed when it passed; kept after a failure, for `docker logs` (and its
        # stdout is in the result's output tail anyway).
        auto_remove="success",
        # The results folder is our only mount: the operator's own host temp folder
        # fails on a remote engine and nothing here needs it.
        mount_tmp_dir=False,
        timeout=min(API_TIMEOUT_S, max(1, math.ceil(check.timeout_s))),
        execution_timeout=timedelta(seconds=check.timeout_s),
        # `execute` returns every log line (not only the last), for the output's tail.
        do_xcom_push=True,
        xcom_all=True,
    )


def run_container(
    check: SuiteCheck, ctx: RunContext, results_dir: Path, junit_name: str
) -> tuple[int, str]:
    """Run `check`'s container to its end: (exit code, the log's text).

    Raises DockerUnreachable when no engine answers, TimeoutError when the container
    outlives the suite's `timeout_s` (it is stopped), and whatever the engine answers
    otherwise (an image that cannot be pulled): the suite runner makes each an `error`.
    """
    operator = build_operator(check, ctx, results_dir, junit_name)
    try:
        operator.hook.api_client  # noqa: B018 (connects and pings: fail here, clearly)
    except AirflowException:
        url = str(operator.docker_url)
        raise DockerUnreachable(
            f"Docker is unreachable at {url}: {_why_unreachable(url)} (is the Docker engine "
            "running, and its socket mounted into the worker?)"
        ) from None
    return _execute_bounded(operator, check.timeout_s)


def _why_unreachable(url: str) -> str:
    # The hook only logs why it could not connect and raises "Failed to establish
    # connection to any given Docker hosts"; one more attempt recovers the reason.
    try:
        APIClient(base_url=url, timeout=5).ping()
    except DockerException as exc:
        return str(exc)
    return "it did not answer the hook's ping"


def _execute_bounded(operator: DockerOperator, timeout_s: float) -> tuple[int, str]:
    # DockerOperator waits for the container without a bound, and `execution_timeout`
    # only applies when Airflow's task runner runs the operator: bound it here.
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["logs"] = operator.execute(cast("Context", {}))
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=target, name=f"vigil-{operator.task_id}", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        operator.on_kill()  # stops the container; its wait then returns
        worker.join(STOP_WAIT_S)
        raise TimeoutError(
            f"the container ran past the suite's timeout_s={timeout_s:g} s and was stopped"
        )
    error = outcome.get("error")
    if isinstance(error, DockerContainerFailedException):
        # Tests failed (or the runner broke): the JUnit XML may well be there.
        return exit_code_of(str(error)), _text(error.logs) or str(error)
    if isinstance(error, AirflowException):
        return 1, str(error)
    if error is not None:
        raise error
    return 0, _text(outcome.get("logs"))


def _text(logs: Any) -> str:
    if logs is None:
        return ""
    lines = logs if isinstance(logs, list) else [logs]
    return "\n".join(
        line.decode("utf-8", errors="replace") if isinstance(line, bytes) else str(line)
        for line in lines
    )
