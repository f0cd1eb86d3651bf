"""Scenario results in the reports, rendered from a real results store: a failing journey's
trace step by step in the run report (the failing step's request, response and reasons,
then its cleanup), a passed journey's step durations on one line, a suite's test case
trace, details of shapes no journey writes rendered without error, escaping of hostile
response bodies, masked headers kept masked; the trend report's step-duration charts;
the same trace on the Vigil UI's run and check pages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.test_reports_run import Node, cells, parse
from vigil.reports import render_run_report, render_trend_report
from vigil.result import CheckResult, Severity, Status
from vigil.results import ResultStore, RunRef
from vigil.ui import create_app

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 31, 6, 0, tzinfo=UTC)
RUN = RunRef("shop", "daily", "shop_daily", "scheduled__2025-03-31T06:00:00+00:00")
HOSTILE_BODY = '{"status": "paid", "note": "<script>alert(\\"pwned\\")</script>"}'
SHIPPED_REASON = 'status == "shipped" (got "paid") after 30 s (31 attempts)'
ORDER_URL = "http://api.local/v1/orders/42"

STEPS = [
    {"step": "login", "action": "http", "status": "passed", "ms": 41.5, "attempts": 1,
     "request": {"method": "POST", "url": "http://api.local/v1/login",
                 "headers": {"Authorization": "***", "Content-Type": "application/json"},
                 "body": '{"username": "vigil", "password": "***"}'},
     "response": {"status": 200, "ms": 40.1, "headers": {"content-type": "application/json"},
                  "body": '{"token": "***"}'},
     "captured": {"token": "***"}},
    {"step": "create", "action": "http", "status": "passed", "ms": 12.3, "attempts": 1,
     "request": {"method": "POST", "url": "http://api.local/v1/orders",
                 "headers": {"Authorization": "***"}, "body": '{"sku": "A-1", "qty": 2}'},
     "response": {"status": 201, "headers": {}, "body": '{"id": 42}'},
     "captured": {"order_id": 42},
     "conditions": [{"condition": "$.id exists", "ok": True, "actual": 42}]},
    {"step": "in-db", "action": "sql", "status": "passed", "ms": 3.2,
     "request": {"target": "db", "query": "SELECT status FROM orders WHERE id = %(id)s",
                 "params": {"id": 42}},
     "response": {"row_count": 1, "rows": [{"status": "paid"}]}},
    {"step": "shipped", "action": "wait_for", "status": "failed", "ms": 30012.0, "attempts": 31,
     "request": {"method": "GET", "url": ORDER_URL,
                 "headers": {"Authorization": "***", "Accept": "application/json"}},
     "response": {"status": 200, "ms": 8.0, "headers": {"content-type": "application/json"},
                  "body": HOSTILE_BODY},
     "conditions": [{"condition": '$.status == "shipped"', "ok": False, "actual": "paid"},
                    {"condition": "$.id == 42", "ok": True, "actual": 42}],
     "reason": SHIPPED_REASON},
    {"step": "invoice", "action": "http", "status": "skipped",
     "reason": "an earlier step failed"},
]  # fmt: skip
CLEANUP = [
    {"step": "cancel", "action": "http", "status": "passed", "ms": 9.9,
     "request": {"method": "DELETE", "url": ORDER_URL, "headers": {"Authorization": "***"}},
     "response": {"status": 204, "headers": {}, "body": ""}},
]  # fmt: skip
JOURNEY_DETAILS = {
    "trace": STEPS,
    "failed_step": "shipped",
    "variables": {"sku": "A-1", "order_id": 42, "token": "***"},
    "cleanup": CLEANUP,
}
PASSED_STEPS = [
    {"step": "list", "action": "http", "status": "passed", "ms": 14.0},
    {"step": "detail", "action": "http", "status": "passed", "ms": 2300.0},
]
# Details no journey writes: a trace that is not a list, entries that are no mapping,
# keys of the wrong types, the store's "… 3 more" note, a nested parallel summary.
ODD_DETAILS: list[dict[str, Any]] = [
    {"trace": "not a list", "cleanup": {"what": "a mapping"}, "failed_step": 7},
    {"trace": [None, 3, "… 3 more", {"step": ["a", "list"], "ms": "fast", "status": None,
                                      "request": "GET /", "response": [1, 2],
                                      "conditions": "none", "captured": [1]}],
     "variables": ["x"], "cleanup": [{}]},
    {"trace": [{"step": "many", "action": "parallel", "status": "failed", "ms": 80.0,
                "copies": 50, "concurrency": 10, "passed": 47, "copy_ms": {"p50": 12.0},
                "first_failure": {"copy": 3, "trace": [
                    {"step": "buy", "action": "http", "status": "failed",
                     "response": {"status": 409, "body_excerpt": "sold out"},
                     "reason": "answered 409"}]},
                "reason": "3 of 50 copies failed"}],
     "failed_step": "many"},
    {"trace": [], "unexpected": {"deep": [[[[[["json"]]]]]]}},
]  # fmt: skip


def scenario(check_id: str, status: Status, **extra: Any) -> CheckResult:
    fields: dict[str, Any] = {
        "check_id": check_id, "family": "scenarios", "target": "api", "status": status,
        "started_at": T0, "check_kind": "journey", "duration_ms": 100.0, **extra,
    }  # fmt: skip
    return CheckResult.model_validate(fields)


SUITE_CASE = "legacy-suite::tests.test_orders::test_refund"
RESULTS = [
    scenario("order-flow", Status.FAILED, message=f"step shipped: {SHIPPED_REASON}",
             duration_ms=30100.0, details=JOURNEY_DETAILS,
             observed={"total_ms": 30069.0,
                       "steps_ms": {"login": 41.5, "create": 12.3, "in-db": 3.2,
                                    "shipped": 30012.0}}),
    scenario("order-flow.cleanup", Status.FAILED, severity=Severity.WARNING, parent="order-flow",
             message="cleanup step cancel answered 500",
             details={"cleanup": [{"step": "cancel", "action": "http", "status": "failed",
                                   "ms": 5.0, "reason": "answered 500",
                                   "request": {"method": "DELETE", "url": ORDER_URL},
                                   "response": {"status": 500, "body": "<b>oops</b>"}}]}),
    scenario("catalog-browse", Status.PASSED, message="2 steps passed",
             details={"trace": PASSED_STEPS, "failed_step": None, "cleanup": []},
             observed={"total_ms": 2314.0, "steps_ms": {"list": 14.0, "detail": 2300.0}}),
    scenario("legacy-suite::tests.test_orders::test_refund", Status.FAILED,
             parent="legacy-suite", check_kind="suite", message="AssertionError: 500 != 200",
             details={"classname": "tests.test_orders", "name": "test_refund",
                      "trace": "Traceback:\n  assert resp.status == 200\nAssertionError: <500>",
                      "system_out": "refunding order 42"}),
    *(scenario(f"odd-{i}", Status.ERROR, message=f"odd shape {i}", details=details,
               observed={"steps_ms": ["not", "a", "mapping"]} if i == 0 else None)
      for i, details in enumerate(ODD_DETAILS)),
    scenario("no-details", Status.ERROR, message="nothing recorded"),
]  # fmt: skip


@pytest.fixture
def store(fresh_db: str) -> ResultStore:
    store = ResultStore(fresh_db)
    store.start_run(RUN, started_at=T0)
    store.record(RUN, RESULTS)
    store.finish_run(RUN, ended_at=T0 + timedelta(seconds=40))
    return store


@pytest.fixture
def dom(store: ResultStore) -> Node:
    return parse(render_run_report(store, RUN))


def problem(dom: Node, check_id: str) -> Node:
    return dom.one("div", class_="problem", data_check_id=check_id)


def text_of(node: Node) -> str:
    return " ".join(node.text().split())


# --- the run report ---------------------------------------------------------------------


def test_a_failing_journey_shows_its_steps_in_order(dom: Node) -> None:
    journey = problem(dom, "order-flow").one("div", class_="journey")
    assert journey.attrs["data-failed-step"] == "shipped"
    rows = journey.one("table", class_="journey-steps").find_all("tr", class_="step")
    assert [r.attrs["data-step"] for r in rows] == ["login", "create", "in-db", "shipped",
                                                    "invoice"]  # fmt: skip
    assert [cells(r)[:5] for r in rows] == [
        ["1", "login", "http", "passed", "42 ms"],
        ["2", "create", "http", "passed", "12 ms"],
        ["3", "in-db", "sql", "passed", "3.2 ms"],
        ["4", "shipped", "wait_for", "failed", "30.0 s"],
        ["5", "invoice", "http", "skipped", "—"],
    ]
    assert cells(rows[3])[5] == "31" and cells(rows[4])[6] == "an earlier step failed"
    assert "30.1 s in all" in text_of(journey.find_all("h3")[0])


def test_the_failing_step_shows_request_response_and_why(dom: Node) -> None:
    journey = problem(dom, "order-flow").one("div", class_="journey")
    # Only the failing step is detailed: the passed ones stay one row each.
    detail = journey.one("div", class_="step-detail")
    assert detail.attrs["data-step"] == "shipped"
    request = detail.one("dd", class_="request")
    assert request.one("code", class_="line").text() == f"GET {ORDER_URL}"
    # (jsonb keeps an object's keys in its own order, not the one written)
    headers = request.one("pre").text().splitlines()
    assert sorted(headers) == ["Accept: application/json", "Authorization: ***"]
    response = detail.one("dd", class_="response")
    assert response.one("code", class_="line").text() == "status 200 in 8.0 ms"
    assert response.one("pre").text() == f"content-type: application/json\n\n{HOSTILE_BODY}"
    assert detail.one("dd", class_="reason").text() == SHIPPED_REASON
    unmet = detail.one("table", class_="conditions").find_all("tr", class_="unmet")
    assert [cells(r) for r in unmet] == [['$.status == "shipped"', "not held", "paid"]]
    held = detail.one("table", class_="conditions").find_all("tr", class_="held")
    assert [cells(r) for r in held] == [["$.id == 42", "held", "42"]]
    # then the cleanup, step by step
    cleanup = journey.one("table", class_="journey-cleanup").find_all("tr", class_="step")
    assert [cells(r)[:5] for r in cleanup] == [["1", "cancel", "http", "passed", "9.9 ms"]]
    variables = journey.one("details", class_="journey-variables")
    assert "token" in variables.text() and "***" in variables.text()
    # the generic evidence is still there, whole
    assert problem(dom, "order-flow").one("details", class_="evidence").one("pre")


def test_a_failed_cleanup_part_shows_its_failing_step(dom: Node) -> None:
    part = problem(dom, "order-flow.cleanup")
    rows = part.one("table", class_="journey-cleanup").find_all("tr", class_="step")
    assert [cells(r)[:4] for r in rows] == [["1", "cancel", "http", "failed"]]
    detail = part.one("div", class_="step-detail")
    assert detail.one("dd", class_="request").text() == f"DELETE {ORDER_URL}"
    assert detail.one("dd", class_="response").one("pre").text() == "<b>oops</b>"
    assert part.find_all("table", class_="journey-steps") == []


def test_hostile_bodies_are_escaped_and_masked_headers_stay_masked(store: ResultStore) -> None:
    html = render_run_report(store, RUN)
    assert "<script>" not in html and "<b>oops</b>" not in html
    assert "&lt;script&gt;alert(" in html and "&lt;b&gt;oops&lt;/b&gt;" in html
    request = problem(parse(html), "order-flow").find_all("dd", class_="request")[0]
    assert "Authorization: ***" in request.text()
    assert "***" in problem(parse(html), "order-flow").one("details", class_="evidence").text()


def test_a_passed_journey_shows_its_step_durations(dom: Node) -> None:
    row = dom.one("table", class_="passed").one("tr", data_check_id="catalog-browse")
    line = row.one("div", class_="step-durations")
    assert text_of(line) == "list 14 ms · detail 2.3 s"
    assert [s.attrs["data-step"] for s in line.find_all("span")] == ["list", "detail"]


def test_a_suite_case_shows_its_trace(dom: Node) -> None:
    case = problem(dom, "legacy-suite::tests.test_orders::test_refund")
    trace = case.one("pre", class_="suite-trace")
    assert trace.text() == "Traceback:\n  assert resp.status == 200\nAssertionError: <500>"
    assert "tests.test_orders::test_refund" in case.one("h3").text()
    assert case.one("details", class_="suite-output").one("pre").text() == "refunding order 42"


def test_details_of_unexpected_shapes_render_without_error(dom: Node) -> None:
    odd0 = problem(dom, "odd-0")
    assert odd0.find_all("div", class_="journey") == []  # no trace to read: evidence only
    assert odd0.one("details", class_="evidence")
    odd1 = problem(dom, "odd-1").one("div", class_="journey")
    rows = odd1.one("table", class_="journey-steps").find_all("tr", class_="step")
    assert [cells(r)[:4] for r in rows] == [["4", '["a", "list"]', "?", "unknown"]]
    assert "… 3 more" in odd1.one("p", class_="trace-notes").text()
    # a parallel step: its summary, and its first failing copy step by step
    odd2 = problem(dom, "odd-2").one("div", class_="step-detail", data_step="many")
    assert "copies" in odd2.text() and "47" in odd2.text()
    copy = odd2.one("table", class_="copy-steps").find_all("tr", class_="step")
    assert [cells(r)[:4] for r in copy] == [["1", "buy", "http", "failed"]]
    inner = odd2.one("div", class_="step-detail", data_step="buy")
    assert inner.one("dd", class_="response").text().startswith("status 409")
    assert problem(dom, "odd-3").find_all("table", class_="journey-steps") == []
    assert problem(dom, "no-details").find_all("div", class_="journey") == []


# --- the Vigil UI's pages: the same macro ------------------------------------------------


@pytest.fixture
def client(store: ResultStore) -> Iterator[TestClient]:
    app = create_app(lambda: store, specs=dict, current_user=lambda: "alice")
    with TestClient(app) as c:
        yield c


def test_the_ui_run_page_shows_a_failing_journeys_trace(client: TestClient) -> None:
    page = client.get(f"/runs/{RUN.dag_id}/{RUN.run_id}")
    assert page.status_code == 200
    dom = parse(page.text)
    trace = dom.one("div", class_="scenario-trace", data_check_id="order-flow")
    rows = trace.one("table", class_="journey-steps").find_all("tr", class_="step")
    assert [r.attrs["data-step"] for r in rows] == ["login", "create", "in-db", "shipped",
                                                    "invoice"]  # fmt: skip
    detail = trace.one("div", class_="step-detail")
    assert detail.one("dd", class_="request").one("code").text() == f"GET {ORDER_URL}"
    assert detail.one("dd", class_="reason").text() == SHIPPED_REASON
    assert "<script>alert" not in page.text and "&lt;script&gt;alert" in page.text
    # it follows the check's own block, and the generic evidence is still there
    html = page.text
    block = html.index('id="check-order-flow"')
    assert block < html.index('class="scenario-trace" data-check-id="order-flow"')
    evidence = dom.one("div", class_="problem", data_check_id="order-flow").one(
        "details", class_="evidence"
    )
    assert "open" not in evidence.attrs  # folded: the trace says it first
    durations = dom.one("table", class_="passed").one("div", class_="step-durations")
    assert text_of(durations) == "list 14 ms · detail 2.3 s"
    # a result of any other shape gets no trace block, and the page still renders
    assert dom.find_all("div", class_="scenario-trace", data_check_id="odd-3") == []


def test_the_ui_check_page_shows_the_latest_journeys_trace(client: TestClient) -> None:
    page = client.get("/environments/shop/checks/order-flow")
    assert page.status_code == 200
    journey = parse(page.text).one("div", class_="journey")
    assert journey.one("div", class_="step-detail").attrs["data-step"] == "shipped"
    passed = parse(client.get("/environments/shop/checks/catalog-browse").text)
    rows = passed.one("table", class_="journey-steps").find_all("tr", class_="step")
    assert [cells(r)[:5] for r in rows] == [["1", "list", "http", "passed", "14 ms"],
                                            ["2", "detail", "http", "passed", "2.3 s"]]  # fmt: skip
    assert passed.find_all("div", class_="step-detail") == []


def test_a_scenarios_task_tab_shows_its_journey_and_links_its_own_task(
    client: TestClient,
) -> None:
    """One task per journey (`scenarios.<id>`): its tab lists that journey and its parts,
    not every scenario of the target, and every task-log link names that task."""
    page = client.get(f"/runs/{RUN.dag_id}/{RUN.run_id}/tasks/scenarios.order-flow")
    assert page.status_code == 200
    dom = parse(page.text)
    shown = {b.attrs["data-check-id"] for b in dom.find_all("div", class_="problem")}
    assert shown == {"order-flow", "order-flow.cleanup"}
    assert dom.one("div", class_="scenario-trace", data_check_id="order-flow")
    links = {a.attrs["href"] for a in dom.find_all("a", class_="task-log")}
    assert links and all(link.endswith("/tasks/scenarios.order-flow") for link in links), links
    run_page = parse(client.get(f"/runs/{RUN.dag_id}/{RUN.run_id}").text)
    suite = run_page.one("div", class_="problem", data_check_id=f"{SUITE_CASE}")
    assert suite.one("a", class_="task-log").attrs["href"].endswith("/tasks/scenarios.legacy-suite")


# --- the trend report ---------------------------------------------------------------------

NOW = datetime(2025, 3, 31, 12, 0, tzinfo=UTC)  # the window: 25 to 31 March
ORDER = ["reserve", "pay", "ship"]  # jsonb gives steps_ms back as pay, ship, reserve


def journey_run(store: ResultStore, at: str, steps_ms: dict[str, float], **extra: Any) -> None:
    """A run started `at` (MM-DDTHH:MM) in which journey order-flow timed `steps_ms`."""
    started = datetime.fromisoformat(f"2025-{at}:00+00:00")
    env = extra.pop("environment", "shop")
    run = RunRef(env, "daily", f"{env}_daily", f"scheduled__{started.isoformat()}")
    store.start_run(run, started_at=started)
    failed = len(steps_ms) < len(ORDER)
    # As the engine writes it: every step named, those never reached as skipped.
    trace = [{"step": name, "action": "http", "status": "passed", "ms": steps_ms[name]}
             if name in steps_ms else {"step": name, "action": "http", "status": "skipped"}
             for name in ORDER]  # fmt: skip
    observed = {"total_ms": sum(steps_ms.values()), "steps_ms": steps_ms}
    journey = scenario("order-flow", Status.FAILED if failed else Status.PASSED,
                       started_at=started, details={"trace": trace}, observed=observed)  # fmt: skip
    # Parts of the journey, or of a suite, time no steps of their own: none is charted.
    cleanup = scenario("order-flow.cleanup", Status.FAILED, parent="order-flow",
                       started_at=started, observed={"steps_ms": {"cancel": 99.0}})  # fmt: skip
    suite = scenario("legacy-suite", Status.PASSED, check_kind="suite", started_at=started,
                     observed={"tests": 3, "duration_ms": 1200.0})  # fmt: skip
    store.record(run, [journey, cleanup, suite])
    store.finish_run(run, ended_at=started + timedelta(minutes=1))


@pytest.fixture
def trend_store(fresh_db: str) -> ResultStore:
    store = ResultStore(fresh_db)
    journey_run(store, "03-20T06:00", {"reserve": 999.0, "pay": 999.0, "ship": 999.0})  # before
    journey_run(store, "03-26T06:00", {"reserve": 12.0, "pay": 40.0, "ship": 1500.0})
    journey_run(store, "03-28T06:00", {"reserve": 11.0, "pay": 38.0, "ship": 2100.0})
    # the newest failed at pay: its steps_ms has no ship, its trace still names it
    journey_run(store, "03-30T06:00", {"reserve": 14.0, "pay": 5000.0})
    journey_run(store, "03-30T07:00", {"reserve": 777.0}, environment="staging")
    return store


def test_the_trend_report_charts_each_steps_duration_run_by_run(trend_store: ResultStore) -> None:
    html = render_trend_report(trend_store, "shop", now=NOW)
    dom = parse(html)
    section = dom.one("div", class_="journey-trend")
    assert section.attrs["data-check-id"] == "order-flow"
    assert "3 runs, 1 failed or errored" in text_of(section.one("h3"))
    rows = section.one("table", class_="journey-steps").find_all("tr")[1:]
    assert [cells(r) for r in rows] == [
        ["1", "reserve", "3", "12 ms", "14 ms", "14 ms"],
        ["2", "pay", "3", "40 ms", "5.0 s", "5.0 s"],
        ["3", "ship", "2", "1.8 s", "2.1 s", "—"],
    ]
    charts = section.one("div", class_="step-charts").find_all("svg")
    assert [c.attrs["aria-label"] for c in charts] == ["1. reserve", "2. pay", "3. ship"]
    points = {c.attrs["aria-label"]: [t.text() for t in c.find_all("title")][1:] for c in charts}
    assert points["1. reserve"] == ["26 Mar 06:00 — duration: 12 ms",
                                   "28 Mar 06:00 — duration: 11 ms",
                                   "30 Mar 06:00 — duration: 14 ms"]  # fmt: skip
    # ship did not run on the 30th: no point there, not a zero
    assert points["3. ship"] == ["26 Mar 06:00 — duration: 1.5 s",
                                    "28 Mar 06:00 — duration: 2.1 s"]  # fmt: skip
    # one journey: not its cleanup part, not the suite, not staging's, not before the window
    assert len(dom.find_all("div", class_="journey-trend")) == 1
    assert "999" not in section.text() and "777" not in section.text()


def test_the_trend_report_says_when_no_journey_timed_its_steps(fresh_db: str) -> None:
    html = render_trend_report(ResultStore(fresh_db), "shop", now=NOW)
    section = html[html.index('id="scenario-steps"') :]
    assert "No scenario journey timed its steps in this window." in section
    assert "<svg" not in section
