"""The `promql` check against a real Prometheus (Debian's package, installed when missing;
tests/support/prometheus.py) scraping, every second, a small aiohttp service that carries
the demo system's /metrics; and against servers that are not Prometheus, or answer as a
broken one would (tests/support/http_server.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from tests.support.http_server import LocalHttpServer
from tests.support.metrics_app import MetricsApp
from tests.support.prometheus import LocalPrometheus
from vigil.checks import promql
from vigil.checks.models import PromqlCheck
from vigil.config_errors import is_configuration_error
from vigil.context import RunContext
from vigil.result import CheckResult, Status
from vigil.spec.models import Checks, HttpTarget, PrometheusTarget, Spec
from vigil.stack.postgres import free_port

pytestmark = pytest.mark.integration

TOKEN = "prom-3be0f1c27a"
ENVIRON = {"PROM_TOKEN": TOKEN}
FAILS = 'sum(http_requests_total{status="500"})'


@pytest.fixture(scope="module")
def prom() -> Iterator[LocalPrometheus]:
    with MetricsApp("orders-api") as app:
        app.hit("/fail", 3)
        app.hit("/ok", 5)
        with LocalPrometheus({"orders": app.address}) as server:
            _wait_for(server, FAILS, 3.0)
            yield server


def _wait_for(server: LocalPrometheus, query: str, value: float, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = server.query(query)
        if result and float(result[0]["value"][1]) >= value:
            return
        time.sleep(0.2)
    raise AssertionError(f"{query} did not reach {value} within {timeout_s}s")


def _run(base_url: str, headers: dict[str, str] | None = None, **fields: Any) -> CheckResult:
    fields.setdefault("timeout_s", 5)
    check = PromqlCheck(kind="promql", id="q", target="prom", **fields)
    target = PrometheusTarget(kind="prometheus", base_url=base_url, headers=headers or {})
    spec = Spec(environment="test", targets={"prom": target}, checks=Checks(health=[check]))
    [result] = promql.run(check, RunContext(spec, environ=dict(ENVIRON)))
    assert result.family == "health" and result.check_kind == "promql"
    return result


def test_every_scraped_target_is_up(prom: LocalPrometheus) -> None:
    result = _run(prom.base_url, query='up{job="orders"}', conditions=["value == 1", "count == 1"])
    assert result.status is Status.PASSED, result.message
    assert "answered in" in result.message and "1 series; 2 conditions hold" in result.message
    [series] = result.details["result"]
    assert series["series"].startswith('up{instance="127.0.0.1:') and series["value"] == 1


def test_a_value_over_its_threshold_fails_naming_it(prom: LocalPrometheus) -> None:
    result = _run(prom.base_url, query=FAILS, conditions=["value < 1", "max < 1000"])
    assert result.status is Status.FAILED
    assert "value < 1 does not hold for 1 of 1 series: {} = 3" in result.message
    assert [c["ok"] for c in result.details["conditions"]] == [False, True]


def test_a_rate_below_its_threshold_passes(prom: LocalPrometheus) -> None:
    query = 'sum(rate(http_requests_total{status=~"5.."}[1m])) or vector(0)'
    result = _run(prom.base_url, query=query, conditions=["value < 1"])
    assert result.status is Status.PASSED, result.message


def test_an_empty_result_fails_unless_allowed(prom: LocalPrometheus) -> None:
    empty = _run(prom.base_url, query='up{job="billing"}', conditions=["value == 1"])
    assert empty.status is Status.FAILED
    assert "the result is empty (no series)" in empty.message
    allowed = _run(
        prom.base_url, query='up{job="billing"}', allow_empty=True, conditions=["count == 0"]
    )
    assert allowed.status is Status.PASSED, allowed.message


def test_a_scalar_result_is_one_value(prom: LocalPrometheus) -> None:
    result = _run(prom.base_url, query='scalar(up{job="orders"}) * 2', conditions=["value == 2"])
    assert result.status is Status.PASSED, result.message


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("up ==", "Prometheus refused the query: "),
        ("up[1m]", "the query returns a range vector (matrix)"),
        ('"text"', "the query returns a string"),
    ],
    ids=["malformed", "range-vector", "string"],
)
def test_a_query_prometheus_cannot_answer_as_asked_is_a_configuration_error(
    prom: LocalPrometheus, query: str, words: str
) -> None:
    result = _run(prom.base_url, query=query)
    assert result.status is Status.ERROR and is_configuration_error(result), result.message
    assert words in result.message


def test_an_unreachable_prometheus_is_an_error() -> None:
    result = _run(f"http://127.0.0.1:{free_port()}", query="up")
    assert result.status is Status.ERROR and not is_configuration_error(result)
    assert "connection refused" in result.message


@pytest.mark.parametrize(
    ("route", "words"),
    [
        ({"body": "<html>Grafana</html>"}, "body that is not JSON (not the Prometheus query API?)"),
        ({"json": {"hello": "world"}}, "JSON that is not a query result"),
        (
            {"status": 503, "json": {"status": "error", "errorType": "unavailable", "error": "x"}},
            "Prometheus could not run the query (unavailable): x",
        ),
        ({"status": 502, "body": "Bad Gateway"}, "answered 502 with a body that is not JSON"),
        (
            {"json": {"status": "success", "data": {"resultType": "vector", "result": [{}]}}},
            "the result is malformed (KeyError",
        ),
        (
            {
                "json": {"status": "success", "data": {"resultType": "vector", "result": []}},
                "delay_s": 3,
            },
            "no answer within 2s",
        ),
    ],
    ids=["html", "other-json", "unavailable", "bad-gateway", "malformed-result", "too-slow"],
)
def test_a_server_that_is_not_or_not_quite_prometheus_is_an_error(
    route: dict[str, Any], words: str
) -> None:
    with LocalHttpServer() as server:
        server.route("/api/v1/query", **route)
        result = _run(server.base_url, query="up", timeout_s=2)
    assert result.status is Status.ERROR and not is_configuration_error(result), result.message
    assert words in result.message


def test_a_prometheus_behind_a_token_gets_it_and_it_stays_masked() -> None:
    answer = {
        "status": "success",
        "data": {"resultType": "vector", "result": [
            {"metric": {"__name__": "up", "job": "orders"}, "value": [1, "0"]},
        ]},
    }  # fmt: skip
    with LocalHttpServer() as server:
        server.route("/api/v1/query", json=answer, authorization=f"Bearer {TOKEN}")
        result = _run(
            server.base_url,
            headers={"Authorization": "Bearer ${PROM_TOKEN}"},
            query='up{job="orders"}',
            conditions=["value == 1"],
        )
        sent = server.requests[-1]
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert result.status is Status.FAILED
    assert 'value == 1 does not hold for 1 of 1 series: up{job="orders"} = 0' in result.message
    assert TOKEN not in json.dumps(result.to_row())


def test_a_promql_check_on_an_http_target_is_a_configuration_error() -> None:
    check = PromqlCheck(kind="promql", id="q", target="web", query="up")
    # The spec refuses it when it loads (spec/references.py); the runner still guards a
    # check handed to it with a spec that never declared it.
    with pytest.raises(ValidationError, match="a 'promql' check needs a 'prometheus' target"):
        Spec(
            environment="test",
            targets={"web": HttpTarget(kind="http", base_url="http://127.0.0.1:1")},
            checks=Checks(health=[check]),
        )
    spec = Spec(
        environment="test", targets={"web": HttpTarget(kind="http", base_url="http://127.0.0.1:1")}
    )
    [result] = promql.run(check, RunContext(spec, environ={}))
    assert result.status is Status.ERROR and is_configuration_error(result)
    assert "a 'promql' check needs a 'prometheus' target" in result.message
