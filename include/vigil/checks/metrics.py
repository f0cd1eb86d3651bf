"""Metrics check: scrape an `http` target's Prometheus exposition (default `/metrics`) and
judge its series with conditions parsed when the spec loads (`vigil.checks.metric_expr`).

When a condition uses `rate()`, the check scrapes twice, `rate_interval_s` apart, and
divides each series' increase by the time measured between the two answers; otherwise
once. A scrape that gets no answer, a wrong status, a body over the client's limit or
text that is not the exposition format is an `error` saying why; a condition that does
not hold is `failed`, naming the series and their values.

prometheus_client's parser is imported here, on the first run, never when a spec loads.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from vigil.checks._base_url import get_request, target_of_kind
from vigil.checks._common import Timer, build, error, fmt_ms, guarded
from vigil.checks.metric_eval import Exposition, MetricOutcome, Scrapes
from vigil.checks.metric_expr import LabelKey
from vigil.checks.models import MetricsCheck
from vigil.context import RunContext
from vigil.http_client import (
    MAX_BODY_BYTES,
    SEND_ERRORS,
    Request,
    Response,
    client_for,
    describe_error,
    redact_url,
    send,
)
from vigil.result import CheckResult, Status
from vigil.spec.models import HttpTarget

CHECK_TYPE = "metrics"
# The classic text format first; OpenMetrics when that is all the endpoint speaks.
ACCEPT = "text/plain;version=0.0.4;q=1,application/openmetrics-text;version=1.0.0;q=0.5,*/*;q=0.1"
OPENMETRICS = "application/openmetrics-text"
MIN_SCRAPE_TIMEOUT_S = 0.5
# Names a family of each type declares besides its own (a counter `x` exposes `x_total`).
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "summary": ("_count", "_sum", "_created"),
    "info": ("_info",),
}
# Samples that only go up, by family type: a drop between two scrapes is a reset.
MONOTONIC = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("_count", "_sum"),
}


class ScrapeError(Exception):
    """A scrape that gave nothing to judge: the reason, and the response when there was one."""

    def __init__(self, reason: str, response: Response | None = None) -> None:
        super().__init__(reason)
        self.response = response


@dataclass(frozen=True)
class Scraped:
    exposition: Exposition
    response: Response
    at: float  # time.monotonic() when the answer was in


def run(check: MetricsCheck, ctx: RunContext) -> list[CheckResult]:
    return guarded(check, ctx, CHECK_TYPE, _probe)


def _probe(check: MetricsCheck, ctx: RunContext, timer: Timer) -> CheckResult:
    target = target_of_kind(check, ctx, HttpTarget, "http")
    # Whatever a path references ("?token=${T}") may be a credential: masked like one.
    request = get_request(check, target, ctx.resolve(check.path, secret=True), ctx, ACCEPT)
    what = f"GET {redact_url(request.url)}"
    details: dict[str, Any] = {"request": request.shown(ctx.masker)}
    try:
        scrapes, last = _scrape_all(check, request, ctx)
    except ScrapeError as exc:
        if exc.response is not None:
            details["response"] = exc.response.shown(ctx.masker)
        return error(check, ctx, CHECK_TYPE, timer, f"{what}: {exc}", details)
    details["response"] = last.response.shown(ctx.masker)
    outcomes = [c.evaluate(scrapes) for c in check.conditions]
    observed: dict[str, Any] = {
        "series": scrapes.last.series_count,
        "metrics": len(scrapes.last.samples),
    }
    if scrapes.elapsed_s is not None:
        observed["interval_s"] = round(scrapes.elapsed_s, 3)
    if outcomes:
        observed["conditions"] = [
            {"condition": str(c), **o.as_json(5)}
            for c, o in zip(check.conditions, outcomes, strict=True)
        ]
        details["conditions"] = [
            {"condition": str(c), **o.as_json()}
            for c, o in zip(check.conditions, outcomes, strict=True)
        ]
    status, message = _verdict(what, last, scrapes, outcomes)
    expected = {"conditions": [str(c) for c in check.conditions]}
    return build(
        check, ctx, CHECK_TYPE, timer, status, message,
        observed=observed, expected=expected, details=details,
    )  # fmt: skip


def _verdict(
    what: str, last: Scraped, scrapes: Scrapes, outcomes: list[MetricOutcome]
) -> tuple[Status, str]:
    lead = (
        f"{what} answered in {fmt_ms(last.response.latency_ms)}: {scrapes.last.series_count} series"
    )
    if scrapes.elapsed_s is not None:
        lead += f", scraped twice {scrapes.elapsed_s:.1f}s apart"
    undefined = [o.text for o in outcomes if o.ok is None]
    failed = [o.text for o in outcomes if o.ok is False]
    if undefined:
        return Status.ERROR, "; ".join([lead, *undefined, *failed])
    if failed:
        return Status.FAILED, "; ".join([lead, *failed])
    held = f"{len(outcomes)} condition{'s' if len(outcomes) != 1 else ''} hold"
    return Status.PASSED, f"{lead}; {held}" if outcomes else lead


def _scrape_all(check: MetricsCheck, request: Request, ctx: RunContext) -> tuple[Scrapes, Scraped]:
    if not check.uses_rate:
        only = _scrape(check, request, check.timeout_s, ctx)
        return Scrapes(only.exposition), only
    per_scrape = max((check.timeout_s - check.rate_interval_s) / 2, MIN_SCRAPE_TIMEOUT_S)
    first = _scrape(check, request, per_scrape, ctx)
    time.sleep(check.rate_interval_s)
    second = _scrape(check, request, per_scrape, ctx)
    elapsed = second.at - first.at
    return Scrapes(second.exposition, first.exposition, elapsed), second


def _scrape(check: MetricsCheck, request: Request, timeout_s: float, ctx: RunContext) -> Scraped:
    try:
        response = send(request, timeout_s, client_for(check.target))
    except SEND_ERRORS as exc:
        raise ScrapeError(describe_error(exc, timeout_s, ctx.masker)) from None
    at = time.monotonic()
    if response.status != 200:
        raise ScrapeError(f"answered {response.status}, expected 200 with metrics", response)
    if response.truncated:
        raise ScrapeError(
            f"the exposition is larger than {MAX_BODY_BYTES} bytes, not parsed", response
        )
    return Scraped(parse_exposition(response), response, at)


def parse_exposition(response: Response) -> Exposition:
    """The response's series, by the Prometheus text format (or OpenMetrics, when the
    Content-Type says so)."""
    content_type = next((v for k, v in response.headers.items() if k.lower() == "content-type"), "")
    try:
        families = list(_parser(content_type)(response.text))
    except Exception as exc:  # the parser raises what it meets: ValueError, IndexError, ...
        reason = str(exc)[:200] or type(exc).__name__
        raise ScrapeError(
            f"the body is not the Prometheus exposition format ({reason})", response
        ) from None
    if not families:
        raise ScrapeError(
            "the body holds no metrics (expected the Prometheus exposition format)", response
        )
    return exposition_of(families)


def _parser(content_type: str) -> Any:
    if content_type.split(";", 1)[0].strip().lower() == OPENMETRICS:
        from prometheus_client.openmetrics.parser import text_string_to_metric_families as om

        return om
    from prometheus_client.parser import text_string_to_metric_families

    return text_string_to_metric_families


def exposition_of(families: Iterable[Any]) -> Exposition:
    """prometheus_client's metric families as the plain values conditions read."""
    samples: dict[str, dict[LabelKey, float]] = defaultdict(dict)
    names: set[str] = set()
    monotonic: set[str] = set()
    for family in families:
        names.add(family.name)
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ()))
        monotonic.update(family.name + suffix for suffix in MONOTONIC.get(family.type, ()))
        for sample in family.samples:
            names.add(sample.name)
            samples[sample.name][tuple(sorted(sample.labels.items()))] = float(sample.value)
    return Exposition(dict(samples), frozenset(names), frozenset(monotonic))
