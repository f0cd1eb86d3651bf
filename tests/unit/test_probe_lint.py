"""`vigil check-spec`'s probe lint: a target's probes must fit in its task's timeout,
under the heaviest profile a cadence picks; the problem points at the probe that
no longer fits."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil import families
from vigil.spec.loader import load_spec

pytestmark = pytest.mark.unit

SPEC = """\
environment: budget
defaults: {task_timeout_s: 400}
targets:
  api: {kind: http, base_url: "http://127.0.0.1:1", allow_load: true}
  db: {kind: postgres, conn_id: db, allow_load: true}
checks:
  probes:
    - id: a
      kind: http_load
      target: api
      request: {path: /}
      load: {duration_s: 200}
      thresholds: [p95 < 1s]
    - id: b
      kind: http_load
      target: api
      request: {path: /}
      load: {duration_s: 100}
      profiles:
        heavy: {duration_s: 300}
      thresholds: [p95 < 1s]
    - id: plan
      kind: pg_plan
      target: db
      query: SELECT 1
      max_total_cost: 10
schedules:
  weekly: {cron: "0 7 * * 1", probe_profile: PROFILE}
"""


def lint(tmp_path: Path, profile: str) -> list[str]:
    spec_file = tmp_path / "budget.yaml"
    spec_file.write_text(SPEC.replace("PROFILE", profile))
    problems = families.get("probes").lint_spec(load_spec(spec_file))
    return [f"{p.line}:{p.path}: {p.message}" for p in problems]


def test_a_heavy_profile_that_outruns_the_task_is_named_at_its_probe(tmp_path: Path) -> None:
    [problem] = lint(tmp_path, "heavy")
    assert problem.startswith("14:checks.probes[1]: ")
    assert "target 'api' can take up to 532 s" in problem and "(400 s)" in problem


def test_probes_that_fit_are_not_a_problem(tmp_path: Path) -> None:
    # 206 s + 166 s (heavy at 150 s) + the plan's 15 s on another target: within 400 s.
    spec_file = tmp_path / "fits.yaml"
    text = SPEC.replace("PROFILE", "heavy").replace(
        "heavy: {duration_s: 300}", "heavy: {duration_s: 150}"
    )
    spec_file.write_text(text)
    assert families.get("probes").lint_spec(load_spec(spec_file)) == []
