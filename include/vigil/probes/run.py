"""The probes family's runner: a target's probes, one at a time, judged and recorded.

Probes of one target run one after another (and, through the `vigil_probes` pool, apart
from every other probe): load that shares the target with other load measures neither.
For each probe: consent (`allow_load`) is checked again at run time, the cadence's load
profile is applied, the probe measures, its thresholds are judged against the figures (and
the baseline from earlier passing runs), and the figures and histogram are written to the
results store's time series. A probe that cannot run is `error` on every threshold, with
the reason; nothing here raises for a target that is down.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from vigil.config_errors import ConfigError, configuration_details
from vigil.context import RunContext
from vigil.probes import measure as measure_mod
from vigil.probes.judge import FAMILY, Baselines, judge, passed, show_figures
from vigil.probes.models import (
    HttpLoadProbe,
    PgConnectionsProbe,
    PgPlanProbe,
    PgQueryProbe,
)
from vigil.probes.thresholds import Threshold, slugs
from vigil.result import CheckResult, Status

log = logging.getLogger(__name__)

# Evidence keeps the encoded histogram when it fits (evidence strings are cut at 2,000
# characters); the results store's probe_figures row always keeps it whole.
_HISTOGRAM_IN_EVIDENCE = 1_900


def run_checks(checks: Sequence[Any], ctx: RunContext) -> list[CheckResult]:
    store = _Store(ctx)
    results: list[CheckResult] = []
    for probe in checks:  # one at a time, never concurrently
        results += run_probe(probe, ctx, store)
    return results


def run_probe(probe: Any, ctx: RunContext, store: _Store | None = None) -> list[CheckResult]:
    store = store if store is not None else _Store(ctx)
    started_at, start = datetime.now(UTC), time.perf_counter()
    profile = _profile(ctx)
    try:
        _require_consent(probe, ctx)
        if isinstance(probe, PgPlanProbe):
            from vigil.probes.plan_results import plan_results

            return plan_results(probe, ctx, started_at)
        stop = AbortRules(probe.abort_when)
        measured, extra, evidence = _measure(probe, ctx, profile, stop)
    except Exception as exc:  # a probe that cannot run is an error on every threshold
        reason = _reason(exc, ctx)
        log.warning("probe %s could not run: %s", probe.id, reason)
        return _all_errors(probe, reason, started_at, time.perf_counter() - start, exc)
    duration_ms = (time.perf_counter() - start) * 1000
    figures = {**measured.figures(), **extra}
    histogram = measured.encoded()
    details: dict[str, Any] = {
        "profile": probe.profile_used(profile),
        "load": probe.load_for(profile).model_dump(mode="json"),
        **measured.evidence(),
        **evidence,
    }
    if len(histogram) <= _HISTOGRAM_IN_EVIDENCE:
        details["histogram"] = histogram
    else:
        details["histogram"] = "kept whole in the results store (vigil.probe_figures)"
    series = probe.series_key(profile)
    details["series"] = series
    baselines = store.baselines(probe, ctx, series)
    common: dict[str, Any] = {"started_at": started_at, "duration_ms": duration_ms}
    cannot_measure = _unreachable(measured)
    results = judge(
        probe,
        figures,
        baselines,
        details=details,
        cannot_measure=cannot_measure,
        **common,
    )
    results += stop.results(probe, figures, details, cannot_measure, **common)
    log.info("probe %s (%s): %s", probe.id, details["profile"], show_figures(figures))
    store.record(probe, ctx, series, figures, histogram, passed(results))
    return results


def _profile(ctx: RunContext) -> str | None:
    schedule = getattr(ctx.spec.schedules, ctx.cadence, None)
    return getattr(schedule, "probe_profile", None)


def _require_consent(probe: Any, ctx: RunContext) -> None:
    """Again at run time: a spec built in code, or edited after it was checked, must not
    send load to a target that never agreed to take it."""
    flag = getattr(probe, "requires_target_flag", None)
    target = ctx.spec.targets.get(probe.target)
    if target is None:
        raise ConfigError(f"unknown target {probe.target!r}")
    if flag and getattr(target, flag, False) is not True:
        raise ConfigError(
            f"refused: a {probe.kind!r} probe sends load, and target {probe.target!r} does "
            f"not declare {flag}: true",
            fix=f"add `{flag}: true` to targets.{probe.target} if it may take test load",
        )


def _measure(
    probe: Any, ctx: RunContext, profile: str | None, stop: AbortRules
) -> tuple[measure_mod.Measurement, dict[str, float], dict[str, Any]]:
    load = probe.load_for(profile)
    abort = stop if stop.rules else None
    if isinstance(probe, HttpLoadProbe):
        from vigil.probes.http_probe import measure_http

        return measure_http(probe, load, ctx, abort), {}, {}
    if isinstance(probe, PgQueryProbe):
        from vigil.probes.pg_probe import measure_query

        return measure_query(probe, load, ctx, abort)
    if isinstance(probe, PgConnectionsProbe):
        from vigil.probes.pg_probe import measure_connections

        return measure_connections(probe, load, ctx)
    raise ConfigError(f"unknown probe kind {getattr(probe, 'kind', '?')!r}")


class AbortRules:
    """The engine's stop test (the first `abort_when` rule that holds, once past its
    `after`), which remembers what stopped the probe: each rule is judged like a
    threshold, so an aborted probe is failed on its abort rule and never passes (or joins
    a baseline) on the figures of the moments before it stopped."""

    def __init__(self, rules: Sequence[Threshold]) -> None:
        self.rules = list(rules)
        self.fired: tuple[Threshold, float, float] | None = None  # rule, value, at (s)

    def __call__(self, measured: measure_mod.Measurement, elapsed_s: float) -> str | None:
        figures = measured.figures()
        for rule in self.rules:
            value = figures.get(rule.metric)
            if elapsed_s >= rule.after_s and value is not None and rule.holds(value):
                self.fired = (rule, value, elapsed_s)
                return self.reason()
        return None

    def reason(self) -> str:
        assert self.fired is not None
        rule, value, at = self.fired
        return f"aborted after {at:.1f} s: {rule.text} ({rule.metric} was {rule.show(value)})"

    def results(
        self,
        probe: Any,
        figures: dict[str, float],
        details: dict[str, Any],
        cannot_measure: str | None,
        **common: Any,
    ) -> list[CheckResult]:
        out = []
        for rule, key in zip(self.rules, abort_keys(self.rules), strict=True):
            fields: dict[str, Any] = {
                "check_id": f"{probe.id}.{key}",
                "parent": probe.id,
                "observed": figures,
                "expected": {"abort_when": rule.text},
                "details": {"abort_when": rule.text, **details},
                **common,
            }
            if cannot_measure is not None:
                out.append(CheckResult.error_of(probe, FAMILY, cannot_measure, **fields))
            elif self.fired is not None and self.fired[0] is rule:
                out.append(CheckResult.of(probe, FAMILY, Status.FAILED, self.reason(), **fields))
            else:
                message = f"abort_when {rule.text}: never held, the probe ran its full load"
                out.append(CheckResult.of(probe, FAMILY, Status.PASSED, message, **fields))
        return out


def abort_keys(rules: Sequence[Threshold]) -> list[str]:
    """Result-id suffixes of abort rules: `abort.error_rate`, `abort.p99`, ..."""
    return ["abort." + key for key in slugs(rules)]


def _unreachable(measured: measure_mod.Measurement) -> str | None:
    """Nothing answered at all: the target is down, not slow — an error, not a figure."""
    if measured.ok or measured.requests == 0:
        return None if measured.requests else "the probe sent nothing (its caps allow none?)"
    if set(measured.errors) <= {"connection"}:
        sample = "; ".join(measured.samples[:2]) or "connection failed"
        return f"could not reach the target: {measured.requests} connection error(s) ({sample})"
    return None


def _reason(exc: Exception, ctx: RunContext) -> str:
    text = str(exc) or type(exc).__name__
    return ctx.mask(text)


def _all_errors(
    probe: Any, reason: str, started_at: datetime, elapsed_s: float, exc: Exception
) -> list[CheckResult]:
    details = configuration_details() if isinstance(exc, ConfigError) else {}
    fields: dict[str, Any] = {"started_at": started_at, "duration_ms": elapsed_s * 1000}
    if isinstance(probe, PgPlanProbe):
        return [CheckResult.error_of(probe, FAMILY, reason, details=details, **fields)]
    rules = [*probe.thresholds, *probe.abort_when]
    keys = [*slugs(probe.thresholds), *abort_keys(probe.abort_when)]
    return [
        CheckResult.error_of(
            probe,
            FAMILY,
            reason,
            check_id=f"{probe.id}.{key}",
            parent=probe.id,
            details={"threshold": t.text, **details},
            **fields,
        )
        for t, key in zip(rules, keys, strict=True)
    ]


class _Store:
    """The results store for baselines and the figures' time series, opened on first use.
    No store configured (a standalone `vigil run`): baselines say so, nothing is written."""

    def __init__(self, ctx: RunContext) -> None:
        self._ctx = ctx
        self._store: Any = None
        self._problem: tuple[bool, str] | None = None  # (not configured, reason)

    def _open(self) -> Any:
        if self._store is None and self._problem is None:
            ctx = self._ctx
            try:
                from vigil.results.store import ResultStore

                info = ctx.connection(ctx.spec.results_conn_id)
                self._store = ResultStore.from_connection(info)
            except Exception as exc:
                self._problem = (isinstance(exc, ConfigError), ctx.mask(str(exc)))
        return self._store

    def _run(self) -> Any:
        from vigil.results.models import RunRef

        ctx = self._ctx
        return RunRef(ctx.spec.environment, ctx.cadence, ctx.dag_id, ctx.run_id)

    def baselines(self, probe: Any, ctx: RunContext, profile: str) -> Baselines:
        if not any(t.is_baseline for t in probe.thresholds):
            return Baselines(min_runs=probe.baseline.min_runs)
        store = self._open()
        if store is None:
            assert self._problem is not None
            not_configured, reason = self._problem
            return Baselines(
                min_runs=probe.baseline.min_runs,
                unavailable=reason,
                not_configured=not_configured,
            )
        from vigil.results import probe_figures

        try:
            samples = probe_figures.baseline_figures(
                store, self._run(), probe.id, profile, probe.baseline.runs
            )
        except Exception as exc:
            return Baselines(min_runs=probe.baseline.min_runs, unavailable=ctx.mask(str(exc)))
        return Baselines(samples, probe.baseline.min_runs)

    def record(
        self,
        probe: Any,
        ctx: RunContext,
        profile: str,
        figures: dict[str, float],
        histogram: str,
        probe_passed: bool,
    ) -> None:
        store = self._open()
        if store is None:
            return
        from vigil.results import probe_figures

        try:
            probe_figures.record(
                store,
                self._run(),
                check_id=probe.id,
                target=probe.target,
                check_kind=probe.kind,
                profile=profile,
                passed=probe_passed,
                figures=figures,
                histogram=histogram,
            )
        except Exception as exc:  # the threshold results still reach the store (or say why)
            log.warning("probe %s: figures not stored: %s", probe.id, ctx.mask(str(exc)))


__all__ = ["AbortRules", "run_checks", "run_probe"]
