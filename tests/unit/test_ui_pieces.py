"""The UI's pieces without a store: evidence for people, relative links, the overview's
sentence, silence scopes per environment, the rules' thresholds, the page headers."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.requests import Request

from vigil.alerts.silences import Silence
from vigil.probes.measure import Measurement
from vigil.reports.data import Counts
from vigil.result import CheckResult, Status
from vigil.results import RunCounts, RunRef, RunState, RunSummary
from vigil.spec.alerts import AlertsConfig
from vigil.ui import alerts, data, evidence, links, overview, render, specs

pytestmark = pytest.mark.unit

T0 = datetime(2025, 6, 1, 6, 0, tzinfo=UTC)


def result(**fields: Any) -> CheckResult:
    base: dict[str, Any] = {"check_id": "c", "family": "quality", "target": "db",
                            "status": Status.FAILED, "started_at": T0}  # fmt: skip
    return CheckResult.model_validate({**base, **fields})


# --- evidence -----------------------------------------------------------------------------


def test_records_become_a_table_and_flat_mappings_two_columns() -> None:
    r = result(
        details={
            "suite": "orders",
            "unexpected_rows": [{"id": 1, "note": None}, {"id": 2, "extra": True}],
            "headers": {"X-Id": "abc", "Retry": 3},
            "samples": ["a", "b"],
            "nested": {"a": {"b": [1, 2]}},
        }
    )
    got = {b.title: b for b in evidence.blocks(r)}
    assert got["Details"].kind == "pairs" and got["Details"].rows == (("suite", "orders"),)
    table = got["Unexpected rows"]
    assert table.kind == "table" and table.columns == ("id", "note", "extra")
    assert table.rows == (("1", "—", "—"), ("2", "—", "true"))
    assert got["Headers"].kind == "pairs" and ("Retry", "3") in got["Headers"].rows
    assert got["Samples"].kind == "list" and got["Samples"].items == ("a", "b")
    assert got["Nested"].kind == "json" and '"b": [' in got["Nested"].text


def test_expected_and_observed_side_by_side_when_they_share_keys() -> None:
    same = evidence.blocks(result(expected={"status": 200}, observed={"status": 503}))
    assert [(b.title, b.rows) for b in same] == [
        ("Expected and observed", (("status", "200", "503"),))
    ]
    apart = evidence.blocks(result(expected={"threshold": "p95 < 50ms"}, observed={"p95": 61.25}))
    assert [b.title for b in apart] == ["Expected", "Observed"]
    assert apart[1].rows == (("p95", "61 ms"),)
    scalar = evidence.blocks(result(expected=None, observed=12))
    assert [(b.title, b.kind, b.rows) for b in scalar] == [
        ("Observed", "pairs", (("Observed", "12"),))
    ]


def test_big_evidence_is_cut_with_a_note() -> None:
    rows = [{f"c{j}": j for j in range(30)} for _ in range(80)]
    block = evidence.block("Rows", rows)
    assert len(block.rows) == evidence.MAX_ROWS and len(block.columns) == evidence.MAX_COLUMNS
    assert block.note == "first 20 of 30 columns; first 50 of 80 rows"
    assert evidence.cell("x" * 1000).endswith("…") and len(evidence.cell("x" * 1000)) == 300


@pytest.mark.parametrize(
    ("value", "key", "shown"),
    [(None, "", "—"), (True, "", "true"), (3.0, "", "3"), (0.125, "", "0.125"),
     (1234567.0, "", "1,234,567"), (1530.0, "p99", "1.5 s"), (0.0123, "error_rate", "1.23%"),
     ({"a": 1}, "", '{"a": 1}')],
)  # fmt: skip
def test_cells_are_readable(value: Any, key: str, shown: str) -> None:
    assert evidence.cell(value, key) == shown


def test_a_probe_histogram_becomes_a_chart_and_garbage_is_left_out() -> None:
    m = Measurement()
    for i in range(500):
        m.record(800 + 7 * i)
    blocks = evidence.blocks(result(details={"histogram": m.encoded(), "profile": "default"}))
    chart = [b for b in blocks if b.kind == "chart"]
    assert len(chart) == 1 and "500 timed requests" in str(chart[0].chart)
    assert all(b.title != "Histogram" for b in blocks)
    assert evidence.latency_histogram("not a histogram") is None
    assert evidence.blocks(result(details={"histogram": "kept whole in the store"})) == []


# --- links --------------------------------------------------------------------------------


def request(path: str, root: str = "", raw: str | None = None) -> Request:
    return Request(
        {"type": "http", "path": path, "root_path": root,
         "raw_path": (raw or path).encode(), "query_string": b"", "headers": []}
    )  # fmt: skip


@pytest.mark.parametrize(
    ("path", "root", "raw", "up"),
    [("/", "", None, "./"), ("/alerts", "", None, "./"),
     ("/environments/demo", "", None, "../"),
     ("/vigil/environments/demo/checks/a.b", "/vigil", None, "../../../"),
     ("/vigil/runs/d/a/b", "/vigil", "/vigil/runs/d/a%2Fb", "../../"),
     ("/p/q/environments/demo/silences", "/p/q", None, "../../")],
)  # fmt: skip
def test_links_reach_the_app_root_from_any_page(
    path: str, root: str, raw: str | None, up: str
) -> None:
    assert links.to_root(request(path, root, raw)) == up


def test_airflow_links_and_their_base() -> None:
    assert links.airflow_base(None) == links.airflow_base("  ") == ""
    assert links.airflow_base("/airflow/") == "/airflow"
    assert links.airflow_base("https://af.example/base/") == "https://af.example/base"
    for bad in ("javascript:alert(1)", "//evil.example", "airflow"):
        with pytest.raises(ValueError, match="airflow_base_url"):
            links.airflow_base(bad)
    run_id = "scheduled__2025-01-01T06:00:00+00:00"
    assert links.task_instance("", "demo_daily", run_id, "health.orders-api") == (
        "/dags/demo_daily/runs/scheduled__2025-01-01T06%3A00%3A00%2B00%3A00/tasks/health.orders-api"
    )
    u = render.Urls("../", "/af")
    assert u.check("demo", "x/y") == "../environments/demo/checks/x%2Fy"
    assert u.alerts("demo", made=3) == "../alerts?environment=demo&made=3"
    assert u.airflow_run("d", "r") == "/af/dags/d/runs/r"
    assert links.airflow_base("../") == ".."
    relative = render.Urls("../../", links.airflow_base(".."))
    assert relative.airflow_task("d", "r", "t") == "../../../dags/d/runs/r/tasks/t"
    assert render.Urls("./", "..").airflow_dag("d") == "./../dags/d"


# --- the overview's sentence --------------------------------------------------------------


def summary(env: str, state: RunState) -> RunSummary:
    ref = RunRef(env, "daily", f"{env}_daily", "r1")
    return RunSummary(ref, state, T0, T0 + timedelta(minutes=1), RunCounts(2, 2), 0, False)


def env_row(env: str, state: RunState | None, firing: int = 0, failed: int = 0) -> overview.EnvRow:
    latest = summary(env, state) if state else None
    run = data.FamilyRun(env, "health", f"{env}_daily", "r1", "daily", "success", T0, None,
                         Counts(2 - failed, failed), failed)  # fmt: skip
    families = [overview.FamilyRow("health", run, None, [])] if latest else []
    row = overview.EnvRow(env, latest, families, firing, 0, 0, f"{env}_daily")
    row.problems.extend(overview.problems(row))
    return row


def test_the_sentence_says_all_healthy_or_names_what_is_not() -> None:
    ok = overview.Overview(
        [env_row("a", RunState.SUCCESS), env_row("b", RunState.RUNNING)], T0, "a_daily"
    )
    assert ok.sentence == "All 2 environments healthy" and ok.healthy
    bad = overview.Overview(
        [env_row("a", RunState.SUCCESS), env_row("b", RunState.FAILED, firing=1, failed=1)],
        T0,
        "a_daily",
    )
    assert bad.sentence == (
        "1 of 2 environments is not healthy: b (latest run failed, health: 1 failed, "
        "1 alert firing)"
    )
    one = overview.Overview([env_row("b", RunState.SUCCESS, firing=2)], T0, "b_daily")
    assert one.sentence == "b is not healthy: 2 alerts firing"
    none = overview.Overview([env_row("new", None)], T0, "new_daily")
    assert none.sentence == "No runs stored yet: run `make demo` or trigger new_daily"
    assert not none.healthy
    empty = overview.Overview([], T0, "<environment>_daily")
    assert empty.sentence.startswith("No runs stored yet")
    mixed = overview.Overview([env_row("a", RunState.SUCCESS), env_row("new", None)], T0, "a")
    assert mixed.sentence == (
        "1 of 2 environments is not healthy: new (no runs stored yet: trigger new_daily)"
    )


def test_thresholds_come_from_the_rate_rules_that_select_the_family() -> None:
    cfg = AlertsConfig.model_validate(
        {"rules": [
            {"id": "run-rate", "kind": "run_failure_rate", "threshold": 0.1},
            {"id": "flaky", "kind": "window_failure_rate", "window": {"last_runs": 10},
             "threshold": 0.3, "select": {"families": ["quality"]}},
            {"id": "streak", "kind": "consecutive_failures"},
        ]}
    )  # fmt: skip
    health = specs.rate_rules(cfg, "health")
    assert [(r.rule_id, r.threshold, r.window) for r in health] == [("run-rate", 0.1, "one run")]
    quality = specs.rate_rules(cfg, "quality")
    assert [r.rule_id for r in quality] == ["run-rate", "flaky"]
    assert quality[1].window == "last 10 runs per check_id"
    assert specs.rate_rules(None, "health") == []
    assert specs.trigger_dag("x", None) == "x_daily"


# --- silences per environment -------------------------------------------------------------


def silence(scope: str) -> Silence:
    return Silence(1, scope, T0, T0 + timedelta(hours=1), "ann", "why", T0)


def test_a_silence_is_made_for_its_environment_only() -> None:
    assert alerts.scoped("target=db", "demo") == "environment=demo target=db"
    assert alerts.scoped("environment=demo rule=x", "demo") == "environment=demo rule=x"
    with pytest.raises(alerts.NotInEnvironment, match="environment=prod"):
        alerts.scoped("environment=prod", "demo")
    assert alerts.own_environment(silence("environment=demo target=db")) == "demo"
    assert alerts.own_environment(silence("environment=dem* target=db")) is None
    assert alerts.own_environment(silence("target=db")) is None
    assert alerts.applies(silence("environment=dem* target=db"), "demo")
    assert not alerts.applies(silence("environment=prod"), "demo")
    assert alerts.applies(silence("target=db"), "demo")
    assert alerts.silence_number("#12") == alerts.silence_number(" 12") == 12
    with pytest.raises(alerts.UnknownSilence):
        alerts.silence_number("twelve")


# --- pages' headers and helpers -----------------------------------------------------------


def test_the_two_scripts_are_allowed_by_their_hashes_and_nothing_else_loads() -> None:
    html = render.render(
        "error.html", u=render.Urls("./", ""), theme="dark", title="t", heading="h",
        message="m <b>", status=503,
    )  # fmt: skip
    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    assert scripts == [render.THEME_SCRIPT, render.NAVIGATE_SCRIPT]
    for script in scripts:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in render.CSP
    assert render.CSP.count("'sha256-") == 2
    assert 'data-theme="dark"' in html and "m &lt;b&gt;" in html
    assert not re.search(r"(src|href)=\"(https?:)?//", html)


def test_ago_reads_like_a_person() -> None:
    now = T0 + timedelta(days=2, hours=3)
    assert render.ago(T0, now) == "2 d ago"
    assert render.ago(now - timedelta(minutes=5), now) == "5 min ago"
    assert render.ago(now, now) == "just now" and render.ago(None, now) == "—"
