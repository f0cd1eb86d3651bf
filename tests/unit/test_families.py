"""A check family is one record in one registry: a toy family, registered here and nowhere
else, appears in the spec, `vigil check-spec`, the trigger form, the DAG, the pipeline and
the coverage report — and is gone again when unregistered."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import pytest

from vigil import families
from vigil.context import RunContext
from vigil.family import Family, Gate
from vigil.pipeline import Selection, gating_targets, unrecorded
from vigil.result import CheckResult, Status
from vigil.spec.base import CheckBase
from vigil.spec.errors import SpecError
from vigil.spec.loader import load_spec

pytestmark = pytest.mark.unit


class PingCheck(CheckBase):
    """The toy family's one check kind: 'ping' a tcp target (never actually sent)."""

    kind: Literal["ping"]
    count: int = 1


def run_toy(checks: Sequence[Any], ctx: RunContext) -> list[CheckResult]:
    """The toy runner: one passed result per check, and one part-result per ping."""
    results = []
    for check in checks:
        results.append(CheckResult.of(check, "toy", Status.PASSED, f"{check.count} pings"))
        results += [
            CheckResult.of(check, "toy", Status.PASSED, "pong", parent=check.id).model_copy(
                update={"check_id": f"{check.id}.ping{i}"}
            )
            for i in range(check.count)
        ]
    return results


TOY = Family(
    name="toy",
    description="a family that exists only in this test",
    models=(PingCheck,),
    runner=f"{__name__}:run_toy",
    target_kinds=frozenset({"tcp"}),
    gate=Gate.TARGET_HEALTH,
)

SPEC = """\
environment: toyland
targets:
  cache: {kind: tcp, address: "127.0.0.1:6379"}
  api: {kind: http, base_url: "http://127.0.0.1:8000"}
checks:
  health:
    - {id: cache-up, kind: tcp, target: cache}
  toy:
    - {id: cache-ping, kind: ping, target: cache, count: 2}
schedules:
  weekly: {cron: "0 7 * * 1", families: [toy]}
"""


@pytest.fixture
def toy() -> Iterator[Family]:
    with families.registered(TOY):
        yield TOY


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "specs" / "toyland.yaml"
    path.parent.mkdir()
    path.write_text(SPEC)
    return path


def test_the_registry_lists_the_families_in_pipeline_order() -> None:
    assert families.names() == ("health", "quality", "scenarios", "probes")
    assert families.health().name == "health"
    with pytest.raises(KeyError, match=r"unknown check family 'helth'.*did you mean 'health'"):
        families.get("helth")


def test_without_the_record_the_section_is_an_unknown_key(spec_file: Path) -> None:
    with pytest.raises(SpecError) as raised:
        load_spec(spec_file)
    assert "checks.toy" in str(raised.value)
    assert any(p.path == "schedules.weekly.families[0]" for p in raised.value.problems)


def test_the_spec_reads_the_family_section(toy: Family, spec_file: Path) -> None:
    spec = load_spec(spec_file)
    assert [f.name for f in spec.families()] == ["health", "quality", "scenarios", "probes", "toy"]
    assert spec.declared_families() == ["health", "toy"]
    (ping,) = spec.checks_of("toy")
    assert isinstance(ping, PingCheck) and ping.count == 2
    assert spec.schedules.weekly.families == ["toy"]


def test_the_spec_applies_the_family_target_rule(toy: Family, spec_file: Path) -> None:
    spec_file.write_text(SPEC.replace("target: cache, count: 2", "target: api, count: 2"))
    with pytest.raises(SpecError) as raised:
        load_spec(spec_file)
    (problem,) = raised.value.problems
    assert problem.path == "checks.toy[0].target"
    assert "toy checks run against a tcp target, but 'api' is a 'http' target" in problem.message
    assert problem.line == 9


