"""Thresholds in k6's spirit, parsed when the spec loads.

    p95 < 250ms            a latency percentile (ms, s or us; a bare number is ms)
    error_rate < 1%        a share (with %, or as a number from 0 to 1)
    rps >= 1000            requests (or queries, or connections) per second
    headroom >= 10         a count
    p95 < 1.5 x baseline   against the median of the probe's last passing runs
    error_rate > 50% after 2s   (abort_when only) stop the probe early once this holds

`x`, `\u00d7` (the times sign) and `*` all read as "times". A threshold names one figure of
`vigil.probes.measure.Measurement.figures()` (or of a probe kind's own figures); which
figures a probe kind has is checked by its model, so a typo fails at load with the list.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

from vigil.spec.errors import did_you_mean

LATENCY_METRICS = ("p50", "p90", "p95", "p99", "p99.9", "min", "max", "mean")
SHARE_METRICS = ("error_rate",)
RATE_METRICS = ("rps",)
COUNT_METRICS = (
    "requests",
    "errors",
    "errors_status",
    "errors_timeout",
    "errors_connection",
    "errors_query",
    "opened",
    "failed",
    "headroom",
)
ALL_METRICS = LATENCY_METRICS + SHARE_METRICS + RATE_METRICS + COUNT_METRICS

OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
_TIME_UNITS = {"ms": 1.0, "s": 1000.0, "us": 0.001, "µs": 0.001}

_GRAMMAR = re.compile(
    r"""^\s*(?P<metric>[a-z_][a-z0-9_.]*)\s*
        (?P<op><=|>=|==|!=|<|>)\s*
        (?:
            (?P<factor>\d+(?:\.\d+)?)\s*(?:x|\u00d7|\*)\s*baseline
          | (?P<number>-?\d+(?:\.\d+)?)\s*(?P<unit>ms|s|us|µs|%)?
        )
        (?:\s+after\s+(?P<after>\d+(?:\.\d+)?)\s*(?P<after_unit>ms|s|m)?)?
        \s*$""",
    re.VERBOSE,
)

EXAMPLES = "'p95 < 250ms', 'error_rate < 1%', 'rps >= 1000', 'p95 < 1.5 x baseline'"


@dataclass(frozen=True)
class Threshold:
    """`metric op limit`, the limit a number in the metric's unit or a baseline factor."""

    text: str
    metric: str
    op: str
    limit: float | None = None  # ms for latencies, 0..1 for shares
    factor: float | None = None  # set for baseline thresholds
    after_s: float = 0.0  # abort thresholds: not before this far into the window

    @property
    def is_baseline(self) -> bool:
        return self.factor is not None

    @property
    def unit(self) -> str:
        if self.metric in LATENCY_METRICS:
            return "ms"
        if self.metric in SHARE_METRICS:
            return "%"
        return "/s" if self.metric in RATE_METRICS else ""

    def holds(self, value: float, baseline: float | None = None) -> bool:
        limit = self.limit if self.factor is None else self.factor * _given(baseline)
        assert limit is not None
        return OPS[self.op](value, limit)

    def limit_for(self, baseline: float | None) -> float:
        return _given(self.limit if self.factor is None else self.factor * _given(baseline))

    def show(self, value: float) -> str:
        """A figure in this threshold's unit, for people: '231.4 ms', '0.8%', '1,204/s'."""
        return show(self.metric, value)

    def __str__(self) -> str:
        return self.text


def show(metric: str, value: float) -> str:
    if metric in LATENCY_METRICS:
        return f"{value:,.1f} ms" if value < 10_000 else f"{value / 1000:,.2f} s"
    if metric in SHARE_METRICS:
        return f"{value * 100:.2f}%".replace(".00%", "%")
    if metric in RATE_METRICS:
        return f"{value:,.0f}/s" if value >= 100 else f"{value:,.1f}/s"
    return f"{value:,.0f}"


def _given(value: float | None) -> float:
    if value is None:
        raise ValueError("no baseline")
    return value


def parse(text: str, *, abort: bool = False) -> Threshold:
    """One threshold, or ValueError saying what is wrong and how it should read."""
    match = _GRAMMAR.match(text)
    if match is None:
        raise ValueError(f"cannot read threshold {text!r}; write it like {EXAMPLES}")
    metric, op = match["metric"], match["op"]
    if metric not in ALL_METRICS:
        hint = did_you_mean(metric, ALL_METRICS)
        raise ValueError(
            f"threshold {text!r}: unknown figure {metric!r}"
            + (f" ({hint})" if hint else "")
            + f"; figures: {', '.join(ALL_METRICS)}"
        )
    after = _after_s(match["after"], match["after_unit"])
    if after and not abort:
        raise ValueError(f"threshold {text!r}: 'after' belongs to abort_when thresholds only")
    if match["factor"] is not None:
        if abort:
            raise ValueError(f"abort threshold {text!r} cannot use a baseline")
        factor = float(match["factor"])
        if not 0 < factor < math.inf:
            raise ValueError(f"threshold {text!r}: the baseline factor must be positive")
        return Threshold(text.strip(), metric, op, factor=factor)
    limit = _limit(text, metric, float(match["number"]), match["unit"])
    return Threshold(text.strip(), metric, op, limit=limit, after_s=after)


def _limit(text: str, metric: str, number: float, unit: str | None) -> float:
    if metric in LATENCY_METRICS:
        if unit == "%":
            raise ValueError(f"threshold {text!r}: {metric} is a time; write ms or s")
        return number * _TIME_UNITS[unit or "ms"]
    if metric in SHARE_METRICS:
        if unit == "%":
            share = number / 100
        elif unit is None:
            share = number
        else:
            raise ValueError(f"threshold {text!r}: {metric} is a share; write 1% or 0.01")
        if not 0 <= share <= 1:
            raise ValueError(f"threshold {text!r}: {metric} is between 0% and 100%")
        return share
    if unit is not None:
        raise ValueError(f"threshold {text!r}: {metric} takes a plain number, not {unit!r}")
    return number


def _after_s(number: str | None, unit: str | None) -> float:
    if number is None:
        return 0.0
    return float(number) * {"ms": 0.001, "s": 1.0, "m": 60.0}[unit or "s"]


def _threshold(value: Any) -> Any:
    return parse(value) if isinstance(value, str) else value


def _abort_threshold(value: Any) -> Any:
    return parse(value, abort=True) if isinstance(value, str) else value


def _text(value: Threshold) -> str:
    return value.text


# Spec fields: a string in YAML, a parsed Threshold on the model, a string again on dump.
ThresholdField = Annotated[Threshold, BeforeValidator(_threshold), PlainSerializer(_text)]
AbortField = Annotated[Threshold, BeforeValidator(_abort_threshold), PlainSerializer(_text)]


def check_metrics(thresholds: Sequence[Threshold], allowed: Sequence[str], kind: str) -> None:
    """Every threshold names a figure this probe kind measures."""
    for threshold in thresholds:
        if threshold.metric not in allowed:
            raise ValueError(
                f"threshold {threshold.text!r}: a {kind} probe has no figure "
                f"{threshold.metric!r}; its figures: {', '.join(allowed)}"
            )


def slugs(thresholds: Sequence[Threshold]) -> list[str]:
    """Stable result-id suffixes, one per threshold: 'p95', 'p95.baseline', 'rps', and
    'rps-2' when a figure has two plain thresholds (a floor and a ceiling)."""
    seen: dict[str, int] = {}
    out = []
    for threshold in thresholds:
        base = threshold.metric + (".baseline" if threshold.is_baseline else "")
        seen[base] = seen.get(base, 0) + 1
        out.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return out
