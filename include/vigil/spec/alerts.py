"""Alert rules, routes and channels: the `alerts:` section of a spec.

Five rule kinds, discriminated by `kind`; every model forbids unknown keys and is frozen.
A rule fires for a *scope* (the run, a group, a check) and is then one alert, identified by
its fingerprint (rule id + scope), until it resolves.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal, get_args

from pydantic import Field, model_validator

from vigil.alerts.durations import Duration
from vigil.families import FamilyName
from vigil.result import Severity
from vigil.spec.alert_references import alert_problems
from vigil.spec.base import Name, Strict
from vigil.spec.channels import ChannelConfig
from vigil.spec.errors import format_path
from vigil.spec.references import SpecReferenceError
from vigil.spec.windows import MaintenanceWindow

Share = Annotated[float, Field(ge=0, lt=1)]
GroupKey = Literal["check_id", "family", "target", "severity"]
DEFAULT_REPEAT = timedelta(hours=24)


class Select(Strict):
    """Which results a rule looks at; empty lists mean all of them."""

    families: list[FamilyName] = Field(default_factory=list)
    targets: list[str] = Field(default_factory=list)
    severity: Severity | None = None  # the checks' severity, not the alert's

    def admits(self, family: str, target: str, severity: Severity) -> bool:
        return (
            (not self.families or family in self.families)
            and (not self.targets or target in self.targets)
            and (self.severity is None or severity is self.severity)
        )


class RuleBase(Strict):
    id: Name
    severity: Severity = Severity.WARNING
    description: str = ""
    select: Select = Field(default_factory=Select)
    # Channel names; None: the alerts-level route for this rule's severity.
    channels: list[str] | None = None
    # While firing, say so again after this long without a successful notification.
    repeat_interval: Duration = DEFAULT_REPEAT
    # Breach this many evaluations in a row before firing (pending until then).
    for_runs: int = Field(default=1, ge=1, le=100)


class RunFailureRate(RuleBase):
    kind: Literal["run_failure_rate"]
    # Fires when (failed + error) / checks that ran, in this run, is above this share.
    threshold: Share = 0.05


class Window(Strict):
    """The last N runs of the environment, the last T of time, or both (their overlap);
    both are counted back from the evaluated run, so a re-evaluation sees the same window."""

    last_runs: int | None = Field(default=None, ge=1, le=1000)
    last: Duration | None = None

    @model_validator(mode="after")
    def _some_window(self) -> Window:
        if self.last_runs is None and self.last is None:
            raise ValueError("window needs last_runs (e.g. 10) and/or last (e.g. '7d')")
        return self


class WindowFailureRate(RuleBase):
    kind: Literal["window_failure_rate"]
    window: Window
    # One alert per group: ["check_id"] per check, ["family", "target"] per task, [] overall.
    group_by: list[GroupKey] = Field(default_factory=lambda: list[GroupKey](["check_id"]))
    threshold: Share = 0.2
    # Results a group needs in the window before its rate counts (one failure of one is
    # a 100% rate).
    min_results: int = Field(default=3, ge=1, le=5_000)


class ConsecutiveFailures(RuleBase):
    kind: Literal["consecutive_failures"]
    # Fires when a check failed or errored in its last `count` runs (skips do not count
    # either way), resolves once it passed in its last `resolve_after` runs.
    count: int = Field(default=3, ge=1, le=100)
    resolve_after: int = Field(default=2, ge=1, le=100)


class DurationRegression(RuleBase):
    kind: Literal["duration_regression"]
    # What is timed; a name in vigil.alerts.signals.SIGNALS.
    subject: Literal["run", "task", "check"] = "run"
    factor: float = Field(default=2.0, gt=1)
    baseline_runs: int = Field(default=7, ge=1, le=100)
    # Successful samples needed in the baseline before the rule may fire.
    min_runs: int = Field(default=3, ge=1, le=100)
    # Ignore regressions smaller than this in absolute terms (5 ms -> 11 ms is noise).
    min_duration_ms: float = Field(default=0.0, ge=0, le=86_400_000)


# The latency figures of a probe (vigil.probes.thresholds.LATENCY_METRICS but `min`: a
# faster floor says little), in ms.
LatencyMetric = Literal["p50", "p90", "p95", "p99", "p99.9", "max", "mean"]


class LatencyRegression(RuleBase):
    kind: Literal["latency_regression"]
    # One series per performance probe and load profile: this run's figure against the
    # median of the same probe's figure under the same profile in earlier passing runs.
    metric: LatencyMetric = "p95"
    factor: float = Field(default=1.5, gt=1)
    baseline_runs: int = Field(default=10, ge=1, le=100)
    # Passing runs needed in the baseline before the rule may fire.
    min_runs: int = Field(default=3, ge=1, le=100)
    # Ignore regressions below this latency (a 0.4 ms query at 0.9 ms is noise).
    min_latency_ms: float = Field(default=0.0, ge=0, le=3_600_000)


Rule = Annotated[
    RunFailureRate
    | WindowFailureRate
    | ConsecutiveFailures
    | DurationRegression
    | LatencyRegression,
    Field(discriminator="kind"),
]
RULE_MODELS = (
    RunFailureRate,
    WindowFailureRate,
    ConsecutiveFailures,
    DurationRegression,
    LatencyRegression,
)
RULE_KINDS: tuple[str, ...] = tuple(
    get_args(cls.model_fields["kind"].annotation)[0] for cls in RULE_MODELS
)


class Delivery(Strict):
    """Retries of one digest to one channel: `attempts` tries, sleeping backoff_s, 2x, 4x...
    between them, all within `max_total_s` (each attempt's timeout is cut to what is left)."""

    attempts: int = Field(default=3, ge=1, le=10)
    backoff_s: float = Field(default=1.0, ge=0, le=60)
    max_total_s: float = Field(default=10.0, gt=0, le=300)


class AlertsConfig(Strict):
    channels: dict[Name, ChannelConfig] = Field(default_factory=dict)
    routes: dict[Severity, list[str]] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)
    silences: list[MaintenanceWindow] = Field(default_factory=list)
    delivery: Delivery = Field(default_factory=Delivery)
    # How many of the environment's newest runs streaks and baselines may look back over.
    history_runs: int = Field(default=200, ge=1, le=5000)

    @model_validator(mode="after")
    def _references(self) -> AlertsConfig:
        # The loader runs the same pass on the raw YAML to place each problem on its own
        # line (spec/alert_references.py); this refuses a config built directly.
        problems = alert_problems(self, loc=())
        if problems:
            raise SpecReferenceError(
                "; ".join(f"{format_path(p.loc)}: {p.message}" for p in problems)
            )
        return self

    def channels_for(self, rule: RuleBase) -> list[str]:
        names = rule.channels if rule.channels is not None else self.routes.get(rule.severity, [])
        return list(dict.fromkeys(names))

    def rule(self, rule_id: str) -> RuleBase | None:
        return next((r for r in self.rules if r.id == rule_id), None)
