"""`vigil check-spec`'s deep lint for probes: a target's probes must fit its task.

A target's probes run one after another in one Airflow task. When their worst case
(warm-up, measured window and the wait for the last answers, under the heaviest profile
any cadence picks) outruns `defaults.task_timeout_s`, Airflow kills the task mid-probe:
nothing measured is recorded and the retry sends the load again. Said here, at the probe
that no longer fits, rather than found at 3 a.m.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from vigil.probes.models import (
    HARD_DURATION_S,
    HttpLoadProbe,
    PgConnectionsProbe,
    PgPlanProbe,
    PgQueryProbe,
)
from vigil.spec.errors import Problem, format_path
from vigil.spec.locate import walk
from vigil.spec.models import CADENCES, Spec

# Opening a connection, EXPLAIN, the results store: what a probe costs beyond its load.
OVERHEAD_S = 5.0


def worst_case_s(probe: Any, profile: str | None) -> float:
    """The longest a probe can take under `profile`, by its own bounds."""
    if isinstance(probe, PgPlanProbe):
        return float(probe.timeout_s + OVERHEAD_S)
    load = probe.load_for(profile)
    if isinstance(probe, HttpLoadProbe):
        return float(load.warmup_s + load.duration_s + probe.timeout_s + OVERHEAD_S)
    if isinstance(probe, PgQueryProbe):
        # Without duration_s, iterations end by count or at the hard bound, whichever first.
        window = load.duration_s if load.duration_s is not None else HARD_DURATION_S
        return float(window + probe.timeout_s + OVERHEAD_S)
    if isinstance(probe, PgConnectionsProbe):
        return float(probe.timeout_s + load.hold_s + OVERHEAD_S)
    raise TypeError(f"unknown probe kind {type(probe).__name__}")


def lint_spec(spec: Spec) -> list[Problem]:
    budget = float(spec.defaults.task_timeout_s)
    profiles = {getattr(spec.schedules, c).probe_profile for c in CADENCES} | {None}
    spent: dict[str, float] = {}
    problems = []
    for index, probe in enumerate(spec.checks_of("probes")):
        worst = max(worst_case_s(probe, p) for p in profiles)
        spent[probe.target] = spent.get(probe.target, 0.0) + worst
        if spent[probe.target] > budget:
            problems.append(
                _problem(
                    spec,
                    ("checks", "probes", index),
                    f"the probes of target {probe.target!r} can take up to "
                    f"{spent[probe.target]:.0f} s together (this one {worst:.0f} s), more than "
                    f"defaults.task_timeout_s ({budget:.0f} s): Airflow would kill the task "
                    "mid-probe and record nothing it measured",
                    "shorten duration_s or warm-up, bound a pg_query with duration_s, or "
                    "raise defaults.task_timeout_s",
                )
            )
    return problems


def _problem(spec: Spec, loc: tuple[str | int, ...], message: str, hint: str) -> Problem:
    file = str(spec.source) if spec.source else f"<spec {spec.environment}>"
    try:
        text = Path(file).read_text(encoding="utf-8")
        root = yaml.compose(text)
    except (OSError, yaml.YAMLError):
        root = None
    if root is None:
        return Problem(file, None, None, format_path(loc), message, hint=hint)
    spot = walk(root, loc)
    lines = text.splitlines()
    return Problem(
        file,
        spot.line,
        spot.column,
        format_path(loc),
        message,
        hint=hint,
        source_line=lines[spot.line - 1] if spot.line <= len(lines) else None,
        end_column=spot.end_column(),
    )
