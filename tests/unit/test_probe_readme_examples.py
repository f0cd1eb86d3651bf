"""The README's performance-probe example is a spec that loads: seed 001's scenario 8 and
seed 004's query, index and concurrency requirements written without code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from vigil.probes.models import HttpLoadProbe, PgPlanProbe, PgQueryProbe
from vigil.spec.loader import load_spec

pytestmark = pytest.mark.unit

README = Path(__file__).resolve().parents[2] / "README.md"


def probes_example() -> str:
    section = README.read_text().split("## Performance probes", 1)[1]
    match = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert match, "the Performance probes section lost its example"
    return match.group(1)


def test_the_readme_example_loads_as_a_spec(tmp_path: Path) -> None:
    spec_file = tmp_path / "example.yaml"
    spec_file.write_text("environment: example\n" + probes_example())
    spec = load_spec(spec_file)
    probes = {c.id: c for c in spec.checks_of("probes")}

    scenario8 = probes["create-experiment-load"]
    assert isinstance(scenario8, HttpLoadProbe)
    assert [t.text for t in scenario8.thresholds] == [
        "p99 < 100ms",
        "error_rate < 1%",
        "rps > 1000",
    ]
    assert (scenario8.load.connections, scenario8.load.max_requests) == (100, 10_000)

    query = probes["licenses-by-user"]
    assert isinstance(query, PgQueryProbe) and query.thresholds[0].metric == "mean"
    plan = probes["licenses-by-user-plan"]
    assert isinstance(plan, PgPlanProbe)
    assert plan.uses_index == ["idx_lfa_player_licenses_user_id"]


def test_the_example_without_consent_is_refused(tmp_path: Path) -> None:
    text = probes_example().replace("    allow_load: true", "    allow_load: false")
    data = yaml.safe_load(text)
    assert data["targets"]["orders-api"]["allow_load"] is False
    spec_file = tmp_path / "example.yaml"
    spec_file.write_text("environment: example\n" + text)
    with pytest.raises(Exception) as raised:
        load_spec(spec_file)
    assert "does not declare allow_load: true" in str(raised.value)
