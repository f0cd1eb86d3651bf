"""The repo's own set of real-world-shaped suites (tests/fixtures/gx_suites): `check-spec`
gives each the verdict expected.json says, and every 0.x suite is accepted once migrated
(issue 13). The same figures, printed: tests/fixtures/gx_suites/acceptance.py."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytestmark = pytest.mark.unit

SCRIPT = Path(__file__).parents[1] / "fixtures" / "gx_suites" / "acceptance.py"


def acceptance() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gx_suites_acceptance", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    found: dict[str, Any] = acceptance().measure()
    return found


def test_every_suite_gets_the_expected_verdict(summary: dict[str, Any]) -> None:
    assert dict(summary["v1"]) == {"suites": 15, "accepted": 10, "right_verdict": 15}
    wrong = {n: r["problems"][:1] for n, r in summary["files"].items() if n.startswith("v1")}
    assert summary["v1"]["right_verdict"] == summary["v1"]["suites"], wrong


def test_each_0x_suite_is_one_problem_and_accepted_once_migrated(
    summary: dict[str, Any],
) -> None:
    old = {n: r for n, r in summary["files"].items() if n.startswith("v0")}
    assert len(old) == summary["v0"]["suites"] == 16
    for name, row in old.items():
        assert len(row["problems"]) == 1, name
        assert row["after_migrate"] == [], (name, row["after_migrate"])
    assert summary["problems"] == 25  # 238 before issue 13: one line per 0.x key
