"""Cross references inside `alerts:`: routes and rules name channels, rules name targets,
windows and baselines fit the history, baselines hold their minimum — each problem at its
own line.

Like `references.py`, the pass reads the validated models or the raw parsed YAML (where it
tolerates any shape), so the loader can place each problem on the line that causes it,
while `AlertsConfig` still refuses an inconsistent configuration built directly.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import Any

from vigil.spec.errors import did_you_mean
from vigil.spec.references import Loc, ReferenceProblem

DEFAULT_HISTORY_RUNS = 200  # AlertsConfig.history_runs' default
# (baseline_runs, min_runs) defaults of the rules that judge against a baseline:
# DurationRegression's and LatencyRegression's.
DEFAULT_BASELINES = {"duration_regression": (7, 3), "latency_regression": (10, 3)}


def alert_problems(
    alerts: Any, targets: Collection[str] | None = None, loc: Loc = ("alerts",)
) -> list[ReferenceProblem]:
    """Every unresolved reference in `alerts` (raw data or an AlertsConfig). `targets`: the
    spec's target names (None when unknown: a config built on its own)."""
    if alerts is None:
        return []
    channels = [name for name, _ in _items(_get(alerts, "channels"))]
    rules = _get(alerts, "rules")
    rules = rules if isinstance(rules, list) else []
    history = _get(alerts, "history_runs")
    history = history if _is_int(history) else DEFAULT_HISTORY_RUNS
    problems = list(_route_problems(_get(alerts, "routes"), channels, loc))
    problems += _duplicate_ids(rules, loc)
    for index, rule in enumerate(rules):
        here = (*loc, "rules", index)
        problems += _rule_channel_problems(rule, channels, here)
        problems += _select_problems(_get(rule, "select"), targets, (*here, "select"))
        problems += _window_problems(rule, history, here)
        problems += _baseline_problems(rule, history, here)
    return problems


def _route_problems(routes: Any, channels: list[str], loc: Loc) -> Iterator[ReferenceProblem]:
    for severity, names in _items(routes):
        for index, name in enumerate(names if isinstance(names, list) else []):
            if isinstance(name, str) and name not in channels:
                yield _unknown_channel(name, channels, (*loc, "routes", severity, index))


def _rule_channel_problems(rule: Any, channels: list[str], loc: Loc) -> Iterator[ReferenceProblem]:
    names = _get(rule, "channels")
    for index, name in enumerate(names if isinstance(names, list) else []):
        if isinstance(name, str) and name not in channels:
            yield _unknown_channel(name, channels, (*loc, "channels", index))


def _unknown_channel(name: str, channels: list[str], loc: Loc) -> ReferenceProblem:
    defined = ", ".join(sorted(channels)) or "(none)"
    return ReferenceProblem(
        loc,
        f"unknown channel {name!r}",
        found=repr(name),
        expected=defined,
        hint=did_you_mean(name, channels)
        or (f"defined channels: {defined}" if channels else "define it under alerts.channels"),
    )


def _duplicate_ids(rules: list[Any], loc: Loc) -> Iterator[ReferenceProblem]:
    first: dict[str, int] = {}
    for index, rule in enumerate(rules):
        rule_id = _get(rule, "id")
        if not isinstance(rule_id, str):
            continue
        if rule_id in first:
            yield ReferenceProblem(
                (*loc, "rules", index, "id"),
                f"duplicate rule id {rule_id!r}; alerts.rules[{first[rule_id]}] already uses it",
                found=repr(rule_id),
                hint="rule ids are unique within a spec: an alert's state follows its rule id",
            )
        else:
            first[rule_id] = index


def _select_problems(
    select: Any, targets: Collection[str] | None, loc: Loc
) -> Iterator[ReferenceProblem]:
    """Rule selectors name targets of this spec (families are checked by their field)."""
    chosen = _get(select, "targets")
    if targets is None or not isinstance(chosen, list):
        return
    for index, name in enumerate(chosen):
        if isinstance(name, str) and name not in targets:
            declared = ", ".join(sorted(targets)) or "(none)"
            yield ReferenceProblem(
                (*loc, "targets", index),
                f"unknown target {name!r}",
                found=repr(name),
                expected=declared,
                hint=did_you_mean(name, targets) or f"declared targets: {declared}",
            )


def _window_problems(rule: Any, history: int, loc: Loc) -> Iterator[ReferenceProblem]:
    last_runs = _get(_get(rule, "window"), "last_runs")
    if _is_int(last_runs) and last_runs > history:
        yield ReferenceProblem(
            (*loc, "window", "last_runs"),
            f"a window of {last_runs} runs is beyond alerts.history_runs ({history}): the "
            "rule would never see that many",
            found=str(last_runs),
            expected=f"at most {history}",
            hint=f"lower last_runs, or raise alerts.history_runs to {last_runs}",
        )


def _baseline_problems(rule: Any, history: int, loc: Loc) -> Iterator[ReferenceProblem]:
    kind = _get(rule, "kind")
    defaults = DEFAULT_BASELINES.get(kind) if isinstance(kind, str) else None
    if defaults is None:
        return
    baseline, minimum = (_get(rule, key) for key in ("baseline_runs", "min_runs"))
    baseline = baseline if _is_int(baseline) else defaults[0]
    minimum = minimum if _is_int(minimum) else defaults[1]
    if minimum > baseline:
        yield ReferenceProblem(
            (*loc, "min_runs"),
            f"min_runs ({minimum}) cannot exceed baseline_runs ({baseline}): the baseline "
            "would never hold enough runs to judge",
            found=str(minimum),
            expected=f"at most baseline_runs ({baseline})",
            hint=f"lower min_runs, or raise baseline_runs to {minimum}",
        )
    elif 1 <= history <= minimum:  # (history_runs below 1 is its own field's problem)
        # The history holds the evaluated run and history_runs - 1 runs before it: the
        # baseline's samples come from those (fewer when some did not pass, or did not
        # run the probe), so a minimum they cannot reach means a rule that never fires.
        yield ReferenceProblem(
            (*loc, "min_runs"),
            f"min_runs ({minimum}) needs more earlier runs than alerts.history_runs "
            f"({history}) loads ({history - 1} before the evaluated run): the rule would "
            "never fire",
            found=str(minimum),
            expected=f"at most {history - 1}",
            hint=f"lower min_runs, or raise alerts.history_runs to {minimum + 1}",
        )


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)


def _items(obj: Any) -> list[tuple[str, Any]]:
    if isinstance(obj, Mapping):
        return [(str(getattr(k, "value", k)), v) for k, v in obj.items()]
    return []


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
