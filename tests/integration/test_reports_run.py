"""The run report, rendered from a real results store and read back as HTML: every
problem with its message and evidence, skip reasons, Airflow and Data Docs links,
alerts, the summary by kind and target, and escaping of hostile text."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from vigil.reports import ReportError, find_runs, render_run_report, write_run_report
from vigil.result import CheckResult, Severity, Status
from vigil.results import ResultStore, RunRef

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 31, 6, 0, tzinfo=UTC)
RUN = RunRef("shop", "daily", "shop_daily", "scheduled__2025-03-31T06:00:00+00:00")
BASE = "http://127.0.0.1:8080/"
ENCODED_RUN = "scheduled__2025-03-31T06%3A00%3A00%2B00%3A00"
HOSTILE = 'upstream said <script>alert("pwned")</script> & left'
SKIP_REASON = "db is unhealthy (db-up: connection refused)"
API_EVIDENCE = {
    "request": {"method": "GET", "url": "http://api.local/health", "headers": {"X-Token": "***"}},
    "response": {"status": 503, "body_excerpt": "<b>maintenance</b>"},
}
ALERTS = [
    {"rule": "critical-failures", "scope": "shop/health", "transition": "fired",
     "message": "2 critical checks failing <img src=x onerror=alert(1)>"},
    {"rule": "db-streak", "scope": "shop/db", "transition": "resolved", "message": "db back"},
]  # fmt: skip


def result(check_id: str, kind: str, target: str, status: Status, **extra: object) -> CheckResult:
    return CheckResult.model_validate(
        {"check_id": check_id, "family": kind, "target": target, "status": status,
         "started_at": T0, **extra}
    )  # fmt: skip


RESULTS = [
    result("api-health", "health", "api", Status.FAILED, message=HOSTILE, duration_ms=120.0,
           observed={"status": 503}, expected={"status": [200]}, details=API_EVIDENCE),
    result("api-orders", "health", "api", Status.PASSED, message="GET /v1/orders answered 200",
           started_at=T0 + timedelta(milliseconds=50), duration_ms=200.0),
    result("db-up", "health", "db", Status.ERROR, message="connection refused",
           duration_ms=3000.0, details={"check_type": "postgres", "errno": 111}),
    result("queue-port", "health", "queue", Status.SKIPPED, message=f"skipped: {SKIP_REASON}",
           details={"skipped_because": SKIP_REASON}),
    result("orders-not-null", "quality", "db", Status.FAILED, severity=Severity.WARNING,
           message="3 of 1000 orders have no customer", observed={"unexpected": 3},
           details={"unexpected_rows": [{"id": 7}, {"id": 9}, {"id": 12}]}),
]  # fmt: skip


# --- a small DOM, enough to ask "which elements, with what text and attributes" ---------


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    parent: Node | None = None
    children: list[Node | str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        """Descendants with `tag` and attributes; class_ matches one of the classes."""
        found = []
        for child in self.children:
            if isinstance(child, str):
                continue
            if (tag is None or child.tag == tag) and all(
                value in child.attrs.get("class", "").split()
                if name == "class_"
                else child.attrs.get(name.replace("_", "-")) == value
                for name, value in attrs.items()
            ):
                found.append(child)
            found += child.find_all(tag, **attrs)
        return found

    def one(self, tag: str | None = None, **attrs: str) -> Node:
        found = self.find_all(tag, **attrs)
        assert len(found) == 1, f"expected one <{tag} {attrs}>, found {len(found)}"
        return found[0]


VOID = {"meta", "br", "hr", "img", "input", "link", "rect", "circle", "line", "polyline"}


class TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("#root", {})

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.current.children.append(Node(tag, {k: v or "" for k, v in attrs}, self.current))

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse(html: str) -> Node:
    builder = TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


def cells(row: Node) -> list[str]:
    return [" ".join(td.text().split()) for td in row.find_all("td")]


# --- fixtures -----------------------------------------------------------------------


@pytest.fixture
def store(fresh_db: str) -> ResultStore:
    store = ResultStore(fresh_db)
    store.start_run(RUN, started_at=T0, params={"families": ["health", "quality"]})
    store.record(RUN, RESULTS)
    store.finish_run(RUN, ended_at=T0 + timedelta(seconds=95))
    return store


@pytest.fixture
def dom(store: ResultStore, tmp_path: Path) -> Node:
    docs = tmp_path / "data_docs" / "index.html"
    html = render_run_report(store, RUN, airflow_base_url=BASE, data_docs=str(docs), alerts=ALERTS)
    return parse(html)


# --- tests --------------------------------------------------------------------------


def test_every_problem_is_listed_with_its_message_and_evidence(dom: Node) -> None:
    problems = dom.find_all("div", class_="problem")
    # Critical before warning, an error before a failure.
    assert [p.attrs["data-check-id"] for p in problems] == [
        "db-up", "api-health", "orders-not-null",
    ]  # fmt: skip
    api = dom.one("div", data_check_id="api-health")
    assert api.one("div", class_="msg").text() == HOSTILE
    assert "failed" in api.attrs["class"].split()
    evidence = api.one("details", class_="evidence")
    assert evidence.one("summary").text() == "Evidence"
    assert json.loads(evidence.one("pre").text()) == API_EVIDENCE
    values = cells(api.one("table", class_="evidence-values").find_all("tr")[1])
    assert json.loads(values[0]) == {"status": 503}

    rows = dom.one("div", data_check_id="orders-not-null").one("pre").text()
    assert json.loads(rows) == {"unexpected_rows": [{"id": 7}, {"id": 9}, {"id": 12}]}
    db = dom.one("div", data_check_id="db-up")
    assert db.one("div", class_="msg").text() == "connection refused"
    assert json.loads(db.one("pre").text()) == {"check_type": "postgres", "errno": 111}


def test_hostile_text_is_escaped_never_markup(store: ResultStore) -> None:
    html = render_run_report(store, RUN, alerts=ALERTS)
    tree = parse(html)
    assert tree.find_all("script") == []
    assert tree.find_all("img") == []
    assert tree.find_all("b") == []  # the response body excerpt stays text
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in html
    assert "<script" not in html
    # And nothing may load from elsewhere, should anything slip through.
    csp = [m for m in tree.find_all("meta") if m.attrs.get("http-equiv")]
    assert csp and "default-src 'none'" in csp[0].attrs["content"]


def test_skipped_checks_show_their_reason(dom: Node) -> None:
    rows = dom.one("table", class_="skipped").find_all("tr", data_check_id="queue-port")
    assert len(rows) == 1
    assert rows[0].one("td", class_="reason").text() == SKIP_REASON
    assert len(dom.one("table", class_="skipped").find_all("tbody")[0].find_all("tr")) == 1


def test_links_to_airflow_task_logs_and_data_docs(dom: Node, tmp_path: Path) -> None:
    logs = {a.text(): a.attrs["href"] for a in dom.one("table", class_="summary").find_all("a")}
    run_url = f"http://127.0.0.1:8080/dags/shop_daily/runs/{ENCODED_RUN}"
    assert logs == {
        "health.api": f"{run_url}/tasks/health.api",
        "health.db": f"{run_url}/tasks/health.db",
        "health.queue": f"{run_url}/tasks/health.queue",
        "quality.db": f"{run_url}/tasks/quality.db",
    }
    problem_link = dom.one("div", data_check_id="orders-not-null").one("a", class_="task-log")
    assert problem_link.attrs["href"] == f"{run_url}/tasks/quality.db"
    assert dom.one("a", class_="airflow-run").attrs["href"] == run_url
    docs = (tmp_path / "data_docs" / "index.html").resolve().as_uri()
    assert dom.one("a", class_="data-docs").attrs["href"] == docs


def test_without_links_there_are_none(store: ResultStore) -> None:
    tree = parse(render_run_report(store, RUN))
    assert tree.find_all("a") == []
    assert "alerts" not in {h.attrs.get("id") for h in tree.find_all("h2")}


def test_summary_by_kind_and_target(dom: Node) -> None:
    table = dom.one("table", class_="summary")
    rows = {
        (r.attrs["data-family"], r.attrs["data-target"]): cells(r)[2:9]
        for r in table.find_all("tr")
        if "data-family" in r.attrs
    }
    # checks, passed, failed, error, skipped, pass rate, duration (first start → last end)
    assert rows == {
        ("health", "api"): ["2", "1", "1", "0", "0", "50.0%", "250 ms"],
        ("health", "db"): ["1", "0", "0", "1", "0", "0.0%", "3.0 s"],
        ("health", "queue"): ["1", "0", "0", "0", "1", "—", "0 ms"],
        ("quality", "db"): ["1", "0", "1", "0", "0", "0.0%", "0 ms"],
    }
    cards = [
        (c.one("div", class_="l").text(), c.one("div", class_="v").text())
        for c in dom.find_all("div", class_="card")
    ]
    assert cards == [
        ("checks", "5"), ("passed", "1"), ("failed", "2"), ("errors", "1"), ("skipped", "1"),
        ("pass rate", "25.0%"),
    ]  # fmt: skip
    assert "1 min 35" not in dom.text() and "95.0 s" in dom.text()  # run duration
    assert "failed" in dom.one("header").text()  # a critical problem fails the run


def test_alerts_fired_and_resolved(dom: Node) -> None:
    rows = dom.one("table", class_="alerts").find_all("tr", class_="alert")
    assert [(r.attrs["class"], cells(r)[1:]) for r in rows] == [
        ("alert fired", ["critical-failures", "shop/health", ALERTS[0]["message"]]),
        ("alert resolved", ["db-streak", "shop/db", "db back"]),
    ]


def test_write_run_report_puts_it_under_env_dag_and_run(store: ResultStore, tmp_path: Path) -> None:
    path = write_run_report(store, RUN, out_dir=tmp_path / "reports", airflow_base_url=BASE)
    assert path == tmp_path / "reports" / "shop" / "shop_daily" / f"{RUN.run_id}.html"
    assert parse(path.read_text(encoding="utf-8")).one("div", data_check_id="db-up")
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left


def test_find_runs_by_run_id_for_the_cli(store: ResultStore) -> None:
    other_dag = RunRef("shop", "weekly", "shop_weekly", RUN.run_id)
    store.start_run(other_dag, started_at=T0 - timedelta(days=1))
    assert [s.ref for s in find_runs(store, RUN.run_id)] == [RUN, other_dag]  # newest first
    assert [s.ref for s in find_runs(store, RUN.run_id, "shop_weekly")] == [other_dag]
    assert find_runs(store, "manual__nope") == []


def test_bad_inputs_say_what_is_wrong(store: ResultStore) -> None:
    missing = RunRef("shop", "daily", "shop_daily", "manual__nope")
    with pytest.raises(ReportError, match="manual__nope is not in the results store"):
        render_run_report(store, missing)
    with pytest.raises(ReportError, match="stored for environment 'shop'"):
        render_run_report(store, RunRef("other", "daily", RUN.dag_id, RUN.run_id))
    with pytest.raises(ReportError, match=r"alerts\[1\]: missing transition"):
        render_run_report(store, RUN, alerts=[ALERTS[0], {"rule": "x"}])
    with pytest.raises(ReportError, match="airflow_base_url must be an http"):
        render_run_report(store, RUN, airflow_base_url="javascript:alert(1)")
    with pytest.raises(ReportError, match="data_docs must be"):
        render_run_report(store, RUN, data_docs="javascript:alert(1)")


def test_a_run_without_results_still_reports(store: ResultStore) -> None:
    empty = RunRef("shop", "daily", "shop_daily", "manual__empty")
    store.start_run(empty, started_at=T0)
    tree = parse(render_run_report(store, empty))
    assert "No results were recorded for this run." in tree.text()
    assert tree.find_all("div", class_="problem") == []
