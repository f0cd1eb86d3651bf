"""Vigil's UI app (vigil.ui.create_app) against a real results store: runs of every status,
alerts moved by the real engine, silences; its JSON API shapes, its pages' content, empty
states, authentication on every route, the write guard, a store that is down, relative
links under a mount prefix, and a silence made through the API holding in the next
evaluation."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.testclient import TestClient

from vigil.alerts.engine import evaluate
from vigil.alerts.silences import add_silence, list_silences
from vigil.probes.measure import Measurement
from vigil.result import CheckResult, Severity, Status
from vigil.results import ResultStore, RunRef
from vigil.spec.loader import load_spec
from vigil.spec.models import Spec
from vigil.stack.postgres import LocalPostgres
from vigil.ui import create_app
from vigil.ui.specs import SpecsFolder

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
P, F, E, S = Status.PASSED, Status.FAILED, Status.ERROR, Status.SKIPPED
HOSTILE = '<script>alert("x")</script>'

SHOP_SPEC = """
environment: shop
timezone: UTC
targets:
  api: {kind: http, base_url: "http://127.0.0.1:9"}
  db: {kind: tcp, address: "127.0.0.1:9"}
alerts:
  channels: {ops-log: {kind: log}}
  routes: {critical: [ops-log], warning: [ops-log]}
  rules:
    - {id: target-down, kind: consecutive_failures, severity: critical,
       select: {families: [health]}, count: 1, resolve_after: 1}
    - {id: run-failure-rate, kind: run_failure_rate, severity: warning, threshold: 0.2}
"""
LAB_SPEC = """
environment: lab
targets:
  api: {kind: http, base_url: "http://127.0.0.1:9"}
schedules:
  daily: {cron: "0 6 * * *", enabled: false}
"""


def histogram() -> str:
    m = Measurement()
    for i in range(200):
        m.record(1000 + 50 * i)
    return m.encoded()


def result(check_id: str, status: Status, at: datetime, **extra: Any) -> CheckResult:
    family, target = extra.pop("where", ("health", "api"))
    return CheckResult(
        check_id=check_id, family=family, target=target, status=status, started_at=at,
        duration_ms=extra.pop("ms", 20.0), message=extra.pop("message", f"{check_id}: {status}"),
        **extra,
    )  # fmt: skip


def shop_results(i: int, api: Status, at: datetime) -> list[CheckResult]:
    """Run i of shop: api-up as given, db-port passes, a quality check with unexpected
    rows failing from run 4 on and one always failing (warnings), a latency check skipped
    when the api is down, and a probe threshold with its figures."""
    quality = F if i >= 4 else P
    details: dict[str, Any] = {"suite": "orders", "table": "public.orders"}
    if quality is F:
        details["unexpected_rows"] = [
            {"id": 7, "customer": None, "note": HOSTILE},
            {"id": 9, "customer": None, "note": "late"},
        ]
    skipped = api is not P
    return [
        result("api-up", api, at, message=f"GET / answered {'200' if api is P else '503'}",
               observed={"status": 200 if api is P else 503}, expected={"status": 200},
               details={"request": {"method": "GET", "url": "http://api/"}}),
        result("db-port", P, at + timedelta(seconds=1), where=("health", "db")),
        result("orders.customer_not_null", quality, at, where=("quality", "db"),
               severity=Severity.WARNING, message="2 of 100 orders have no customer"
               if quality is F else "every order has a customer", details=details,
               check_kind="suite", parent=None),
        result("api-latency", S if skipped else P, at,
               message="skipped: api is unhealthy" if skipped else "fast",
               details={"skipped_because": "api is unhealthy (api-up: 503)"} if skipped else {}),
        result("orders.row_count", F, at, where=("quality", "db"), severity=Severity.WARNING,
               message="12 rows, expected at least 100", observed={"rows": 12},
               expected={"rows": ">= 100"}),
        result("api-load.p95", P, at, where=("probes", "api"), parent="api-load",
               observed={"p50": 4.2, "p95": 9.5, "p99": 11.0, "rps": 250.0, "error_rate": 0.0},
               expected={"threshold": "p95 < 50ms", "limit": 50.0},
               details={"profile": "default", "histogram": histogram()}, ms=3000.0),
    ]  # fmt: skip


SHOP_API = [P, P, F, P, F, F]  # flaky api-up; the newest run fails


@dataclass
class Seeded:
    dsn: str
    specs: SpecsFolder
    shop_runs: list[RunRef]
    lab_runs: list[RunRef]

    def store(self) -> ResultStore:
        return ResultStore(self.dsn)

    def spec(self, env: str) -> Spec:
        return self.specs()[env]


def new_db(pg: LocalPostgres) -> str:
    name = "ui_" + uuid.uuid4().hex[:12]
    pg.create_database(name)
    return pg.dsn(name)


def write_specs(folder: Path) -> SpecsFolder:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shop.yaml").write_text(SHOP_SPEC)
    (folder / "lab.yaml").write_text(LAB_SPEC)
    (folder / "broken.yaml").write_text("environment: [\n")  # a bad spec breaks no page
    return SpecsFolder(folder)


def seed_shop(store: ResultStore, spec: Spec, statuses: list[Status]) -> list[RunRef]:
    """Shop's daily runs, one a day up to an hour ago, each evaluated by the real engine."""
    runs = []
    n = len(statuses)
    for i, api in enumerate(statuses):
        at = NOW - timedelta(days=n - 1 - i, hours=1)
        run = RunRef("shop", "daily", "shop_daily", f"scheduled__{at.isoformat()}")
        store.start_run(run, started_at=at, params={"families": ["health"]})
        store.record(run, shop_results(i, api, at))
        store.finish_run(run, ended_at=at + timedelta(minutes=2 + i))
        report = evaluate(store, run, spec.alerts, now=at + timedelta(minutes=6))
        assert report.problems == []
        runs.append(run)
    return runs


