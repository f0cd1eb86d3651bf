"""The scenarios family in the spec and the pipeline: what a journey may say, the targets
it waits for, a check per task, and checks that run on some cadences only."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.demo_system import DEMO_JOURNEYS
from vigil import families
from vigil.context import RunContext
from vigil.pipeline import Selection, gating_targets, run_target, unrecorded
from vigil.result import CheckResult, Status
from vigil.results.store import RunRef
from vigil.scenarios import templating
from vigil.scenarios.models import JourneyCheck, Step
from vigil.spec.errors import SpecError
from vigil.spec.loader import load_spec
from vigil.standalone import MemoryStore

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]

SPEC = """\
environment: shop
targets:
  api: {kind: http, base_url: "http://127.0.0.1:1", allow_writes: true}
  inventory: {kind: http, base_url: "http://127.0.0.1:2"}
  db: {kind: postgres, conn_id: shop_db}
checks:
  health:
    - {id: api-up, kind: http, target: api}
    - {id: inventory-up, kind: http, target: inventory}
  scenarios:
    - id: login-and-order
      kind: journey
      target: api
      uses: [inventory]
      steps:
        # An OAuth2 password login: a form-encoded POST whose token later steps send.
        - name: login
          http:
            method: POST
            path: /token
            body_format: form
            body: {grant_type: password, username: qa, password: "${SHOP_PASSWORD}"}
          capture: {token: {jsonpath: $.access_token, secret: true}}
        - name: create
          http:
            method: POST
            path: /orders
            auth: {bearer: "{{token}}"}
            headers: {Idempotency-Key: "{{run.marker}}-1"}
            body: {sku: a}
          expect: {status: [201], conditions: ['total < {{budget}}']}
          capture: {order_id: $.id}
        - name: rows
          sql:
            target: db
            query: "SELECT status FROM orders WHERE id = %(id)s"
            params: {id: "{{order_id}}"}
          expect: {conditions: ['rows[0].status == "new"']}
      variables: {budget: 100}
      cleanup:
        - name: cancel
          http: {method: DELETE, path: "/orders/{{order_id}}", auth: {bearer: "{{token}}"}}
    - id: weekly-suite
      kind: suite
      target: api
      cadences: [weekly]
      command: {argv: [pytest, "--junitxml={{junit_xml}}"]}
"""


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "shop.yaml"
    path.write_text(SPEC)
    return path


def test_a_login_journey_with_captures_templates_and_cleanup_loads(spec_file: Path) -> None:
    spec = load_spec(spec_file)
    journey, suite = spec.checks_of("scenarios")
    assert isinstance(journey, JourneyCheck)
    assert [s.name for s in journey.steps] == ["login", "create", "rows"]
    assert journey.steps[0].capture["token"].secret
    # The targets it waits for: its own, those it uses, those its steps name.
    assert journey.used_targets() == ["api", "inventory", "db"]
    assert gating_targets(spec, "scenarios", "api", [journey]) == ["api", "inventory", "db"]
    assert gating_targets(spec, "scenarios", "api", [suite]) == ["api"]


def test_a_write_is_retried_only_when_marked_idempotent() -> None:
    read = Step.model_validate({"name": "r", "http": {"path": "/a"}, "retries": 2})
    assert read.may_retry and not read.writes
    write = Step.model_validate(
        {"name": "w", "http": {"method": "POST", "path": "/a"}, "retries": 1, "idempotent": True}
    )
    assert write.writes and write.may_retry
    with pytest.raises(ValueError, match="idempotent: true"):
        Step.model_validate({"name": "w", "http": {"method": "PUT", "path": "/a"}, "retries": 1})


def test_templates_keep_a_whole_values_type_and_name_what_is_missing() -> None:
    variables = {"order_id": 42, "ids": [1, 2], "marker": "vigil-ab"}
    assert templating.render("{{order_id}}", variables) == 42
    assert templating.render({"ids": "{{ids}}"}, variables) == {"ids": [1, 2]}
    assert templating.render("/orders/{{order_id}}?m={{marker}}", variables) == (
        "/orders/42?m=vigil-ab"
    )
    with pytest.raises(templating.TemplateError, match="'order' has no value"):
        templating.render("/orders/{{order}}", variables)
    assert templating.names_in({"a": ["{{x}}", "{{ y.z }}"]}) == ["x", "y.z"]
    assert templating.malformed_in(["{{x}", "{{ok}}"]) == ["{{x}"]


def test_a_variable_a_subscription_or_its_messages_wait_for_is_defined_before(
    tmp_path: Path,
) -> None:
    path = tmp_path / "feed.yaml"
    path.write_text(
        """\
