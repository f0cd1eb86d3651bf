"""Alerts as people read them: firing, silenced, pending and resolved, each with its
timeline; silences in force and past ones; making and removing a silence for one
environment (vigil.alerts.silences does the writing)."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from vigil.alerts import silences
from vigil.alerts.silences import (
    Silence,
    SilenceError,
    add_silence,
    first_match,
    list_silences,
    parse_scope,
    remove_silence,
)
from vigil.results import ResultStore
from vigil.spec.models import Spec
from vigil.spec.windows import MaintenanceWindow, matches
from vigil.ui import data

RECENT_DAYS = 30


@dataclass(frozen=True)
class Event:
    at: datetime
    what: str
    status: str = ""  # a notice's status (sent, failed, silenced, ...)
    dag_id: str | None = None
    run_id: str | None = None


@dataclass(frozen=True)
class AlertView:
    row: data.AlertRow
    silenced_by: str | None
    timeline: list[Event]

    @property
    def group(self) -> str:
        """firing | silenced | pending | resolved."""
        if self.row.state in ("firing", "pending") and self.silenced_by:
            return "silenced"
        return self.row.state


@dataclass
class AlertsView:
    environment: str | None
    now: datetime
    alerts: list[AlertView]
    silences: list[Silence]  # in force, applying to the environment (all when None)
    past_silences: list[Silence]
    windows: list[tuple[str, MaintenanceWindow]] = field(default_factory=list)  # open now

    def group(self, name: str) -> list[AlertView]:
        return [a for a in self.alerts if a.group == name]

    @staticmethod
    def own(silence: Silence) -> str | None:
        """The one environment a silence is limited to (removable from its page)."""
        return own_environment(silence)


class NotInEnvironment(SilenceError):
    """A silence that is not limited to the environment it is being changed through."""


class UnknownSilence(SilenceError):
    """No silence in force with that id."""


def build(
    store: ResultStore, specs: Mapping[str, Spec], environment: str | None, now: datetime
) -> AlertsView:
    rows = data.alerts(store, environment, since=now - timedelta(days=RECENT_DAYS))
    notices = data.timelines(store, [r.id for r in rows])
    active = active_silences(store, now)
    windows = open_windows(specs, environment, now)
    views = []
    for row in rows:
        silenced_by = None
        if row.state in ("firing", "pending"):
            silenced_by = _silenced_by(row, active, windows)
        views.append(AlertView(row, silenced_by, timeline(row, notices.get(row.id, []))))
    past = [_silence(r) for r in data.past_silences(store, now)]
    return AlertsView(
        environment,
        now,
        views,
        [s for s in active if applies(s, environment)],
        [s for s in past if applies(s, environment)],
        windows,
    )


def _silenced_by(
    row: data.AlertRow, silences: list[Silence], windows: list[tuple[str, MaintenanceWindow]]
) -> str | None:
    labels = row.labels()
    for env, window in windows:
        if env == row.environment and matches(window.match, labels):
            return f"maintenance window {window.name!r}"
    silence = first_match(silences, labels)
    if silence is not None:
        return silence.describe()
    if row.last_notice_status == "silenced":  # held back when last told, by what is gone now
        return row.last_notice_note or "silenced"
    return None


def active_silences(store: ResultStore, now: datetime) -> list[Silence]:
    """Silences in force at `now` (as list_silences gives them), read on the page's
    connection."""
    rows = store.read("list the silences in force", silences.ACTIVE, {"now": now})
    return [_silence(row) for row in rows]


def open_windows(
    specs: Mapping[str, Spec], environment: str | None, now: datetime
) -> list[tuple[str, MaintenanceWindow]]:
    out = []
    for env, spec in specs.items():
        if environment is not None and env != environment:
            continue
        for window in spec.alerts.silences:
            try:
                if window.is_open(now):
                    out.append((env, window))
            except (TypeError, ValueError):  # as the engine does: an unreadable one holds nothing
                continue
    return out


def timeline(row: data.AlertRow, notices: list[data.Notice]) -> list[Event]:
    """What happened to the alert, newest first: opened, fired, each notice, resolved."""
    events = [Event(row.first_seen, "opened (breaching)")]
    if row.fired_at is not None:
        events.append(Event(row.fired_at, f"fired (episode {row.episode})"))
    if row.resolved_at is not None:
        events.append(Event(row.resolved_at, "resolved"))
    elif row.state == "resolved":
        events.append(Event(row.last_seen or row.first_seen, "cleared before it fired"))
    for n in notices:
        what = f"{n.kind} to {n.channel}"
        if n.error:
            what += f": {n.error}"
        events.append(Event(n.evaluated_at, what, n.status, n.dag_id, n.run_id))
    # Newest first; at one instant, in the order they happen: opened, fired, told, resolved.
    order = {"opened": 0, "fired": 1, "resolved": 3, "cleared": 3}
    return sorted(events, key=lambda e: (e.at, order.get(e.what.split()[0], 2)), reverse=True)


def applies(silence: Silence, environment: str | None) -> bool:
    """Whether a silence can hold back alerts of `environment` (all: None)."""
    if environment is None:
        return True
    try:
        glob = parse_scope(silence.scope).get("environment")
    except SilenceError:
        return True  # shown, so a person can see and remove it
    return glob is None or fnmatch.fnmatchcase(environment, glob)


def own_environment(silence: Silence) -> str | None:
    try:
        glob = parse_scope(silence.scope).get("environment")
    except SilenceError:
        return None
    if glob is None or any(c in glob for c in "*?["):
        return None
    return glob


def scoped(scope: str, environment: str) -> str:
    """`scope` limited to `environment`: its term added, or checked when present."""
    match = parse_scope(scope)
    named = match.get("environment")
    if named is not None and named != environment:
        raise NotInEnvironment(
            f"scope names environment={named}, but this silence is made for {environment!r}: "
            f"leave the environment out of the scope, or make it for {named!r}"
        )
    return " ".join(f"{k}={v}" for k, v in sorted({**match, "environment": environment}.items()))


def create(
    store: ResultStore,
    environment: str,
    *,
    scope: str,
    duration: str,
    reason: str,
    user: str,
    now: datetime | None = None,
) -> Silence:
    return add_silence(store, scoped(scope, environment), duration.strip(), reason, user, now=now)


def remove(
    store: ResultStore, environment: str, name: str, *, user: str, now: datetime | None = None
) -> Silence:
    """Remove the silence `name` (its id, "12" or "#12") made for `environment`: one
    that is not limited to it (made with the CLI for every environment) is refused."""
    silence_id = silence_number(name)
    found = next((s for s in list_silences(store, now=now) if s.id == silence_id), None)
    if found is None:
        raise UnknownSilence(f"no silence #{silence_id} in force (unknown id, or already over)")
    if own_environment(found) != environment:
        raise NotInEnvironment(
            f"silence #{silence_id} ({found.scope}) is not limited to environment "
            f"{environment!r}; remove it with `vigil silence remove {silence_id}`"
        )
    return remove_silence(store, silence_id, removed_by=user, now=now)


def silence_number(name: str) -> int:
    text = name.strip().removeprefix("#")
    if not text.isdigit():
        raise UnknownSilence(f"no silence {name!r}: silences are named by number, e.g. 12")
    return int(text)


def _silence(row: Mapping[str, object]) -> Silence:
    return Silence(**{k: row[k] for k in Silence.__dataclass_fields__})  # type: ignore[arg-type]