def seed_lab(store: ResultStore) -> list[RunRef]:
    """lab: a successful weekly run and a newer one still running (all passing)."""
    runs = []
    for i, minutes in enumerate((600, 30)):
        at = NOW - timedelta(minutes=minutes)
        run = RunRef("lab", "weekly", "lab_weekly", f"manual__{i}")
        store.start_run(run, started_at=at)
        store.record(run, [result("api-up", P, at)])
        if i == 0:
            store.finish_run(run, ended_at=at + timedelta(seconds=30))
        runs.append(run)
    return runs


@pytest.fixture(scope="module")
def seeded(pg: LocalPostgres, tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    dsn = new_db(pg)
    specs = write_specs(tmp_path_factory.mktemp("specs"))
    store = ResultStore(dsn)
    shop = seed_shop(store, specs()["shop"], SHOP_API)
    lab = seed_lab(store)
    add_silence(store, "environment=shop target=db", "4h", "db maintenance", "carol")
    return Seeded(dsn, specs, shop, lab)


@pytest.fixture(scope="module")
def client(seeded: Seeded) -> Iterator[TestClient]:
    app = create_app(seeded.store, specs=seeded.specs, current_user=lambda: "alice")
    with TestClient(app) as c:
        yield c


# --- a few helpers to read pages ----------------------------------------------------------


def text(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def element(html: str, id_: str) -> str:
    """The text of the element with this id (up to the end of its tag name's element)."""
    found = re.search(rf'<(\w+)[^>]*\bid="{re.escape(id_)}"[^>]*>(.*?)</\1>', html, re.S)
    assert found, f"no element #{id_}"
    return text(found.group(2)).strip()


def hrefs(html: str) -> list[str]:
    return [unescape(h) for h in re.findall(r'href="([^"]*)"', html)]


# --- the JSON API -------------------------------------------------------------------------


def test_environments_api_gives_overview_figures_and_names_the_unhealthy_one(
    client: TestClient,
) -> None:
    body = client.get("/api/environments").json()
    assert body["healthy"] is False
    assert body["summary"].startswith("1 of 2 environments is not healthy: shop (")
    envs = {e["environment"]: e for e in body["environments"]}
    assert set(envs) == {"lab", "shop"}
    shop, lab = envs["shop"], envs["lab"]
    assert lab["healthy"] and lab["latest_run"]["state"] == "running"
    assert not shop["healthy"] and shop["latest_run"]["state"] == "failed"
    assert shop["firing_alerts"] == 2 and "2 alerts firing" in shop["problems"]
    fams = {f["family"]: f for f in shop["families"]}
    assert set(fams) == {"health", "quality", "probes"}
    health = fams["health"]
    assert health["state"] == "failed" and health["latest_counts"]["failed"] == 1
    # 7 days: api-up passed 3 of 6, db-port 6 of 6 -> 9 of 12 (api-latency skipped when down)
    assert health["pass_rate_7d"] == pytest.approx((3 + 6 + 3) / (6 + 6 + 3))
    assert health["pass_rate_30d"] == health["pass_rate_7d"]
    rule = {t["rule_id"]: t for t in health["thresholds"]}["run-failure-rate"]
    assert rule["threshold"] == 0.2 and rule["rate"] == pytest.approx(1 / 2)
    assert rule["above"] is True
    assert fams["quality"]["state"] == "warning"
    assert fams["probes"]["state"] == "passed"


def test_runs_results_and_check_history(client: TestClient, seeded: Seeded) -> None:
    runs = client.get("/api/environments/shop/runs", params={"limit": 3}).json()
    assert [r["state"] for r in runs["runs"]] == ["failed", "failed", "success"]
    newest = runs["runs"][0]
    assert newest["run_id"] == seeded.shop_runs[-1].run_id and newest["duration_ms"] == 420_000
    assert newest["counts"] == {"passed": 2, "failed": 3, "error": 0, "skipped": 1,
                                "pass_rate": 0.4}  # fmt: skip

    run = seeded.shop_runs[-1]
    got = client.get(f"/api/runs/{run.dag_id}/{run.run_id}/results").json()
    assert got["run"]["run_id"] == run.run_id
    by_id = {r["check_id"]: r for r in got["results"]}
    assert by_id["api-up"]["status"] == "failed"
    assert by_id["orders.customer_not_null"]["details"]["unexpected_rows"][0]["id"] == 7
    only = client.get(f"/api/runs/{run.dag_id}/{run.run_id}/results",
                      params={"family": "health", "target": "db"}).json()  # fmt: skip
    assert [r["check_id"] for r in only["results"]] == ["db-port"]
    assert client.get(f"/api/runs/{run.dag_id}/nope/results").status_code == 404

    hist = client.get("/api/environments/shop/checks/api-up", params={"limit": 4}).json()
    assert [h["status"] for h in hist["history"]] == ["failed", "failed", "passed", "failed"]
    assert hist["latest"]["observed"] == {"status": 503} and hist["latest_run_id"] == run.run_id
    assert client.get("/api/environments/shop/checks/nope").status_code == 404

    rates = client.get("/api/environments/shop/failure-rates",
                       params={"last_runs": 2, "by": "check_id"}).json()  # fmt: skip
    top = rates["rates"][0]
    assert top["key"] == {"check_id": "api-up"} and top["rate"] == 1.0
    assert rates["window"] == "last 2 runs"
    bad = client.get("/api/environments/shop/failure-rates", params={"by": "colour"})
    assert bad.status_code == 422


def test_alerts_api_has_firing_resolved_silenced_with_timelines(client: TestClient) -> None:
    body = client.get("/api/alerts").json()
    firing = {a["fingerprint"]: a for a in body["firing"]}
    down = firing["target-down/check_id=api-up"]
    assert down["environment"] == "shop" and down["severity"] == "critical"
    assert down["target"] == "api" and down["family"] == "health"
    whats = [e["what"] for e in down["timeline"]]
    assert any(w.startswith("fired") for w in whats) and "firing to ops-log" in whats
    assert "opened (breaching)" in whats
    times = [e["at"] for e in down["timeline"]]
    assert times == sorted(times, reverse=True)  # newest first
    assert "run-failure-rate" in firing
    # target-down fired on the 3rd run and resolved on the 4th, then fired again: one
    # alert, its timeline has both episodes
    assert sum(w.startswith("fired") for w in whats) == 1 and "resolve to ops-log" in whats
    shop_only = client.get("/api/environments/shop/alerts").json()
    assert {a["fingerprint"] for a in shop_only["firing"]} == set(firing)
    assert client.get("/api/alerts", params={"environment": "lab"}).json()["firing"] == []


def test_silences_api_lists_those_in_force(client: TestClient) -> None:
    body = client.get("/api/silences").json()
    assert [(s["scope"], s["created_by"], s["active"]) for s in body["silences"]] == [
        ("environment=shop target=db", "carol", True)
    ]
    assert client.get("/api/environments/lab/silences").json()["silences"] == []
    assert len(client.get("/api/environments/shop/silences").json()["silences"]) == 1


def test_openapi_documents_the_api(client: TestClient) -> None:
    doc = client.get("/api/openapi.json").json()
    paths = doc["paths"]
    for path in ("/api/environments", "/api/environments/{environment}/runs",
                 "/api/runs/{dag_id}/{run_id}/results", "/api/alerts", "/api/silences",
                 "/api/environments/{environment}/failure-rates",
                 "/api/environments/{environment}/checks/{check_id}",
                 "/api/environments/{environment}/silences/{name}"):  # fmt: skip
        assert path in paths, path
    assert "post" in paths["/api/environments/{environment}/silences"]
    assert not any(p.startswith("/runs") or p == "/" for p in paths)  # pages stay out
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and "/api/environments/{environment}/runs" in docs.text


# --- the pages ----------------------------------------------------------------------------


def test_overview_says_in_one_sentence_what_is_not_healthy(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    verdict = element(page.text, "verdict")
    assert verdict.startswith("1 of 2 environments is not healthy: shop (")
    assert "lab" not in verdict and "latest run failed" in verdict
    assert "health: 1 failed" in verdict and "alert" in verdict
    body = text(page.text)
    assert "50.0% > 20.0% run-failure-rate" in body  # the family's rate against the rule
    assert 'data-environment="lab" data-healthy="yes"' in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'self'" in csp
    assert not re.search(r'(src|href)="(https?:)?//', page.text)  # nothing from the network
    assert "prefers-color-scheme: dark" in page.text


def test_environment_page_has_charts_flaky_checks_and_alerts(client: TestClient) -> None:
    page = client.get("/environments/shop", params={"days": 7})
    assert page.status_code == 200
    html = page.text
    assert html.count("<svg") >= 4  # rates, outcomes, slowest, run durations, probes...
    flaky = html[html.index('id="flaky"') : html.index('id="always-failing"')]
    assert 'data-check-id="api-up"' in flaky  # P P F P F F: flips 3 of 5
    failing = html[html.index('id="always-failing"') : html.index('id="slowest"')]
    assert 'data-check-id="orders.row_count"' in failing
    assert 'data-check-id="orders.customer_not_null"' not in failing
    alerts = html[html.index('id="alerts"') : html.index('id="per-day"')]
    assert "target-down/check_id=api-up" in alerts
    assert "checks/orders.customer_not_null" in html
    assert HOSTILE not in html
    assert client.get("/environments/shop", params={"days": 500}).status_code == 422


def test_check_page_shows_its_outcome_strip_and_readable_evidence(client: TestClient) -> None:
    page = client.get("/environments/shop/checks/orders.customer_not_null")
    assert page.status_code == 200
    strip = re.search(r'<div class="strip" id="strip">(.*?)</div>', page.text, re.S)
    assert strip is not None
    cells = re.findall(r'<a class="(\w+)"', strip.group(1))
    assert cells == ["passed"] * 4 + ["failed"] * 2  # oldest left
    html = page.text
    # the unexpected rows as a table, hostile text escaped
    assert "<h3>Unexpected rows" in html
    rows = html[html.index("<h3>Unexpected rows") :]
    rows = rows[: rows.index("</table>")]
    assert {"id", "customer", "note"} <= set(re.findall(r"<th>(\w+)</th>", rows))
    assert rows.count("<tr>") == 3  # the header and two rows
    assert "&lt;script&gt;" in html and HOSTILE not in html
    assert "2 of 100 orders have no customer" in html
    run = re.search(r'class="task-log" target="_top" href="([^"]+)"', html)
    assert run is not None
    assert run.group(1).startswith("/dags/shop_daily/runs/scheduled__")
    assert run.group(1).endswith("/tasks/quality.db")


def test_check_page_of_a_probe_shows_figures_and_a_latency_histogram(
    client: TestClient,
) -> None:
    html = client.get("/environments/shop/checks/api-load.p95").text
    assert "Expected" in html and "9.5 ms" in html and "250" in html
    assert "Latency histogram" in html and "timed requests" in html
    passing = client.get("/environments/shop/checks/api-up").text
    assert 'id="last-problem"' not in passing  # the latest is the problem itself


def test_run_tab_and_task_tab(client: TestClient, seeded: Seeded) -> None:
    run = seeded.shop_runs[-1]
    page = client.get(f"/runs/{run.dag_id}/{run.run_id}")
    assert page.status_code == 200
    html = page.text
    assert 'data-check-id="api-up"' in html and "api is unhealthy (api-up: 503)" in html
    problems = html[html.index('id="problems"') : html.index('id="skipped"')]
    assert problems.index("api-up") < problems.index("orders.customer_not_null")  # critical 1st
    encoded = run.run_id.replace(":", "%3A").replace("+", "%2B")
    assert f'href="/dags/shop_daily/runs/{encoded}"' in html  # Airflow's own page of the run

    refired = seeded.shop_runs[4]
    told = client.get(f"/runs/{refired.dag_id}/{refired.run_id}").text
    assert "target-down/check_id=api-up" in told[told.index('id="alerts"') :]  # fired again

    task = client.get(f"/runs/{run.dag_id}/{run.run_id}/tasks/quality.db")
    assert task.status_code == 200
    assert "orders.customer_not_null" in task.text and "api-up" not in task.text
    assert "<h3>Unexpected rows" in task.text
    other = client.get(f"/runs/{run.dag_id}/{run.run_id}/tasks/evaluate")
    assert other.status_code == 200 and "checks nothing itself" in other.text
    missing = client.get("/runs/shop_daily/manual__nope")
    assert missing.status_code == 404 and "not in Vigil" in text(missing.text)


def test_alerts_page_lists_firing_resolved_and_silences(client: TestClient) -> None:
    html = client.get("/alerts").text
    firing = html[html.index('id="firing"') : html.index('id="silenced"')]
    assert "target-down/check_id=api-up" in firing
    silences = html[html.index('id="silences"') : html.index('id="add-silence"')]
    assert "environment=shop target=db" in silences and "carol" in silences
    assert 'action="./environments/shop/silences/' in silences  # its remove form
    forms = html[html.index('id="add-silence"') :]
    assert 'action="./environments/shop/silences"' in forms
    assert 'action="./environments/lab/silences"' in forms


# --- empty states and failures ------------------------------------------------------------


def test_every_page_has_an_empty_state_on_an_empty_store(pg: LocalPostgres) -> None:
    dsn = new_db(pg)
    app = create_app(lambda: ResultStore(dsn), specs=dict)
    with TestClient(app) as c:
        verdict = element(c.get("/").text, "verdict")
        assert verdict.startswith("No runs stored yet: run `make demo` or trigger")
        env = c.get("/environments/demo")
        assert env.status_code == 404 and "No runs stored yet for demo" in text(env.text)
        assert "trigger demo_daily" in text(env.text)
        check = c.get("/environments/demo/checks/api-up")
        assert check.status_code == 404 and "No result of api-up" in text(check.text)
        assert "No alert fired in the last 30 days" in text(c.get("/alerts").text)
        assert c.get("/runs/demo_daily/x").status_code == 404
        body = c.get("/api/environments").json()
        assert body["environments"] == [] and body["healthy"] is False
        assert body["summary"].startswith("No runs stored yet: run `make demo`")


def test_an_unreachable_store_answers_503_never_a_traceback(pg: LocalPostgres) -> None:
    down = f"postgresql://nobody@127.0.0.1:{_closed_port()}/none"
    app = create_app(lambda: ResultStore(down), specs=dict)
    with TestClient(app, raise_server_exceptions=False) as c:
        page = c.get("/environments/shop")
        assert page.status_code == 503 and "results store" in element(page.text, "error")
        api = c.get("/api/environments")
        assert api.status_code == 503 and "results store" in api.json()["detail"]

    def broken() -> ResultStore:
        raise RuntimeError("no connection vigil_results")

    with TestClient(create_app(broken, specs=dict), raise_server_exceptions=False) as c:
        assert c.get("/alerts").status_code == 503
        assert "RuntimeError" in c.get("/api/alerts").json()["detail"]


def _closed_port() -> int:
    from vigil.stack.postgres import free_port

    return free_port()


# --- authentication, the write guard, relative links --------------------------------------


def bearer(request: Request) -> str:
    token = request.headers.get("authorization", "")
    if not token.startswith("Bearer user-"):
        raise HTTPException(401, "not authenticated", headers={"WWW-Authenticate": "Bearer"})
    return token.removeprefix("Bearer user-")


def editors_only(environment: str, request: Request) -> None:
    if request.headers.get("x-role") != "editor" or environment == "locked":
        raise HTTPException(403, f"not allowed to act on {environment}'s DAGs")


def guarded_app(seeded: Seeded) -> FastAPI:
    return create_app(
        seeded.store,
        dependencies=[Depends(bearer)],
        current_user=bearer,
        write_guard=editors_only,
        specs=seeded.specs,
    )


ROUTES = ["/", "/environments/shop", "/environments/shop/checks/api-up", "/alerts",
          "/runs/shop_daily/x", "/runs/shop_daily/x/tasks/health.api", "/api/environments",
          "/api/environments/shop/runs", "/api/alerts", "/api/silences", "/api/openapi.json",
          "/api/docs", "/api/environments/shop/failure-rates"]  # fmt: skip


def test_every_route_refuses_an_anonymous_request(seeded: Seeded) -> None:
    with TestClient(guarded_app(seeded)) as c:
        for route in ROUTES:
            assert c.get(route).status_code == 401, route
        assert c.post("/api/environments/shop/silences",
                      json={"scope": "target=api", "reason": "x"}).status_code == 401  # fmt: skip
        form = {"scope": "target=api", "reason": "x"}
        assert c.post("/environments/shop/silences", data=form).status_code == 401
        assert c.delete("/api/environments/shop/silences/1").status_code == 401
        ok = {"Authorization": "Bearer user-dave"}
        for route in ROUTES:
            assert c.get(route, headers=ok).status_code in (200, 404), route
    assert [s.created_by for s in list_silences(seeded.store())] == ["carol"]


def test_a_silence_made_through_the_api_is_recorded_with_the_user_and_guarded(
    pg: LocalPostgres, tmp_path: Path
) -> None:
    dsn, specs = new_db(pg), write_specs(tmp_path)
    store = ResultStore(dsn)
    runs = seed_shop(store, specs()["shop"], [P, F])
    seeded = Seeded(dsn, specs, runs, [])
    user = {"Authorization": "Bearer user-alice"}
    editor = {**user, "X-Role": "editor"}
    body = {"scope": "target=db", "duration": "2h", "reason": "failover test"}
    with TestClient(guarded_app(seeded)) as c:
        refused = c.post("/api/environments/shop/silences", json=body, headers=user)
        assert refused.status_code == 403 and list_silences(store) == []
        made = c.post("/api/environments/shop/silences", json=body, headers=editor)
        assert made.status_code == 201, made.text
        silence = made.json()
        assert silence["scope"] == "environment=shop target=db"
        assert silence["created_by"] == "alice" and silence["active"]
        assert silence["reason"] == "failover test"
        listed = c.get("/api/environments/shop/silences", headers=user).json()["silences"]
        assert [s["id"] for s in listed] == [silence["id"]]
        page = c.get("/alerts", headers=user).text
        assert "environment=shop target=db" in page and "alice" in page
        # a scope naming another environment, and a bad duration, are refused clearly
        other = c.post("/api/environments/shop/silences", headers=editor,
                       json={**body, "scope": "environment=lab"})  # fmt: skip
        assert other.status_code == 409 and "environment=lab" in other.json()["detail"]
        bad = c.post("/api/environments/shop/silences", headers=editor,
                     json={**body, "duration": "soon"})  # fmt: skip
        assert bad.status_code == 422 and "until" in bad.json()["detail"]
        # removing: guarded too, then recorded with the user
        sid = silence["id"]
        assert c.delete(f"/api/environments/shop/silences/{sid}", headers=user).status_code == 403
        assert c.delete(f"/api/environments/lab/silences/{sid}", headers=editor).status_code == 409
        gone = c.delete(f"/api/environments/shop/silences/{sid}", headers=editor)
        assert gone.status_code == 200 and gone.json()["removed_by"] == "alice"
        assert c.delete(f"/api/environments/shop/silences/{sid}", headers=editor).status_code == 404
    assert list_silences(store) == []


def test_the_alerts_page_forms_add_and_remove_a_silence(pg: LocalPostgres, tmp_path: Path) -> None:
    dsn, specs = new_db(pg), write_specs(tmp_path)
    store = ResultStore(dsn)
    seeded = Seeded(dsn, specs, seed_shop(store, specs()["shop"], [F]), [])
    user = {"Authorization": "Bearer user-bob", "X-Role": "editor"}
    outer = FastAPI()
    outer.mount("/vigil", guarded_app(seeded))
    with TestClient(outer) as c:
        page = c.get("/vigil/alerts", params={"environment": "shop"}, headers=user)
        action = re.search(r'<form class="silence" method="post" action="([^"]+)"', page.text)
        assert action is not None and action.group(1) == "./environments/shop/silences"
        url = urljoin(str(page.url), action.group(1))
        form = {"scope": "fingerprint=target-down/*", "duration": "1h", "reason": "on it",
                "back": "environment=shop"}  # fmt: skip
        posted = c.post(url, data=form, headers=user, follow_redirects=False)
        assert posted.status_code == 303
        back = urljoin(url, posted.headers["location"])
        assert back.startswith("http://testserver/vigil/alerts?environment=shop&made=")
        shown = c.get(back, headers=user).text
        assert "Silence #" in element(shown, "flash") and "bob" in shown
        silenced = shown[shown.index('id="silenced"') : shown.index('id="resolved"')]
        assert "target-down/check_id=api-up" in silenced  # the firing alert is now silenced
        # a post from another site is refused, even with the session
        evil = c.post(url, data=form, headers={**user, "Origin": "https://evil.example"})
        assert evil.status_code == 403
        remove = re.search(r'action="(\./environments/shop/silences/\d+/remove)"', shown)
        assert remove is not None
        removed = c.post(urljoin(back, remove.group(1)), data={"back": "environment=shop"},
                         headers=user, follow_redirects=True)  # fmt: skip
        assert "removed" in element(removed.text, "flash")
        # a form post with a bad scope comes back with the reason
        bad = c.post(url, data={**form, "scope": "colour=red"}, headers=user)
        assert "Silence not made" in element(bad.text, "flash") and "colour" in bad.text
    assert [s.removed_by for s in list_silences(store, include_inactive=True)] == ["bob"]


def test_links_are_relative_and_work_under_a_mount_prefix(seeded: Seeded) -> None:
    outer = FastAPI()
    outer.mount("/plugins/vigil", create_app(seeded.store, specs=seeded.specs))
    with TestClient(outer) as c:
        start = "http://testserver/plugins/vigil/environments/shop/checks/api-up"
        page = c.get(start)
        own = [h for h in hrefs(page.text) if not h.startswith(("/dags", "#"))]
        assert own and not any(h.startswith(("/", "http")) for h in own)
        for href in sorted(set(own))[:25]:
            target = urljoin(start, href)
            assert target.startswith("http://testserver/plugins/vigil/"), href
            assert c.get(target).status_code == 200, target
    # Airflow's pages, relative to the mount point too: the app one level below its root
    behind = FastAPI()
    behind.mount("/vigil", create_app(seeded.store, specs=seeded.specs, airflow_base_url=".."))
    with TestClient(behind) as c:
        start = "http://testserver/vigil/environments/shop/checks/api-up"
        task_log = re.search(r'class="task-log" target="_top" href="([^"]+)"', c.get(start).text)
        assert task_log is not None and task_log.group(1).startswith("../../../../dags/")
        assert urljoin(start, task_log.group(1)).startswith("http://testserver/dags/shop_daily/")


def test_a_silence_made_through_the_api_holds_in_the_next_evaluation(
    pg: LocalPostgres, tmp_path: Path
) -> None:
    dsn, specs = new_db(pg), write_specs(tmp_path)
    store = ResultStore(dsn)
    spec = specs()["shop"]
    seed_shop(store, spec, [P])
    app = create_app(lambda: ResultStore(dsn), specs=specs, current_user=lambda: "erin")
    with TestClient(app) as c:
        body = {"scope": "target=api", "duration": "2d", "reason": "deploy"}
        made = c.post("/api/environments/shop/silences", json=body)
        assert made.status_code == 201
    at = NOW - timedelta(minutes=30)
    run = RunRef("shop", "daily", "shop_daily", "manual__after-silence")
    store.start_run(run, started_at=at)
    store.record(run, shop_results(1, F, at))
    store.finish_run(run, ended_at=at + timedelta(minutes=1))
    report = evaluate(store, run, spec.alerts, now=datetime.now(UTC))
    down = [n for n in report.notifications if n.fingerprint == "target-down/check_id=api-up"]
    assert [(n.kind, n.status) for n in down] == [("firing", "silenced")]
    with TestClient(app) as c:
        body = c.get("/api/alerts").json()
        held = {a["fingerprint"]: a for a in body["silenced"]}["target-down/check_id=api-up"]
        assert held["state"] == "firing" and "erin: deploy" in held["silenced_by"]
        assert body["firing"] == [] or all(a["target"] != "api" for a in body["firing"])


def test_the_specs_folder_is_read_and_a_bad_spec_ignored(tmp_path: Path) -> None:
    specs = write_specs(tmp_path)()
    assert set(specs) == {"shop", "lab"}
    assert load_spec(tmp_path / "shop.yaml").alerts.rule("run-failure-rate") is not None


def test_a_runs_data_docs_are_linked_and_served_from_the_state_folder(
    client: TestClient, seeded: Seeded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIGIL_STATE_DIR", str(tmp_path))
    run = seeded.shop_runs[-1]
    site = tmp_path / "data_docs" / "shop" / run.dag_id / run.run_id
    (site / "static").mkdir(parents=True)
    (site / "index.html").write_text("<h1>GX Data Docs</h1>")
    (site / "static" / "style.css").write_text("h1 {}")
    (tmp_path / "data_docs" / "secret.txt").write_text("not for you")
    base = f"/runs/{run.dag_id}/{run.run_id}"
    assert 'class="data-docs"' in client.get(base).text
    check = client.get("/environments/shop/checks/orders.customer_not_null").text
    assert re.search(r'class="data-docs" [^>]*href="\.\./\.\./\.\./runs/shop_daily/', check)
    assert client.get(f"{base}/data-docs/index.html").text == "<h1>GX Data Docs</h1>"
    assert client.get(f"{base}/data-docs/static/style.css").status_code == 200
    assert client.get(f"{base}/data-docs/..%2F..%2F..%2F..%2Fsecret.txt").status_code == 404
    older = seeded.shop_runs[0]
    assert 'class="data-docs"' not in client.get(f"/runs/{older.dag_id}/{older.run_id}").text
    assert (
        client.get(f"/runs/{older.dag_id}/{older.run_id}/data-docs/index.html").status_code == 404
    )
