"""From a probe's figures to its CheckResults: one per threshold, linked to the probe.

A threshold result's id is `<probe id>.<figure>` (`orders-api-load.p95`, and
`orders-api-load.p95.baseline` for a baseline threshold), its `observed` the probe's
figures, its `expected` the threshold as written and the limit it came to. What cannot be
judged is never a pass: no figure to judge (nothing succeeded) is `error`; a baseline not
yet known (too few passing runs) is `skipped`, saying how many there are.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vigil.probes.thresholds import LATENCY_METRICS, Threshold, show, slugs
from vigil.result import CheckResult, Status

FAMILY = "probes"


@dataclass(frozen=True)
class Baselines:
    """What the results store says about this probe's earlier passing runs."""

    samples: list[dict[str, Any]] = field(default_factory=list)  # figures, newest first
    min_runs: int = 3
    # Why no baseline could be read at all (the store unreachable); None when it was read.
    unavailable: str | None = None
    # The store is not configured (a standalone run without one): no verdict, not an error.
    not_configured: bool = False

    def median(self, metric: str) -> tuple[float | None, int]:
        values = [float(s[metric]) for s in self.samples if _number(s.get(metric))]
        if len(values) < self.min_runs:
            return None, len(values)
        return statistics.median(values), len(values)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def judge(
    probe: Any,
    figures: Mapping[str, float],
    baselines: Baselines,
    *,
    started_at: Any,
    duration_ms: float,
    details: Mapping[str, Any],
    cannot_measure: str | None = None,
) -> list[CheckResult]:
    """One result per threshold of `probe`. `cannot_measure`: the probe ran but nothing
    it measured can be judged (every request refused): every threshold is `error`."""
    out = []
    thresholds: Sequence[Threshold] = probe.thresholds
    for threshold, slug in zip(thresholds, slugs(thresholds), strict=True):
        common: dict[str, Any] = {
            "check_id": f"{probe.id}.{slug}",
            "parent": probe.id,
            "started_at": started_at,
            "duration_ms": duration_ms,
            "observed": dict(figures),
            "details": {"threshold": threshold.text, **details},
        }
        if cannot_measure is not None:
            out.append(CheckResult.error_of(probe, FAMILY, cannot_measure, **common))
            continue
        out.append(_one(probe, threshold, figures, baselines, common))
    return out


def _one(
    probe: Any,
    threshold: Threshold,
    figures: Mapping[str, float],
    baselines: Baselines,
    common: dict[str, Any],
) -> CheckResult:
    value = figures.get(threshold.metric)
    too_few = _too_few_to_time(threshold, figures)
    if too_few is not None:
        return CheckResult.error_of(probe, FAMILY, too_few, **common)
    if value is None:
        reason = (
            f"{threshold.text}: no {threshold.metric} to judge — nothing succeeded to be timed "
            f"({_counts(figures)})"
        )
        return CheckResult.error_of(probe, FAMILY, reason, **common)
    baseline = None
    if threshold.is_baseline:
        verdict = _baseline(probe, threshold, baselines, common)
        if isinstance(verdict, CheckResult):
            return verdict
        baseline, runs = verdict
        common["details"] = {**common["details"], "baseline": baseline, "baseline_runs": runs}
    limit = threshold.limit_for(baseline)
    ok = threshold.holds(value, baseline)
    common["expected"] = {"threshold": threshold.text, "limit": limit}
    status = Status.PASSED if ok else Status.FAILED
    return CheckResult.of(
        probe, FAMILY, status, _message(threshold, value, limit, ok, baseline), **common
    )


# A percentile of a handful of successes among thousands of failures describes the
# handful, not the service: below this many (or half of what was attempted, for a small
# probe) latency is not judged.
MIN_TIMED = 20


def _too_few_to_time(threshold: Threshold, figures: Mapping[str, float]) -> str | None:
    if threshold.metric not in LATENCY_METRICS:
        return None
    requests = figures.get("requests", 0.0)
    succeeded = requests - figures.get("errors", 0.0)
    needed = min(MIN_TIMED, math.ceil(requests / 2))
    if requests and 0 < succeeded < needed:
        return (
            f"{threshold.text}: too few successful requests to judge {threshold.metric} "
            f"({int(succeeded)} of {int(requests)}; {_counts(figures)})"
        )
    return None


def _baseline(
    probe: Any, threshold: Threshold, baselines: Baselines, common: dict[str, Any]
) -> CheckResult | tuple[float, int]:
    if baselines.not_configured:
        reason = f"{threshold.text}: no results store is configured, so no baseline to compare"
        return CheckResult.skipped_of(probe, FAMILY, reason, **common)
    if baselines.unavailable is not None:
        reason = f"{threshold.text}: cannot read the baseline: {baselines.unavailable}"
        return CheckResult.error_of(probe, FAMILY, reason, **common)
    median, runs = baselines.median(threshold.metric)
    if median is None:
        reason = (
            f"{threshold.text}: no verdict yet — the baseline needs {baselines.min_runs} "
            f"passing run(s) of this probe with the same profile, the store has {runs}"
        )
        return CheckResult.skipped_of(probe, FAMILY, reason, **common)
    return median, runs


def _message(
    threshold: Threshold, value: float, limit: float, ok: bool, baseline: float | None
) -> str:
    figure = f"{threshold.metric} {threshold.show(value)}"
    where = f"{threshold.op} {threshold.show(limit)}"
    if baseline is not None:
        where += (
            f" ({threshold.factor:g} x baseline {threshold.show(baseline)}, "
            f"{value / baseline:.2f}x)"
            if baseline
            else f" ({threshold.factor:g} x baseline {threshold.show(baseline)})"
        )
    return f"{figure} {where}: " + ("holds" if ok else f"FAILED ({threshold.text})")


def _counts(figures: Mapping[str, float]) -> str:
    requests, errors = int(figures.get("requests", 0)), int(figures.get("errors", 0))
    classes = [
        f"{int(v)} {k.removeprefix('errors_')}"
        for k, v in figures.items()
        if k.startswith("errors_") and v
    ]
    text = f"{requests} request(s), {errors} error(s)"
    return text + (f": {', '.join(classes)}" if classes else "")


def passed(results: Sequence[CheckResult]) -> bool:
    """The probe passed in this run: every threshold judged and held (what a baseline is
    made of; a skipped baseline threshold does not spoil it, an error does)."""
    judged = [r for r in results if r.status is not Status.SKIPPED]
    return bool(judged) and all(r.status is Status.PASSED for r in judged)


def show_figures(figures: Mapping[str, float]) -> str:
    """'p50 12.1 ms, p95 20.3 ms, p99 31.0 ms, 1,204/s, errors 0%' for logs and messages."""
    parts = [
        f"{name} {show(name, figures[name])}"
        for name in ("p50", "p95", "p99", "max")
        if name in figures
    ]
    if "rps" in figures:
        parts.append(show("rps", figures["rps"]))
    if "error_rate" in figures:
        parts.append(f"errors {show('error_rate', figures['error_rate'])}")
    return ", ".join(parts)