def test_check_spec_counts_the_family_checks(
    toy: Family, spec_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from vigil.cli import main

    assert main(["check-spec", str(spec_file)]) == 0
    assert capsys.readouterr().out == "ok: 1 spec, 2 checks\n"


def test_the_trigger_form_offers_the_family(toy: Family, spec_file: Path) -> None:
    from vigil.airflow.params import run_params

    spec = load_spec(spec_file)
    form = run_params(spec, spec.declared_families())
    assert form["families"].schema["items"]["enum"] == ["health", "toy"]
    description = form["families"].description
    assert description is not None
    assert "toy: a family that exists only in this test" in description
    assert "cache-ping" in form["checks"].schema["items"]["enum"]


def test_the_dag_has_a_task_group_gated_on_health(toy: Family, spec_file: Path) -> None:
    from vigil.airflow.factory import build_dags

    namespace: dict[str, Any] = {}
    build_dags(namespace, spec_file.parent)
    daily, weekly = namespace["toyland_daily"], namespace["toyland_weekly"]
    ping = daily.get_task("toy.cache")
    assert ping.op_kwargs["family"] == "toy"
    assert "health.cache" in ping.upstream_task_ids  # waits for its target's health
    assert "summarize" in ping.downstream_task_ids
    # The weekly cadence runs only the toy family: no health task at all.
    assert {t.task_id for t in weekly.tasks} == {"toy.cache", "summarize", "evaluate"}


def test_the_pipeline_selects_runs_and_accounts_for_the_family(
    toy: Family, spec_file: Path
) -> None:
    spec = load_spec(spec_file)
    selection = Selection.from_params(spec, spec.declared_families(), {"families": ["toy"]})
    assert selection.covers("toy", "cache") and not selection.covers("health", "cache")
    assert gating_targets(spec, "toy", "cache") == ["cache"]
    results = toy.run(spec.checks_of("toy"), RunContext(spec, environ={}))
    assert [r.check_id for r in results] == ["cache-ping", "cache-ping.ping0", "cache-ping.ping1"]
    assert {r.family for r in results} == {"toy"} and results[1].parent == "cache-ping"
    # Parts alone account for their spec check; nothing recorded at all is an error.
    assert unrecorded(spec, selection, results[1:]) == []
    (missing,) = unrecorded(spec, selection, [])
    assert missing.check_id == "cache-ping" and missing.status is Status.ERROR
    assert missing.family == "toy" and missing.check_kind == "ping"


def test_the_coverage_report_declares_the_family_checks(toy: Family, spec_file: Path) -> None:
    from vigil.reports.coverage import declared_checks

    spec = load_spec(spec_file)
    declared = {(d.family, d.check_id) for d in declared_checks(spec)}
    assert declared == {("health", "cache-up"), ("toy", "cache-ping")}


def test_a_family_name_is_registered_once() -> None:
    with (
        pytest.raises(ValueError, match="already registered: health"),
        families.registered(families.get("health")),
    ):
        pass  # pragma: no cover


def test_run_parameters_naming_unknown_families_targets_or_checks_are_refused(
    toy: Family, spec_file: Path
) -> None:
    spec = load_spec(spec_file)
    params = {"families": ["toy", "journeys"], "targets": ["cach"], "checks": ["cache-pong"]}
    with pytest.raises(ValueError) as raised:
        Selection.from_params(spec, ["toy"], params)
    message = str(raised.value)
    assert "unknown family 'journeys'" in message
    assert "unknown target 'cach'" in message
    assert "unknown check 'cache-pong'" in message
    assert "Families: health, quality, scenarios, probes, toy; targets: api, cache" in message


def test_run_parameters_narrow_the_cadence(toy: Family, spec_file: Path) -> None:
    spec = load_spec(spec_file)
    chosen = Selection.from_params(
        spec, ["health", "toy"], {"targets": ["cache"], "checks": ["cache-up"], "dry_run": True}
    )
    assert chosen.families == {"health", "toy"} and chosen.dry_run
    assert chosen.covers("health", "cache") and not chosen.covers("health", "api")
    assert chosen.picks("cache-up") and not chosen.picks("cache-ping")
    # No parameters: the cadence's families, every target and check.
    plain = Selection.from_params(spec, ["toy"], {})
    assert plain.families == {"toy"} and plain.picks("anything") and plain.covers("toy", "api")
