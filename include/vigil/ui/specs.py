"""What the pages know from the specs: environments not run yet, time zones, the cadences
to trigger, and the failure-rate thresholds of the alert rules.

Specs are read from the specs folder (as the DAG file reads them), re-read at most once a
minute; a folder or spec that cannot be read gives nothing, and the pages fall back to
what the results store alone says (failure rates without thresholds, UTC days).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from vigil.result import Severity
from vigil.spec.alerts import AlertsConfig, RunFailureRate, WindowFailureRate
from vigil.spec.models import Spec

log = logging.getLogger(__name__)

SpecSource = Callable[[], Mapping[str, Spec]]
CADENCES = ("daily", "weekly", "monthly")


class SpecsFolder:
    """The specs in a folder (default: vigil.spec.loader.specs_dir()), cached `ttl_s`."""

    def __init__(self, folder: Path | None = None, ttl_s: float = 60.0) -> None:
        self._folder = folder
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        self._specs: Mapping[str, Spec] = {}
        self._read_at: float | None = None

    def __call__(self) -> Mapping[str, Spec]:
        with self._lock:
            now = time.monotonic()
            if self._read_at is None or now - self._read_at >= self._ttl_s:
                self._specs = self._load()
                self._read_at = now
            return self._specs

    def _load(self) -> Mapping[str, Spec]:
        from vigil.spec.loader import load_specs, specs_dir

        folder = self._folder or specs_dir()
        try:
            specs, errors = load_specs(folder)
        except Exception as exc:  # the pages work without specs; say why in the log
            log.warning("Vigil UI: specs in %s not read: %s: %s", folder, type(exc).__name__, exc)
            return {}
        for path in errors:
            log.warning("Vigil UI: spec %s has problems; its thresholds are not shown", path)
        return specs


def no_specs() -> Mapping[str, Spec]:
    return {}


def read_specs(source: SpecSource) -> Mapping[str, Spec]:
    """The specs, or none when the source fails: a spec problem never breaks a page."""
    try:
        return source()
    except Exception as exc:
        log.warning("Vigil UI: specs not read: %s: %s", type(exc).__name__, exc)
        return {}


@dataclass(frozen=True)
class RateRule:
    """An alert rule with a failure-rate threshold that applies to a family."""

    rule_id: str
    kind: str  # run_failure_rate | window_failure_rate
    threshold: float
    severity: Severity
    window: str  # "this run", "last 10 runs", "last 7d", ...


def rate_rules(alerts: AlertsConfig | None, family: str) -> list[RateRule]:
    if alerts is None:
        return []
    out = []
    for rule in alerts.rules:
        if not isinstance(rule, RunFailureRate | WindowFailureRate):
            continue
        if rule.select.families and family not in rule.select.families:
            continue
        out.append(RateRule(rule.id, rule.kind, rule.threshold, rule.severity, _window(rule)))
    return out


def _window(rule: RunFailureRate | WindowFailureRate) -> str:
    if isinstance(rule, RunFailureRate):
        return "one run"
    parts = []
    if rule.window.last_runs is not None:
        parts.append(f"last {rule.window.last_runs} runs")
    if rule.window.last is not None:
        parts.append(f"last {_span(rule.window.last.total_seconds())}")
    where = f" per {'+'.join(rule.group_by)}" if rule.group_by else ""
    return " and ".join(parts) + where


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def trigger_dag(environment: str, spec: Spec | None) -> str:
    """The DAG a person triggers to get a first run of `environment`."""
    if spec is not None:
        for cadence in CADENCES:
            if getattr(spec.schedules, cadence).enabled:
                return f"{environment}_{cadence}"
    return f"{environment}_daily"


def timezone(spec: Spec | None) -> str:
    return spec.timezone if spec is not None else "UTC"
