"""The journey engine's pure parts: conditions with templates, captures, a parallel step's
verdicts, the WebSocket expectations, the trace's masking and cutting, requests as built
from a spec (nothing sent), and the transport's request bytes."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import httptools
import pytest
import requests
from requests.structures import CaseInsensitiveDict

from vigil.context import RunContext
from vigil.http_client import Request, Response
from vigil.masking import Masker
from vigil.result import Status
from vigil.scenarios import engine, steps_http, steps_parallel, steps_sql, trace, wire
from vigil.scenarios.expect import (
    NO_DOCUMENT,
    Judgement,
    body_document,
    capture,
    compiled,
    judge,
    rendered,
    secret_values,
    status_problem,
)
from vigil.scenarios.models import Capture, JourneyCheck, Messages, ParallelExpect, Step
from vigil.scenarios.steps_parallel import CopyResult
from vigil.scenarios.steps_ws import (
    Message,
    match_any_order,
    match_in_order,
    missing_values,
    seen_text,
    watch_for,
)
from vigil.scenarios.templating import BUILTINS, TemplateError
from vigil.spec.conditions import Condition
from vigil.spec.models import Checks, HttpTarget, PostgresTarget, Spec

pytestmark = pytest.mark.unit


def cond(text: str) -> Condition:
    return Condition.parse(text)


def response(body: Any, status: int = 200, **headers: str) -> Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Response(status, {"Content-Type": "application/json", **headers}, raw, False, 12.0)


# --- conditions whose values are templates ------------------------------------------------


def test_a_whole_template_keeps_its_values_type() -> None:
    condition = rendered(cond("id == {{order_id}}"), {"order_id": 42})
    assert condition.value == 42 and condition.holds({"id": 42})
    assert str(condition) == "id == 42"


def test_text_that_reads_as_a_number_becomes_one() -> None:
    # A header captured as "42" compares with the body's 42.
    assert rendered(cond("id == {{order_id}}"), {"order_id": "42"}).value == 42
    assert rendered(cond("total == {{t}}"), {"t": "12.5"}).value == 12.5
    assert rendered(cond("flag == {{f}}"), {"f": "true"}).value == "true"
    assert rendered(cond("name == {{n}}"), {"n": "acme"}).value == "acme"


def test_a_template_inside_text_is_written_as_text() -> None:
    condition = rendered(cond('name == "order-{{copy}}-{{marker}}"'), {"copy": 3, "marker": "m"})
    assert condition.value == "order-3-m"


def test_a_condition_without_a_template_is_used_as_parsed() -> None:
    condition = cond('status == "paid"')
    assert rendered(condition, {}) is condition


def test_an_unset_variable_raises_naming_it() -> None:
    with pytest.raises(TemplateError, match="variable 'order_id' has no value"):
        rendered(cond("id == {{order_id}}"), {"other": 1})


def test_judge_reads_the_body_and_headers_and_explains_what_does_not_hold() -> None:
    judgement = Judgement()
    conditions = [cond('status == "paid"'), cond("id == {{id}}"), cond("header:X-Tenant == acme")]
    judge(conditions, {"status": "new", "id": 7}, {"x-tenant": "acme"}, {"id": 7}, judgement)
    assert judgement.problems == ['condition status == "paid" (got "new") does not hold']
    assert judgement.first_unmet is not None and judgement.first_unmet.actual == "new"
    assert judgement.records() == [
        {"condition": 'status == "paid"', "ok": False, "actual": "new"},
        {"condition": "id == 7", "ok": True, "actual": 7},
        {"condition": 'header:X-Tenant == "acme"', "ok": True, "actual": "acme"},
    ]


def test_a_body_condition_on_a_body_that_is_not_json_does_not_hold() -> None:
    judgement = Judgement()
    judge([cond("ok == true")], NO_DOCUMENT, {}, {}, judgement)
    assert judgement.problems == ["condition ok == true (the body is not JSON) does not hold"]


def test_status_problems() -> None:
    assert status_problem(204, None) is None
    assert status_problem(302, None) == "answered 302, expected 2xx"
    assert status_problem(409, [201, 200]) == "answered 409, expected 201 or 200"
    assert status_problem(404, [404]) is None


def test_body_document_by_charset() -> None:
    assert body_document(response({"a": "é"})) == {"a": "é"}
    latin = Response(
        200,
        {"content-type": "application/json; charset=latin-1"},
        '{"a": "é"}'.encode("latin-1"),
        False,
        1,
    )
    assert body_document(latin) == {"a": "é"}
    assert body_document(response(b"")) is NO_DOCUMENT
    assert body_document(response(b"<html>")) is NO_DOCUMENT
    cut = Response(200, {}, b'{"a": 1}', True, 1)
    assert body_document(cut) is NO_DOCUMENT


# --- captures ------------------------------------------------------------------------------


DOC = {"id": 9, "items": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 3}], "meta": None}


def captured(captures: dict[str, Any], document: Any = DOC, **headers: str) -> Judgement:
    judgement = Judgement()
    specs = {name: Capture.model_validate(spec) for name, spec in captures.items()}
    capture(specs, document, headers, judgement)
    return judgement


def test_captures_take_the_first_match_or_all_and_headers_by_any_case() -> None:
    judgement = captured(
        {
            "id": "$.id",
            "first_sku": "$.items[*].sku",
            "skus": {"jsonpath": "$.items[*].sku", "all": True},
            "big": "$.items[?@.qty > 2].sku",
            "meta": "$.meta",
            "where": {"header": "location"},
        },
        Location="/orders/9",
    )
    assert judgement.problems == []
    assert judgement.captured == {
        "id": 9,
        "first_sku": "A",
        "skus": ["A", "B"],
        "big": "B",
        "meta": None,
        "where": "/orders/9",
    }


def test_a_capture_that_finds_nothing_says_which_and_where() -> None:
    judgement = captured({"order_id": "$.order.id", "loc": {"header": "Location"}})
    assert judgement.problems == [
        "capture 'order_id': $.order.id matched nothing in the response",
        "capture 'loc': header Location is missing from the response",
    ]
    assert captured({"x": "$.id"}, NO_DOCUMENT).problems == [
        "capture 'x': $.id: the body is not JSON"
    ]


def test_a_secret_capture_is_remembered_whole_and_in_parts() -> None:
    captures = {
        "session": Capture(jsonpath="$.session", secret=True),
        "keys": Capture(jsonpath="$.keys", all=True, secret=True),
        "id": Capture(jsonpath="$.id"),
    }
    session = {"handle": "blue-harbor-77", "pin": 4096, "live": True, "old": None}
    values = secret_values({"session": session, "keys": ["k-1234", ["k-5678"]], "id": 9}, captures)
    assert json.dumps(session) in values and json.dumps(["k-1234", ["k-5678"]]) in values
    assert {"blue-harbor-77", "4096", "k-1234", "k-5678"} <= set(values)
    # Not a secret's value, and masking them would hide every true and null shown.
    assert not {"true", "null", "9"} & set(values)


@pytest.mark.parametrize("path", ["$", "$.id", "$.items[1].sku", "$.items[5]", "$.missing.deep"])
def test_simple_paths_read_as_jsonpath_does(path: str) -> None:
    import jsonpath

    assert compiled(path).findall(DOC) == jsonpath.compile(path).findall(DOC)


# --- parallel: verdicts as pure functions -----------------------------------------------------


def copies(*specs: tuple[Status, Any]) -> list[CopyResult]:
    out = []
    for index, (status, value) in enumerate(specs):
        result = CopyResult(index, status, captured={} if value is None else {"order_id": value})
        if status is not Status.PASSED:
            result.step, result.reason = "create", "POST /orders answered 500, expected 2xx"
        out.append(result)
    return out


def test_all_copies_passing_with_distinct_values_pass() -> None:
    results = copies(*[(Status.PASSED, i) for i in range(5)])
    assert steps_parallel.verdict(5, results, ParallelExpect(distinct=["order_id"])) == (
        Status.PASSED,
        [],
    )


def test_too_few_copies_passing_fails_naming_the_first() -> None:
    results = copies(
        (Status.PASSED, 1), (Status.FAILED, None), (Status.PASSED, 2), (Status.FAILED, None)
    )
    status, problems = steps_parallel.verdict(4, results, ParallelExpect(min_passed=0.75))
    assert status is Status.FAILED
    assert problems == [
        "2 of 4 copies failed; first: copy 1 step 'create': POST /orders answered 500, expected 2xx"
    ]
    assert steps_parallel.verdict(4, results, ParallelExpect(min_passed=0.5))[0] is Status.PASSED


@pytest.mark.parametrize(("min_passed", "copies_run"), [(0.56, 50), (0.28, 25), (0.07, 100)])
def test_exactly_the_share_required_passes(min_passed: float, copies_run: int) -> None:
    # 0.56 * 50 is 28.000000000000004 in floating point: 28 of 50 is the share asked for.
    needed = round(min_passed * copies_run)
    results = copies(
        *[(Status.PASSED, i) for i in range(needed)],
        *[(Status.FAILED, None) for _ in range(copies_run - needed)],
    )
    expect = ParallelExpect(min_passed=min_passed)
    assert steps_parallel.verdict(copies_run, results, expect)[0] is Status.PASSED
    one_short = [*results[1:], CopyResult(0, Status.FAILED, step="s", reason="r")]
    assert steps_parallel.verdict(copies_run, one_short, expect)[0] is Status.FAILED


def test_copies_that_could_not_run_make_an_error() -> None:
    results = copies((Status.ERROR, None), (Status.PASSED, 1))
    assert steps_parallel.verdict(2, results, ParallelExpect())[0] is Status.ERROR


def test_duplicates_are_named_with_their_counts() -> None:
    values = [101, 101, 7, 8, 8, 8, 9]
    results = copies(*[(Status.PASSED, v) for v in values])
    status, problems = steps_parallel.verdict(7, results, ParallelExpect(distinct=["order_id"]))
    assert status is Status.FAILED
    assert problems == ["order_id: 7 copies captured 4 distinct values (duplicates: 8 x3, 101 x2)"]
    assert steps_parallel.duplicates([{"a": 1}, {"a": 1}, "x"]) == {'{"a": 1}': 2}


def test_captured_values_become_lists_in_copy_order() -> None:
    step = Step.model_validate(
        {
            "name": "many",
            "parallel": {
                "copies": 3,
                "steps": [
                    {"name": "c", "http": {"path": "/{{copy}}"}, "capture": {"order_id": "$.id"}}
                ],
            },
        }
    )
    assert step.parallel is not None
    results = copies((Status.PASSED, 5), (Status.FAILED, None), (Status.PASSED, 6))
    assert steps_parallel.captured_lists(step.parallel, results) == {"order_id": [5, None, 6]}
    assert steps_parallel.fresh_names(step.parallel.steps) == frozenset()


def test_each_copy_has_its_own_number_uuid_and_random() -> None:
    base = {"uuid": "journey-uuid", "random": "journey", "x": 1}
    first = steps_parallel.copy_variables(base, 0)
    second = steps_parallel.copy_variables(base, 1)
    assert (first["copy"], second["copy"], first["x"]) == (0, 1, 1)
    assert len({first["uuid"], second["uuid"], base["uuid"]}) == 3
    assert len(first["random"]) == 8 and first["random"] != second["random"]
    assert base == {"uuid": "journey-uuid", "random": "journey", "x": 1}


def test_hung_copy_workers_are_given_up_within_one_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    import threading
    import time

    monkeypatch.setattr(steps_parallel, "JOIN_GRACE_S", 0.3)
    release = threading.Event()
    workers = steps_parallel._Workers(4)

    def hangs() -> trace.StepOutcome:
        release.wait(30)
        return trace.passed()

    async def copies_past_their_time() -> None:
        calls = [asyncio.ensure_future(workers.call(hangs)) for _ in range(4)]
        await asyncio.sleep(0.05)
        for call in calls:  # as `_copies` cancels copies late past the step's bound
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)

    asyncio.run(copies_past_their_time())
    start = time.perf_counter()
    workers.close()
    took = time.perf_counter() - start
    release.set()
    assert took < 0.3 + 0.2  # one grace for all of them, not one each


# --- messages: sequences, values, what was seen -------------------------------------------------


def msgs(*documents: Any) -> list[Message]:
    return [Message(float(i), json.dumps(d), d) for i, d in enumerate(documents)]


STATUSES = msgs(
    {"id": 1, "status": "pending"},
    {"id": 2, "status": "paid"},
    {"id": 1, "status": "reserved"},
    {"id": 1, "status": "shipped"},
)


def test_a_sequence_in_order_is_a_subsequence() -> None:
    docs = [m.document for m in STATUSES]
    sequence = [cond('status == "pending"'), cond('status == "shipped"')]
    assert match_in_order(sequence, docs) == 2
    assert match_in_order(list(reversed(sequence)), docs) == 1


def test_any_order_gives_each_condition_a_message_of_its_own() -> None:
    docs = [m.document for m in STATUSES]
    # `id == 1` could take the "pending" message `status == "pending"` needs: it must not.
    conditions = [cond("id == 1"), cond('status == "pending"'), cond('status == "shipped"')]
    assert None not in match_any_order(conditions, docs)
    assert match_any_order([cond("id == 2"), cond("id == 2")], docs).count(None) == 1


def test_missing_values_compare_as_json_does() -> None:
    seen = msgs({"ok": True}, {"ok": 1})
    assert missing_values(seen, "ok", [True, 1, False]) == [False]


def test_what_was_seen_lists_the_values_at_the_path() -> None:
    assert seen_text(STATUSES[:3], "status", " meeting id == 1") == (
        "saw status: pending, paid, reserved (3 messages meeting id == 1)"
    )
    assert seen_text([], "status") == "saw no message"


def messages_spec(**fields: Any) -> Messages:
    return Messages.model_validate({"subscription": "feed", **fields})


def test_a_missing_status_is_named_with_the_statuses_seen() -> None:
    spec = messages_spec(
        where=["id == {{order_id}}"],
        sequence=['status == "pending"', 'status == "paid"', 'status == "shipped"'],
    )
    watch = watch_for(spec, {"order_id": 1})
    watch.feed(STATUSES)
    assert not watch.met
    assert watch.problem() == (
        'missing status == "paid" (in order, after status == "pending"; 1 more after it); '
        "saw status: pending, reserved, shipped (3 messages meeting id == 1)"
    )


def test_include_and_none_expectations() -> None:
    include = watch_for(messages_spec(include={"path": "status", "values": ["paid", "lost"]}), {})
    include.feed(STATUSES)
    assert include.problem().startswith("missing status lost; saw status: pending, paid, ")
    none = watch_for(messages_spec(where=["id == 2"], none=True), {})
    none.feed(STATUSES)
    assert not none.met
    assert none.problem() == (
        'received {"id": 2, "status": "paid"} at 1 ms; expected no message meeting id == 2'
    )


# --- the trace: masked, cut, lazily built -----------------------------------------------------


def test_text_is_masked_before_it_is_cut() -> None:
    masker = Masker()
    masker.remember("s3cret-token-value")
    text = "x" * 1990 + "s3cret-token-value" + "y" * 100
    shown = trace.shown_text(text, masker)
    assert "s3cret" not in shown and "***" in shown
    assert shown.endswith(f"… [{1990 + 3 + 100} chars]")
    assert trace.cut("short") == "short"


def test_an_entry_masks_its_evidence_and_hides_secret_captures() -> None:
    masker = Masker()
    masker.remember("tok-123456")
    outcome = trace.failed(
        "got tok-123456",
        ms=12.345,
        attempts=2,
        captured={"token": "tok-123456", "id": 4},
        evidence=lambda m: {"response": {"body": "echo tok-123456"}},
    )
    entry = trace.entry("login", "http", outcome, masker, frozenset({"token"}))
    assert entry == {
        "step": "login",
        "action": "http",
        "status": "failed",
        "ms": 12.3,
        "attempts": 2,
        "response": {"body": "echo ***"},
        "captured": {"token": "***", "id": 4},
        "reason": "got ***",
    }
    assert trace.skipped("x", "sql", "why") == {
        "step": "x",
        "action": "sql",
        "status": "skipped",
        "reason": "why",
    }


# --- requests as built from the spec (nothing is sent) --------------------------------------------


def context(**target_fields: Any) -> RunContext:
    target = HttpTarget(kind="http", base_url="${API_URL}", allow_writes=True, **target_fields)
    db = PostgresTarget(kind="postgres", conn_id="shop")
    spec = Spec(environment="t", targets={"api": target, "db": db}, checks=Checks())
    environ = {"API_URL": "https://api.example/", "API_TOKEN": "env-token-1", "PW": "pw-9876"}
    return RunContext(spec, environ=environ)


def built(ctx: RunContext, variables: dict[str, Any], **request: Any) -> Request:
    step = Step.model_validate({"name": "s", "http": request})
    assert step.http is not None
    return steps_http.build(steps_http.plan(step.http, "api", ctx), variables)


def test_a_request_from_its_parts() -> None:
    ctx = context(headers={"Authorization": "Bearer ${API_TOKEN}", "X-Tenant": "acme"})
    request = built(
        ctx,
        {"order_id": 42, "copy": 3},
        method="POST",
        path="/v1/orders/{{order_id}}/items",
        query={"tag": ["a b", "{{copy}}"], "dry": True},
        headers={"X-Tenant": "globex", "Idempotency-Key": "k-{{copy}}"},
        body={"n": "{{copy}}", "name": "copy {{copy}}"},
    )
    assert request.url == "https://api.example/v1/orders/42/items?tag=a+b&tag=3&dry=true"
    assert dict(request.headers) == {
        "Authorization": "Bearer env-token-1",
        "X-Tenant": "globex",
        "Idempotency-Key": "k-3",
    }
    assert request.json == {"n": 3, "name": "copy 3"}
    assert ctx.mask("env-token-1") == "***"


def test_auth_replaces_or_drops_the_targets_credentials() -> None:
    ctx = context(headers={"Authorization": "Bearer ${API_TOKEN}", "X-Api-Key": "${API_TOKEN}"})
    bearer = built(ctx, {"token": "captured-9"}, auth={"bearer": "{{token}}"})
    assert dict(bearer.headers) == {"Authorization": "Bearer captured-9"}
    assert ctx.mask("captured-9") == "***"  # a credential sent is remembered
    basic = built(ctx, {}, auth={"username": "acme", "password": "${PW}"})
    assert basic.headers["Authorization"] == "Basic " + base64.b64encode(b"acme:pw-9876").decode()
    assert dict(built(ctx, {}, auth={"none": True}).headers) == {}


def test_form_and_text_bodies() -> None:
    ctx = context()
    form = built(
        ctx,
        {"user": "acme"},
        method="POST",
        body={"username": "{{user}}", "password": "${PW}", "scope": ["a", "b"]},
        body_format="form",
    )
    assert form.data == b"username=acme&password=pw-9876&scope=a&scope=b"
    assert form.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert ctx.mask("pw-9876") == "***"
    text = built(ctx, {"n": 1}, method="POST", body="n={{n}}", body_format="text")
    assert (text.data, text.headers["Content-Type"]) == (b"n=1", "text/plain; charset=utf-8")
    fixed = built(ctx, {}, method="POST", body={"a": [1, 2]})
    assert (fixed.data, fixed.headers["Content-Type"]) == (b'{"a": [1, 2]}', "application/json")


def test_a_template_without_a_value_raises() -> None:
    with pytest.raises(TemplateError):
        built(context(), {}, path="/orders/{{order_id}}")


def test_a_step_on_a_target_of_another_kind_is_a_configuration_error() -> None:
    from vigil.config_errors import ConfigError

    step = Step.model_validate({"name": "s", "http": {"target": "db", "path": "/"}})
    assert step.http is not None
    with pytest.raises(ConfigError, match="'db' is a 'postgres' target"):
        steps_http.plan(step.http, "api", context())


# --- the transport's bytes -----------------------------------------------------------------------


def encoded(request: Request) -> bytes:
    from urllib.parse import urlsplit

    parts = urlsplit(request.url)
    return wire._encode(request, parts, wire._origin(parts))


def test_request_bytes_carry_our_defaults_unless_the_request_sets_them() -> None:
    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict({"Accept": "application/json"})
    raw = encoded(Request("POST", "http://h:8080/a b?x=1", headers, json={"k": 1}))
    head, body = raw.split(b"\r\n\r\n", 1)
    assert head.split(b"\r\n") == [
        b"POST /a%20b?x=1 HTTP/1.1",
        b"Host: h:8080",
        b"User-Agent: vigil-scenario",
        b"Accept-Encoding: identity",
        b"Content-Type: application/json",
        b"Accept: application/json",
        b"Content-Length: 8",
    ]
    assert body == b'{"k": 1}'
    get = encoded(Request("GET", "https://h/", CaseInsensitiveDict()))
    assert b"Content-Length" not in get and b"Host: h\r\n" in get


def test_a_header_that_would_split_the_request_is_refused() -> None:
    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict({"X-A": "v\r\nX-Evil: 1"})
    with pytest.raises(requests.exceptions.InvalidHeader):
        encoded(Request("GET", "http://h/", headers))


def test_answers_headers_and_compressed_bodies() -> None:
    raw = [(b"Set-Cookie", b"a=1"), (b"set-cookie", b"b=2"), (b"Content-Encoding", b"gzip")]
    headers = wire._decoded_headers(raw)
    assert headers == {"Set-Cookie": "a=1, b=2", "Content-Encoding": "gzip"}
    assert wire._decoded_body(gzip.compress(b'{"a": 1}'), headers) == b'{"a": 1}'
    assert wire._decoded_body(b"not gzip", headers) == b"not gzip"


def answer_of(*parts: bytes, head: bool = False) -> wire._Answer:
    """An answer as the transport parses it, from the bytes received (b"": the end)."""
    answer = wire._Answer(head)
    answer.parser = httptools.HttpResponseParser(answer)
    for part in parts:
        answer = wire._feed(answer, part)
    return answer


def test_a_body_without_a_length_runs_to_the_end_of_the_connection() -> None:
    # RFC 9112 6.3: no Content-Length, not chunked: the body is what comes until the close.
    answer = answer_of(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello", b" world")
    assert not answer.complete
    answer = answer_of(b"HTTP/1.0 200 OK\r\n\r\nhello", b" world", b"")
    assert answer.complete and not answer.keep_alive
    assert wire._response(answer, 1.0).body == b"hello world"
    # With a length (or chunks), the connection ending before it is a broken answer.
    for head in (b"Content-Length: 10\r\n", b"Transfer-Encoding: chunked\r\n"):
        with pytest.raises(requests.exceptions.ConnectionError, match="middle of the answer"):
            answer_of(b"HTTP/1.1 200 OK\r\n" + head + b"\r\n5\r\nhello", b"")
    # No body at all, whatever the connection does next: 204, 304, an answer to HEAD.
    assert answer_of(b"HTTP/1.1 204 No Content\r\n\r\n").complete
    assert answer_of(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n").complete
    assert answer_of(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", head=True).complete


def test_an_interim_answer_is_skipped_when_the_final_one_comes_in_the_same_packet() -> None:
    interim = b"HTTP/1.1 103 Early Hints\r\nLink: </app.css>\r\n\r\n"
    answer = answer_of(interim + b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
    assert not answer.complete  # its body is still to come
    answer = wire._feed(answer, b"hello")
    response = wire._response(answer, 1.0)
    assert (response.status, response.body) == (200, b"hello")
    assert response.headers == {"Content-Length": "5"}  # the final answer's, only
    # Apart, as before.
    answer = answer_of(interim, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert answer.complete and wire._response(answer, 1.0).body == b"ok"


# --- small pieces --------------------------------------------------------------------------------


def test_the_run_marker_is_stable_within_a_run_and_unique_across() -> None:
    marker = engine.journey_marker("scheduled__1", "checkout")
    assert marker == engine.journey_marker("scheduled__1", "checkout")
    assert marker != engine.journey_marker("scheduled__2", "checkout")
    assert marker != engine.journey_marker("scheduled__1", "refund")
    assert marker.startswith("vigil-") and len(marker) == 16
    int(marker[6:], 16)


def test_every_builtin_but_copy_is_there() -> None:
    from datetime import UTC, datetime

    values = engine.builtins("r", "j", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert set(values) == set(BUILTINS) - {"copy"}
    assert values["timestamp"] == "2026-01-02T03:04:05+00:00"
    assert values["epoch"] == 1767323045
    assert (values["run.id"], values["journey.id"]) == ("r", "j")


def test_a_journey_without_a_spec_variable_set_cannot_start() -> None:
    check = JourneyCheck.model_validate(
        {
            "kind": "journey",
            "id": "j",
            "target": "api",
            "variables": {"who": "${WHO}"},
            "steps": [{"name": "s", "http": {"path": "/"}}],
        }
    )
    [result] = engine.run_journey(check, context())
    assert result.status is Status.ERROR
    assert result.message == (
        "j: could not start: configuration problem: environment variable WHO is not set; "
        "set WHO in the environment the Airflow workers run with"
    )
    assert result.details["error_class"] == "configuration"


def test_database_values_become_json() -> None:
    import datetime as dt
    import decimal
    import uuid

    row = {
        "total": decimal.Decimal("12.50"),
        "count": decimal.Decimal("3"),
        "at": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        "day": dt.date(2026, 1, 2),
        "took": dt.timedelta(seconds=1.5),
        "id": uuid.UUID(int=1),
        "raw": memoryview(b"\x01\xff"),
        "tags": ("a", decimal.Decimal("1.5")),
    }
    assert steps_sql.json_safe(row) == {
        "total": 12.5,
        "count": 3,
        "at": "2026-01-02T03:04:05+00:00",
        "day": "2026-01-02",
        "took": 1.5,
        "id": "00000000-0000-0000-0000-000000000001",
        "raw": "01ff",
        "tags": ["a", 1.5],
    }


@pytest.mark.parametrize(("value", "text"), [(30.0, "30"), (0.5, "0.5"), (2.04, "2"), (0.01, "0")])
def test_seconds_read_short(value: float, text: str) -> None:
    assert trace.seconds(value) == text
