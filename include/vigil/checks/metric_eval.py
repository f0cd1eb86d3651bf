"""Evaluating metric conditions (`metric_expr`) on one or two scrapes of an exposition.

Split from the grammar so the spec loader, which parses conditions on every DAG parse,
reads only the parser; this half runs in the `metrics` check.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vigil.checks.metric_expr import (
    SHOWN_SERIES,
    BinOp,
    Expr,
    LabelKey,
    MetricCondition,
    Neg,
    Number,
    Rate,
    Selector,
    Sum,
    fmt,
    quote_label,
)
from vigil.spec.errors import did_you_mean

# --- what a condition is evaluated on ----------------------------------------------------


@dataclass(frozen=True)
class Exposition:
    """One scrape: every sample by name and labels, and what the scrape declares."""

    samples: Mapping[str, Mapping[LabelKey, float]]
    # Every metric name the scrape has: its samples' and its TYPE lines' (a labelled
    # counter with no series yet declares `x_total`, with no sample).
    names: frozenset[str]
    # Samples that only go up (counters, histogram and summary counts and sums): a drop
    # between scrapes is a reset.
    monotonic: frozenset[str] = frozenset()

    @property
    def series_count(self) -> int:
        return sum(len(by_labels) for by_labels in self.samples.values())


@dataclass(frozen=True)
class Scrapes:
    last: Exposition
    first: Exposition | None = None  # taken only when a condition uses rate()
    elapsed_s: float | None = None  # between the two


class UnknownMetric(Exception):
    """A selector names a metric the scrape does not have (the condition fails)."""


class Undefined(Exception):
    """The expression has no value (division by zero): the condition cannot be judged."""


@dataclass(frozen=True)
class Series:
    name: str  # 'http_requests_total{status="500"}'
    value: float


@dataclass(frozen=True)
class MetricOutcome:
    ok: bool | None  # None: could not be evaluated (Undefined)
    text: str  # for the message: "... does not hold: ..."
    value: float | None = None  # a scalar expression's value
    series: tuple[Series, ...] = ()  # a vector comparison's series (the failing first)
    terms: tuple[tuple[str, float], ...] = ()  # each selector's part in a scalar

    def as_json(self, limit: int = 50) -> dict[str, Any]:
        shown: dict[str, Any] = {"ok": self.ok, "text": self.text}
        if self.value is not None:
            shown["value"] = _json_number(self.value)
        if self.series:
            shown["series"] = [
                {"series": s.name, "value": _json_number(s.value)} for s in self.series[:limit]
            ]
            shown["series_count"] = len(self.series)
        if self.terms:
            shown["terms"] = {name: _json_number(v) for name, v in self.terms}
        return shown


def series_name(name: str, labels: LabelKey) -> str:
    if not labels:
        return name
    return name + "{" + ",".join(f"{k}={quote_label(v)}" for k, v in labels) + "}"


def _json_number(value: float) -> float | str:
    return value if math.isfinite(value) else fmt(value)


# --- evaluation --------------------------------------------------------------------------


class _Evaluator:
    def __init__(self, scrapes: Scrapes) -> None:
        self.scrapes = scrapes
        self.terms: dict[str, float] = {}

    def vector(self, node: Selector | Rate) -> list[Series]:
        selector = node.selector if isinstance(node, Rate) else node
        last = self.scrapes.last
        if selector.name not in last.names:
            hint = did_you_mean(selector.name, last.names)
            raise UnknownMetric(
                f"no metric named {selector.name!r} in the scrape" + (f" ({hint})" if hint else "")
            )
        current = {
            labels: value
            for labels, value in last.samples.get(selector.name, {}).items()
            if selector.matches(dict(labels))
        }
        if isinstance(node, Selector):
            return [Series(series_name(node.name, k), v) for k, v in sorted(current.items())]
        return self._rates(selector.name, current)

    def _rates(self, name: str, current: dict[LabelKey, float]) -> list[Series]:
        first, elapsed = self.scrapes.first, self.scrapes.elapsed_s
        if first is None or not elapsed or elapsed <= 0:
            raise Undefined("rate() needs two scrapes, and only one was taken")
        before = first.samples.get(name, {})
        counter = name in self.scrapes.last.monotonic
        rates = []
        for labels, value in sorted(current.items()):
            previous = before.get(labels)
            if previous is None and not counter:
                continue  # a gauge new in the second scrape has no change to speak of
            previous = previous or 0.0
            increase = value if counter and value < previous else value - previous
            rates.append(Series(series_name(name, labels), increase / elapsed))
        return rates

    def scalar(self, node: Expr) -> float:
        if isinstance(node, Number):
            return node.value
        if isinstance(node, Neg):
            return -self.scalar(node.arg)
        if isinstance(node, BinOp):
            return self._arith(node)
        vector_node = node.arg if isinstance(node, Sum) else node
        total = math.fsum(s.value for s in self.vector(vector_node))
        self.terms[str(vector_node)] = total
        return total

    def _arith(self, node: BinOp) -> float:
        left, right = self.scalar(node.left), self.scalar(node.right)
        if node.op == "+":
            return left + right
        if node.op == "-":
            return left - right
        if node.op == "*":
            return left * right
        if right == 0:
            raise Undefined(f"division by zero: {_bare(node.right)} is 0")
        return left / right


def compare(op: str, actual: float, threshold: float) -> bool:
    if op == "<":
        return actual < threshold
    if op == "<=":
        return actual <= threshold
    if op == ">":
        return actual > threshold
    if op == ">=":
        return actual >= threshold
    if op == "==":
        return actual == threshold
    return actual != threshold


def _bare(node: Expr) -> str:
    text = str(node)
    return text[1:-1] if isinstance(node, BinOp) else text


def evaluate(condition: MetricCondition, scrapes: Scrapes) -> MetricOutcome:
    """Whether `condition` holds on `scrapes`: its outcome, with the figures that decided."""
    evaluator = _Evaluator(scrapes)
    try:
        if isinstance(condition.expr, Selector | Rate):
            return _vector_outcome(condition, evaluator.vector(condition.expr))
        value = evaluator.scalar(condition.expr)
    except UnknownMetric as exc:
        return MetricOutcome(False, f"{condition.text} does not hold: {exc}")
    except Undefined as exc:
        return MetricOutcome(None, f"{condition.text} cannot be evaluated: {exc}")
    terms = tuple(evaluator.terms.items())
    ok = compare(condition.op, value, condition.threshold)
    shown = fmt(value)
    if terms and not isinstance(condition.expr, Sum):
        shown += " (" + ", ".join(f"{name} = {fmt(v)}" for name, v in terms) + ")"
    verdict = "holds" if ok else "does not hold"
    return MetricOutcome(ok, f"{condition.text} {verdict}: {shown}", value, (), terms)


def _vector_outcome(condition: MetricCondition, series: list[Series]) -> MetricOutcome:
    if not series:
        return MetricOutcome(
            False, f"{condition.text} does not hold: no series matches {condition.expr}"
        )
    bad = [s for s in series if not compare(condition.op, s.value, condition.threshold)]
    ordered = tuple(bad + [s for s in series if s not in bad])
    if not bad:
        return MetricOutcome(
            True, f"{condition.text} holds for {len(series)} series", None, ordered
        )
    named = ", ".join(f"{s.name} = {fmt(s.value)}" for s in bad[:SHOWN_SERIES])
    more = f" and {len(bad) - SHOWN_SERIES} more" if len(bad) > SHOWN_SERIES else ""
    text = f"{condition.text} does not hold for {len(bad)} of {len(series)} series: {named}{more}"
    return MetricOutcome(False, text, None, ordered)
