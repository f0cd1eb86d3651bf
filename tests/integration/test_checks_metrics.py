"""The `metrics` check against real HTTP servers on 127.0.0.1: a small aiohttp service
carrying the demo system's /metrics (demo/metrics.py, prometheus_client), and
tests/support/http_server.py for servers that answer badly (an error status, HTML, an
empty page, nothing at all)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from tests.support.http_server import LocalHttpServer
from tests.support.metrics_app import MetricsApp
from vigil.checks import HEALTH, metrics, run_checks
from vigil.checks.models import MetricsCheck
from vigil.config_errors import is_configuration_error
from vigil.context import RunContext
from vigil.result import CheckResult, Status
from vigil.spec.models import Checks, HttpTarget, PostgresTarget, Spec
from vigil.stack.postgres import free_port

pytestmark = pytest.mark.integration

TOKEN = "scrape-7d41c0aa93"
ENVIRON = {"SCRAPE_TOKEN": TOKEN}
ERROR_RATIO = 'rate(http_requests_total{status=~"5.."}) / rate(http_requests_total) < 0.01'
MOVED = 'sum(rate(http_requests_total{route!="/metrics"})) > 0'
FAILS, OKS = 'http_requests_total{route="/fail"}', 'http_requests_total{route="/ok"}'


@pytest.fixture(scope="module")
def app() -> Iterator[MetricsApp]:
    with MetricsApp("orders-api") as service:
        yield service


def _run(base_url: str, headers: dict[str, str] | None = None, **fields: Any) -> CheckResult:
    fields.setdefault("timeout_s", 4)
    fields.setdefault("rate_interval_s", 1)
    check = MetricsCheck(kind="metrics", id="m", target="api", **fields)
    target = HttpTarget(kind="http", base_url=base_url, headers=headers or {})
    spec = Spec(environment="test", targets={"api": target}, checks=Checks(health=[check]))
    [result] = metrics.run(check, RunContext(spec, environ=dict(ENVIRON)))
    assert result.family == "health" and result.check_kind == "metrics"
    return result


def test_a_service_answering_well_and_moving_passes(app: MetricsApp) -> None:
    with app.traffic("/ok"):
        result = _run(app.base_url, conditions=[MOVED, ERROR_RATIO])
    assert result.status is Status.PASSED, result.message
    assert "scraped twice 1.0s apart; 2 conditions hold" in result.message
    assert result.observed["interval_s"] == pytest.approx(1.0, abs=0.3)
    moved = result.details["conditions"][0]
    assert moved["ok"] is True and moved["value"] > 0


def test_errors_over_the_budget_fail_naming_the_rates(app: MetricsApp) -> None:
    with app.traffic("/fail", every_s=0.05), app.traffic("/ok", every_s=0.05):
        result = _run(
            app.base_url,
            conditions=[ERROR_RATIO, 'sum(http_requests_total{status="500"}) == 0'],
        )
    assert result.status is Status.FAILED
    assert f"{ERROR_RATIO} does not hold: " in result.message
    assert 'rate(http_requests_total{status=~"5.."}) = ' in result.message
    assert 'sum(http_requests_total{status="500"}) == 0 does not hold' in result.message


def test_a_series_that_breaks_its_condition_is_named_with_its_value(app: MetricsApp) -> None:
    app.hit("/fail", 2)
    result = _run(app.base_url, conditions=['http_requests_total{route="/fail"} == 0'])
    assert result.status is Status.FAILED
    assert (
        'http_requests_total{method="GET",route="/fail",service="orders-api",status="500"} = '
        in result.message
    )
    series = result.details["conditions"][0]["series"]
    assert series[0]["value"] >= 2


def test_a_counter_that_did_not_move_fails() -> None:
    with MetricsApp("idle-api") as idle:
        idle.hit("/ok")
        result = _run(idle.base_url, conditions=[MOVED])
    assert result.status is Status.FAILED
    assert result.message.endswith(f"{MOVED} does not hold: 0")


def test_a_metric_that_is_not_exported_fails_with_a_hint(app: MetricsApp) -> None:
    result = _run(app.base_url, conditions=["sum(http_request_total) > 0"])
    assert result.status is Status.FAILED
    assert "no metric named 'http_request_total' in the scrape" in result.message
    assert "did you mean 'http_requests_total'?" in result.message


def test_no_traffic_between_the_scrapes_cannot_judge_a_ratio(app: MetricsApp) -> None:
    result = _run(
        app.base_url,
        conditions=[f"rate({FAILS}) / rate({OKS}) < 1"],
    )
    assert result.status is Status.ERROR
    assert 'division by zero: rate(http_requests_total{route="/ok"}) is 0' in result.message


@pytest.mark.parametrize(
    ("route", "words"),
    [
        ({"status": 503, "json": {"error": "down"}}, "answered 503, expected 200 with metrics"),
        ({"body": "<html><body>Login</body></html>"}, "not the Prometheus exposition format"),
        ({"body": ""}, "the body holds no metrics"),
        ({"body": 'up{job="x" 1\n'}, "not the Prometheus exposition format"),
        ({"body": "up 1\n", "delay_s": 3}, "no answer within 2s"),
    ],
    ids=["error-status", "html", "empty", "broken-line", "too-slow"],
)
def test_a_malformed_or_failing_endpoint_is_an_error_with_the_reason(
    route: dict[str, Any], words: str
) -> None:
    with LocalHttpServer() as server:
        server.route("/metrics", **route)
        result = _run(server.base_url, timeout_s=2, conditions=["up == 1"])
    assert result.status is Status.ERROR
    assert words in result.message


def test_an_unreachable_server_is_an_error_not_a_crash() -> None:
    result = _run(f"http://127.0.0.1:{free_port()}", conditions=[ERROR_RATIO])
    assert result.status is Status.ERROR
    assert "connection refused" in result.message


def test_openmetrics_is_read_when_the_server_answers_it() -> None:
    body = '# TYPE jobs counter\njobs_total{queue="a"} 3\n# EOF\n'
    with LocalHttpServer() as server:
        server.route(
            "/metrics",
            body=body,
            headers={"Content-Type": "application/openmetrics-text; version=1.0.0"},
        )
        result = _run(server.base_url, conditions=['jobs_total{queue="a"} == 3'])
    assert result.status is Status.PASSED, result.message


def test_credentials_in_headers_and_the_path_are_sent_and_masked() -> None:
    with LocalHttpServer() as server:
        server.route("/metrics", status=200, body="up 0\n", authorization=f"Bearer {TOKEN}")
        result = _run(
            server.base_url,
            headers={"Authorization": "Bearer ${SCRAPE_TOKEN}"},
            path="/metrics?token=${SCRAPE_TOKEN}",
            conditions=["up == 1"],
        )
        assert server.requests[-1].headers["Authorization"] == f"Bearer {TOKEN}"
    assert result.status is Status.FAILED  # it got in: up is 0
    assert "up == 1 does not hold for 1 of 1 series: up = 0" in result.message
    row = json.dumps(result.to_row())
    assert TOKEN not in row and "token=***" in row


def test_a_metrics_check_on_a_target_of_another_kind_is_a_configuration_error() -> None:
    check = MetricsCheck(kind="metrics", id="m", target="db")
    # The spec refuses it when it loads (spec/references.py); the runner still guards a
    # check handed to it with a spec that never declared it.
    with pytest.raises(ValidationError, match="a 'metrics' check needs a 'http' target"):
        Spec(
            environment="test",
            targets={"db": PostgresTarget(kind="postgres", conn_id="db")},
            checks=Checks(health=[check]),
        )
    spec = Spec(environment="test", targets={"db": PostgresTarget(kind="postgres", conn_id="db")})
    [result] = metrics.run(check, RunContext(spec, environ={}))
    assert result.status is Status.ERROR and is_configuration_error(result)
    assert "a 'metrics' check needs a 'http' target" in result.message


def test_the_family_runs_it_among_the_health_checks(app: MetricsApp) -> None:
    assert {"metrics", "promql"} <= set(HEALTH.kinds)
    check = MetricsCheck(kind="metrics", id="m", target="api", conditions=["sum(up_x) >= 0"])
    target = HttpTarget(kind="http", base_url=app.base_url)
    spec = Spec(environment="test", targets={"api": target}, checks=Checks(health=[check]))
    [result] = run_checks([check], RunContext(spec, environ={}))
    assert result.status is Status.FAILED and "no metric named 'up_x'" in result.message
