"""The overview: every environment and family at a glance, and one sentence that says
whether all is well or names what is not."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from vigil.results import ResultStore, RunSummary
from vigil.spec.models import Spec
from vigil.ui import data
from vigil.ui.specs import RateRule, rate_rules, trigger_dag

SHORT_DAYS, LONG_DAYS = 7, 30


@dataclass(frozen=True)
class Threshold:
    """A failure-rate rule that applies to a family, against the family's rate: the
    latest run's for a per-run rule, the last 7 days' for a window rule."""

    rule: RateRule
    rate: float | None

    @property
    def above(self) -> bool:
        return self.rate is not None and self.rate > self.rule.threshold


@dataclass(frozen=True)
class FamilyRow:
    family: str
    latest: data.FamilyRun | None
    rates: data.PassRates | None
    thresholds: list[Threshold]

    @property
    def failure_rate(self) -> float | None:
        """The share of failed and errored checks in the family's latest run."""
        return self.latest.counts.failure_rate if self.latest else None

    @property
    def state(self) -> str:
        return self.latest.state if self.latest else "no runs"

    @property
    def above(self) -> list[Threshold]:
        return [t for t in self.thresholds if t.above]


@dataclass(frozen=True)
class EnvRow:
    environment: str
    latest: RunSummary | None
    families: list[FamilyRow]
    firing: int
    pending: int
    critical: int
    trigger: str
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Overview:
    environments: list[EnvRow]
    now: datetime
    trigger: str  # the DAG to trigger when nothing is stored yet

    @property
    def unhealthy(self) -> list[EnvRow]:
        return [e for e in self.environments if not e.healthy]

    @property
    def healthy(self) -> bool:
        return bool(self.environments) and not self.unhealthy

    @property
    def sentence(self) -> str:
        envs, bad = self.environments, self.unhealthy
        if all(e.latest is None for e in envs):
            return f"No runs stored yet: run `make demo` or trigger {self.trigger}"
        if not bad:
            return f"All {len(envs)} {_plural(len(envs), 'environment')} healthy"
        named = "; ".join(f"{e.environment} ({', '.join(e.problems)})" for e in bad)
        if len(envs) == 1:
            return f"{bad[0].environment} is not healthy: {', '.join(bad[0].problems)}"
        verb = "is" if len(bad) == 1 else "are"
        return f"{len(bad)} of {len(envs)} environments {verb} not healthy: {named}"


def _plural(n: int, word: str) -> str:
    return word if n == 1 else f"{word}s"


def build(store: ResultStore, specs: Mapping[str, Spec], now: datetime) -> Overview:
    stored = data.environments(store)
    envs = sorted(set(stored) | set(specs))
    latest = data.latest_runs(store, stored)
    family_runs: dict[tuple[str, str], data.FamilyRun] = {}
    for row in data.family_runs(store, stored):  # newest run first: keep the first seen
        family_runs.setdefault((row.environment, row.family), row)
    rates = data.pass_rates(store, stored, now, SHORT_DAYS, LONG_DAYS)
    alerts = data.open_alert_counts(store, stored)
    rows = [
        _env_row(env, specs.get(env), latest.get(env), family_runs, rates, alerts.get(env, {}))
        for env in envs
    ]
    first = envs[0] if envs else "<environment>"
    return Overview(rows, now, trigger_dag(first, specs.get(first)))


def _env_row(
    env: str,
    spec: Spec | None,
    latest: RunSummary | None,
    family_runs: Mapping[tuple[str, str], data.FamilyRun],
    rates: Mapping[tuple[str, str], data.PassRates],
    alerts: Mapping[str, int],
) -> EnvRow:
    declared = spec.declared_families() if spec is not None else []
    seen = {f for e, f in (*family_runs, *rates) if e == env}
    order = [*declared, *sorted(seen - set(declared))]
    families = []
    for family in order:
        run, rate = family_runs.get((env, family)), rates.get((env, family))
        thresholds = [
            Threshold(rule, _rate_for(rule, run, rate))
            for rule in rate_rules(spec.alerts if spec else None, family)
        ]
        families.append(FamilyRow(family, run, rate, thresholds))
    row = EnvRow(
        env,
        latest,
        families,
        alerts.get("firing", 0),
        alerts.get("pending", 0),
        alerts.get("critical", 0),
        trigger_dag(env, spec),
    )
    row.problems.extend(problems(row))
    return row


def _rate_for(
    rule: RateRule, run: data.FamilyRun | None, rate: data.PassRates | None
) -> float | None:
    if rule.kind == "run_failure_rate":
        return run.counts.failure_rate if run else None
    return rate.failure_short if rate else None


def problems(row: EnvRow) -> list[str]:
    """What keeps an environment from being healthy, shortest words first."""
    if row.latest is None:
        return [f"no runs stored yet: trigger {row.trigger}"]
    out = []
    if row.latest.state.value == "failed":
        out.append("latest run failed")
    for family in row.families:
        run = family.latest
        if run is not None and run.counts.problems:
            out.append(f"{family.family}: {_failures(run)}")
            continue  # its rates are above a threshold because of these: said once
        for t in family.above:
            out.append(
                f"{family.family} above {t.rule.rule_id}'s threshold "
                f"({_pct(t.rate)} > {_pct(t.rule.threshold)})"
            )
    if row.firing:
        out.append(f"{row.firing} {_plural(row.firing, 'alert')} firing")
    return out


def _failures(run: data.FamilyRun) -> str:
    failed, errors = run.counts.failed, run.counts.error
    parts = [f"{failed} failed"] if failed else []
    parts += [f"{errors} {'errors' if errors > 1 else 'error'}"] if errors else []
    return ", ".join(parts)


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.0f}%"
