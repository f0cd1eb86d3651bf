"""Spec models built directly (not through the loader), and their field validators."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from pydantic import ValidationError

from vigil.context import RunContext
from vigil.spec.errors import Problem, SpecError, format_path, format_problems
from vigil.spec.introspect import allowed_keys, union_tags
from vigil.spec.models import TARGET_KINDS, Cadence, HttpTarget, Spec, TcpTarget, is_env_reference
from vigil.spec.validators import check_cron, split_address

pytestmark = pytest.mark.unit


def spec(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "environment": "shop",
        "targets": {
            "orders": {"kind": "http", "base_url": "http://127.0.0.1:18081"},
            "cache": {"kind": "tcp", "address": "127.0.0.1:6379"},
        },
        "checks": {"health": [{"id": "orders-up", "kind": "http", "target": "orders"}]},
    }
    data.update(overrides)
    return data


def test_direct_construction_still_refuses_dangling_references() -> None:
    data = spec(
        checks={
            "health": [
                {"id": "a", "kind": "http", "target": "nowhere"},
                {"id": "a", "kind": "http", "target": "cache"},
            ]
        }
    )
    with pytest.raises(ValidationError) as caught:
        Spec.model_validate(data)
    text = str(caught.value)
    assert "checks.health[0].target: unknown target 'nowhere'" in text
    assert "checks.health[1].id: duplicate check id 'a'" in text
    assert "checks.health[1].kind: a 'http' check needs a 'http' target" in text


def test_direct_construction_refuses_depends_on_cycles() -> None:
    targets = {
        "a": {"kind": "tcp", "address": "h:1", "depends_on": ["b"]},
        "b": {"kind": "tcp", "address": "h:2", "depends_on": ["a"]},
    }
    with pytest.raises(ValidationError, match="dependency cycle: a -> b -> a"):
        Spec.model_validate(spec(targets=targets, checks={}))


def test_valid_spec_constructs() -> None:
    built = Spec.model_validate(spec())
    assert built.targets_with_checks("health") == ["orders"]
    assert built.schedules.daily.cron == "0 6 * * *"


def test_target_kinds_follow_the_union() -> None:
    assert TARGET_KINDS[:4] == ("http", "postgres", "tcp", "container")
    assert "prometheus" in TARGET_KINDS
    assert union_tags(Spec, ("targets", "x")) == TARGET_KINDS


def test_allowed_keys_follow_the_model_through_the_union_tag() -> None:
    assert set(allowed_keys(Spec, ("targets", "x", "tcp"))) == {
        "kind",
        "address",
        "depends_on",
        "description",
    }
    assert "timeout_s" in allowed_keys(Spec, ("checks", "health", 0, "http"))
    assert allowed_keys(Spec, ("checks", "health", 0, "http", "timeout_s")) == ()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:18081",
        "https://orders.internal/api",
        "${DEMO_ORDERS_URL}",
        "${DEMO_ORDERS_URL:-http://127.0.0.1:18081}",
        "http://${ORDERS_HOST}:8080",
        "https://user:${ORDERS_PASSWORD}@orders.internal",
    ],
)
def test_base_url_accepts_urls_and_references(url: str) -> None:
    assert HttpTarget(kind="http", base_url=url).base_url == url


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("orders.internal", "is not an http(s) URL"),
        ("ftp://files", "is not an http(s) URL"),
        ("${URL:-orders:80}", "the default 'orders:80'"),
        ("https://user:hunter2@orders.internal", "literal password"),
        ("${URL:-https://user:hunter2@orders.internal}", "literal password"),
    ],
)
def test_base_url_refusals(url: str, fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        HttpTarget(kind="http", base_url=url)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1:5432",
        "db.internal:1",
        "[::1]:80",
        "${CACHE_ADDR}",
        "${CACHE_ADDR:-cache:6379}",
        "${CACHE_HOST}:6379",
        "cache:${CACHE_PORT:-6379}",
    ],
)
def test_tcp_address_accepts(address: str) -> None:
    assert TcpTarget(kind="tcp", address=address).address == address


@pytest.mark.parametrize(
    "address",
    ["localhost", "host:0", "host:65536", "host:http", ":80", "::1:80", "a b:80", "${A:-nohost}"],
)
def test_tcp_address_refuses(address: str) -> None:
    with pytest.raises(ValidationError, match=r"host:port|port must be"):
        TcpTarget(kind="tcp", address=address)


def test_split_address_after_resolving_the_reference() -> None:
    ctx = RunContext(spec=Spec.model_validate(spec()), environ={"CACHE_ADDR": "10.0.0.5:7000"})
    assert split_address(ctx.resolve("${CACHE_ADDR:-127.0.0.1:6379}")) == ("10.0.0.5", 7000)
    assert split_address(RunContext(spec=ctx.spec, environ={}).resolve("${X:-h:1}")) == ("h", 1)
    assert split_address("[::1]:80") == ("::1", 80)


@pytest.mark.parametrize(
    "cron",
    [
        "0 6 * * *",
        "*/15 * * * *",
        "0 7 * * MON",
        "0 8 1 * *",
        "0 0 L * *",
        "0 9 * * 1#2",
        "0 6 * JAN-MAR mon-fri",
        "5,35 0-23/2 * * 7",
        "@daily",
        "@monthly",
        "@yearly",
    ],
)
def test_cron_accepts(cron: str) -> None:
    assert Cadence(cron=cron).cron == cron


@pytest.mark.parametrize(
    ("cron", "fragment"),
    [
        ("0 6 * *", "has 4 fields"),
        ("60 * * * *", "minute '60' is out of range 0-59"),
        ("0 24 * * *", "hour '24'"),
        ("0 0 0 * *", "day of month '0'"),
        ("0 0 * 13 *", "month '13'"),
        ("0 0 * * 8", "day of week '8'"),
        ("0 0 * * FUNDAY", "day of week 'FUNDAY'"),
        ("*/0 * * * *", "step after '/'"),
        ("@fortnightly", "unknown cron macro"),
    ],
)
def test_cron_refuses(cron: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        check_cron(cron)


def test_is_env_reference() -> None:
    assert is_env_reference("${A}") and is_env_reference(" ${A:-x} ")
    assert not is_env_reference("http://${A}") and not is_env_reference("$A")


def test_format_path() -> None:
    assert format_path(("checks", "health", 2, "timeout_s")) == "checks.health[2].timeout_s"
    assert format_path(("targets", "my svc")) == "targets['my svc']"
    assert format_path(()) == ""


def test_spec_error_survives_pickling_and_renders_every_problem() -> None:
    problems = [
        Problem("a.yaml", 3, 5, "targets.x", "one", source_line="  x: 1", hint="fix it"),
        Problem("a.yaml", None, None, "", "two"),
    ]
    error = pickle.loads(pickle.dumps(SpecError(problems)))
    assert error.problems == problems
    assert (
        str(error)
        == format_problems(problems)
        == ("a.yaml:3:5: targets.x: one — fix it\n  3 |   x: 1\n    |     ^\na.yaml: two")
    )