environment: shop
targets:
  feed: {kind: websocket, url: "ws://127.0.0.1:1/feed"}
checks:
  scenarios:
    - id: feed
      kind: journey
      target: feed
      steps:
        - name: subscribe
          subscribe: {name: feed, target: feed, ready: ['tenant == "{{tenant}}"']}
        - name: seen
          messages: {subscription: feed, include: {path: id, values: ["{{order_id}}"]}}
"""
    )
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    found = {(p.path, p.message) for p in caught.value.problems}
    assert found == {
        (
            "checks.scenarios[0].steps[0].subscribe.ready",
            "'{{tenant}}' is not defined before this step",
        ),
        (
            "checks.scenarios[0].steps[1].messages.include",
            "'{{order_id}}' is not defined before this step",
        ),
    }


def test_a_check_off_its_cadence_is_neither_run_nor_missed(spec_file: Path) -> None:
    spec = load_spec(spec_file)
    daily = Selection.from_params(spec, ["health", "scenarios"], {}, "daily")
    weekly = Selection.from_params(spec, ["health", "scenarios"], {}, "weekly")
    assert not daily.picks("weekly-suite") and daily.picks("login-and-order")
    assert weekly.picks("weekly-suite")
    missing = {r.check_id for r in unrecorded(spec, daily, [])}
    assert "weekly-suite" not in missing and "login-and-order" in missing
    assert "weekly-suite" in {r.check_id for r in unrecorded(spec, weekly, [])}


def test_a_journey_waits_for_every_target_it_uses_and_says_which_failed(
    spec_file: Path,
) -> None:
    spec = load_spec(spec_file)
    store, run = MemoryStore(), RunRef("shop", "daily", "shop_daily", "r1")
    [inventory_up] = spec.checks_of_target("health", "inventory")
    [api_up] = spec.checks_of_target("health", "api")
    store.record(
        run,
        [
            CheckResult.of(api_up, "health", Status.PASSED, "ok"),
            CheckResult.of(inventory_up, "health", Status.FAILED, "503 from /"),
        ],
    )
    selection = Selection.from_params(spec, ["health", "scenarios"], {}, "daily")
    ctx = RunContext(spec, environ={})
    outcome = run_target(ctx, "scenarios", "api", store, run, selection, "login-and-order")
    assert outcome.skipped_reason and "inventory is unhealthy" in outcome.skipped_reason
    [skipped] = store.results_of(run, family="scenarios")
    assert skipped.check_id == "login-and-order" and skipped.status is Status.SKIPPED
    assert skipped.details["blocked_by"] == ["inventory"]


def test_a_task_per_check_replaces_only_its_own_rows() -> None:
    store, run = MemoryStore(), RunRef("shop", "daily", "shop_daily", "r1")
    mine = CheckResult(check_id="a", family="scenarios", target="api", status=Status.ERROR)
    part = CheckResult(
        check_id="a::t::x", family="scenarios", target="api", status=Status.FAILED, parent="a"
    )
    sibling = CheckResult(check_id="b", family="scenarios", target="api", status=Status.PASSED)
    store.record(run, [mine, part, sibling])
    again = mine.model_copy(update={"status": Status.PASSED})
    store.record(run, [again], replace=("scenarios", "api", "a"))
    kept = {r.check_id: r.status for r in store.results_of(run)}
    assert kept == {"a": Status.PASSED, "b": Status.PASSED}


def test_the_registry_runs_scenarios_between_quality_and_probes() -> None:
    assert families.names().index("scenarios") == families.names().index("quality") + 1
    scenarios = families.get("scenarios")
    assert scenarios.task_per_check and scenarios.pool == "vigil_scenarios"
    assert families.pools()["vigil_scenarios"][0] == scenarios.pool_slots


def test_the_demo_spec_has_a_journey_for_every_seed_scenario() -> None:
    spec = load_spec(REPO / "include" / "specs" / "demo.yaml")
    journeys = {c.id for c in spec.checks_of("scenarios") if c.kind == "journey"}
    assert set(DEMO_JOURNEYS) <= journeys
