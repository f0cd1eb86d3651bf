"""A configuration problem found at run time fails its task at once, saying what to fix;
an unreachable target is retried (ADR 0002). The task callable runs for real here: the
spec from a file, the results store in the `pg` PostgreSQL, Airflow's connection lookup
(`AIRFLOW_CONN_*`), a closed port and a real HTTP server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.definitions.retry_policy import RetryAction
from airflow.sdk.exceptions import AirflowFailException

from tests.support.http_server import LocalHttpServer
from vigil.airflow import tasks
from vigil.batch import run_batch
from vigil.config_errors import ConfigError, is_configuration_error
from vigil.context import RunContext
from vigil.result import CheckResult, Status
from vigil.results.store import ResultStore, RunRef
from vigil.spec.errors import SpecError
from vigil.spec.models import Spec
from vigil.stack.postgres import free_port

pytestmark = pytest.mark.integration

SPEC = """\
environment: misconf
targets:
  api:
    kind: http
    base_url: {api}
    headers:
      Authorization: Bearer ${{MISCONF_TOKEN_NOT_SET}}
  reports:
    kind: http
    base_url: {api}
  closed:
    kind: http
    base_url: http://127.0.0.1:{closed}
  mixed:
    kind: http
    base_url: http://127.0.0.1:{closed}
checks:
  health:
    - {{id: api-health, kind: http, target: api, path: /health, timeout_s: 2}}
    - id: reports-deps
      kind: http
      target: reports
      path: /health
      check_dependencies: true
      timeout_s: 2
    - {{id: closed-health, kind: http, target: closed, path: /health, timeout_s: 2}}
    - {{id: mixed-refused, kind: http, target: mixed, path: /health, timeout_s: 2}}
    - id: mixed-unset
      kind: http
      target: mixed
      path: /health
      headers: {{X-Api-Key: "${{MISCONF_KEY_NOT_SET}}"}}
      timeout_s: 2
"""


@pytest.fixture
def spec_path(
    tmp_path: Path, fresh_db: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, str]]:
    monkeypatch.setenv("AIRFLOW_CONN_VIGIL_RESULTS", fresh_db)
    monkeypatch.delenv("MISCONF_TOKEN_NOT_SET", raising=False)
    monkeypatch.delenv("MISCONF_KEY_NOT_SET", raising=False)
    with LocalHttpServer() as server:
        server.route("/health", json={"status": "ok"})
        path = tmp_path / "misconf.yaml"
        path.write_text(SPEC.format(api=server.base_url, closed=free_port()))
        yield path, fresh_db


def _context(run_id: str) -> dict[str, Any]:
    return {"dag_run": SimpleNamespace(dag_id="misconf_daily", run_id=run_id), "params": {}}


def _task(path: Path, target: str, run_id: str = "manual__1") -> None:
    tasks.run_target_checks(str(path), "daily", "health", target, **_context(run_id))


def _recorded(dsn: str, target: str, run_id: str = "manual__1") -> list[CheckResult]:
    run = RunRef("misconf", "daily", "misconf_daily", run_id)
    return ResultStore(dsn).results_of(run, family="health", targets=[target])


def test_a_variable_not_set_fails_the_task_without_retry_saying_what_to_fix(
    spec_path: tuple[Path, str],
) -> None:
    path, dsn = spec_path
    with pytest.raises(tasks.ChecksMisconfigured) as caught:
        _task(path, "api")
    # Airflow never retries an AirflowFailException (the retry policy is not consulted).
    assert isinstance(caught.value, AirflowFailException)
    message = str(caught.value)
    assert "1 critical health check(s) of api cannot run as configured: api-health" in message
    assert "not retried, fix the configuration and clear the task" in message
    assert "environment variable MISCONF_TOKEN_NOT_SET is not set; set MISCONF_TOKEN_NOT_SET" in (
        message
    )
    [result] = _recorded(dsn, "api")
    assert result.status is Status.ERROR and is_configuration_error(result)


def test_a_body_without_the_dependency_report_is_not_retried(
    spec_path: tuple[Path, str],
) -> None:
    path, _dsn = spec_path
    with pytest.raises(tasks.ChecksMisconfigured, match="drop check_dependencies"):
        _task(path, "reports")


def test_an_unreachable_target_is_retried(spec_path: tuple[Path, str]) -> None:
    path, _dsn = spec_path
    with pytest.raises(tasks.ChecksErrored, match="connection refused") as caught:
        _task(path, "closed")
    assert not isinstance(caught.value, AirflowFailException)
    decision = tasks.retry_policy().evaluate(caught.value, try_number=1, max_tries=3)
    assert decision.action is RetryAction.RETRY


def test_a_transient_error_beside_a_configuration_error_is_still_retried(
    spec_path: tuple[Path, str],
) -> None:
    path, dsn = spec_path
    with pytest.raises(tasks.ChecksErrored, match=r"1 critical check\(s\) errored: mixed-refused"):
        _task(path, "mixed")
    statuses = {r.check_id: is_configuration_error(r) for r in _recorded(dsn, "mixed")}
    assert statuses == {"mixed-refused": False, "mixed-unset": True}


def test_configuration_problems_outside_a_check_are_not_retried(
    spec_path: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _dsn = spec_path
    policy = tasks.retry_policy()
    monkeypatch.delenv("AIRFLOW_CONN_VIGIL_RESULTS")  # the results store is not defined
    with pytest.raises(ConfigError) as caught:
        _task(path, "closed")
    assert policy.evaluate(caught.value, try_number=1, max_tries=3).action is RetryAction.FAIL
    path.write_text("environment: misconf\ntargets: {api: {kind: nope}}\n")  # broke since parse
    with pytest.raises(SpecError) as broken:
        _task(path, "closed")
    assert policy.evaluate(broken.value, try_number=1, max_tries=3).action is RetryAction.FAIL
    other = policy.evaluate(RuntimeError("?"), try_number=1, max_tries=3)
    assert other.action is RetryAction.DEFAULT


def test_the_batch_runner_marks_a_config_error_a_runner_lets_escape() -> None:
    def leaky(check: Any, ctx: RunContext) -> list[CheckResult]:
        raise ConfigError("suite file x.json not found", fix="add it under expectations/")

    check = SimpleNamespace(id="q", target="db", kind="leaky", timeout_s=2)
    ctx = RunContext(Spec(environment="t", targets={}), environ={})
    [result] = run_batch([check], ctx, {"leaky": leaky}, "quality")
    assert result.status is Status.ERROR and is_configuration_error(result)
    assert result.message == (
        "configuration problem: suite file x.json not found; add it under expectations/"
    )
