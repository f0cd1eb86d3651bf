"""Problems inside `alerts:` land on their own line and field, like the rest of the spec."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from vigil.spec.alerts import AlertsConfig
from vigil.spec.errors import SpecError
from vigil.spec.loader import load_spec

pytestmark = pytest.mark.unit

BAD = Path(__file__).parent / "specs_bad_alerts" / "alert_references.yaml"

# (line, field path, words the message must hold), one per problem planted in the file.
EXPECTED = [
    (8, "alerts.routes.critical[1]", "unknown channel 'pager'"),
    (12, "alerts.rules[0].channels[0]", "unknown channel 'opz'"),
    (13, "alerts.rules[0].select.targets[0]", "unknown target 'apu'"),
    (13, "alerts.rules[0].select.families[0]", "unknown check family 'helth'"),
    (14, "alerts.rules[1].id", "duplicate rule id 'streak'"),
    (18, "alerts.rules[2].window.last_runs", "beyond alerts.history_runs (200)"),
    (22, "alerts.rules[3].min_runs", "min_runs (5) cannot exceed baseline_runs (3)"),
]


def test_every_alerts_problem_points_at_its_own_line_and_field() -> None:
    with pytest.raises(SpecError) as raised:
        load_spec(BAD)
    found = [(p.line, p.path, p.message) for p in raised.value.problems]
    assert len(found) == len(EXPECTED), "\n".join(map(str, found))
    for (line, path, words), (got_line, got_path, message) in zip(EXPECTED, found, strict=True):
        assert (got_line, got_path) == (line, path)
        assert words in message


def test_hints_suggest_the_close_names() -> None:
    with pytest.raises(SpecError) as raised:
        load_spec(BAD)
    hints = {p.path: p.hint for p in raised.value.problems}
    assert hints["alerts.rules[0].channels[0]"] == "did you mean 'ops'?"
    assert hints["alerts.rules[0].select.targets[0]"] == "did you mean 'api'?"


def test_a_config_built_directly_is_refused_naming_each_problem() -> None:
    with pytest.raises(ValidationError) as raised:
        AlertsConfig.model_validate(
            {
                "channels": {"ops": {"kind": "log"}},
                "routes": {"critical": ["pager"]},
                "rules": [
                    {"id": "a", "kind": "run_failure_rate"},
                    {"id": "a", "kind": "run_failure_rate", "channels": ["opz"]},
                ],
            }
        )
    text = str(raised.value)
    assert "routes.critical[0]: unknown channel 'pager'" in text
    assert "rules[1].id: duplicate rule id 'a'" in text
    assert "rules[1].channels[0]: unknown channel 'opz'" in text


def test_a_consistent_alerts_section_loads(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(
        BAD.read_text()
        .replace("[ops, pager]", "[ops]")
        .replace("[opz]", "[ops]")
        .replace("[apu]", "[api]")
        .replace("[helth]", "[health]")
        .replace(
            "- id: streak\n      kind: run_failure_rate", "- id: rate\n      kind: run_failure_rate"
        )
        .replace("last_runs: 500", "last_runs: 20")
        .replace("min_runs: 5", "min_runs: 2")
    )
    spec = load_spec(good)
    assert [r.id for r in spec.alerts.rules] == ["streak", "rate", "flaky", "slow"]
