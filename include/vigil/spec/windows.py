"""Recurring maintenance windows: alerts that match are recorded, not sent, while one is open.

Two ways to say when: weekdays with a local start and end time ("sun 02:00-04:00"; an end
at or before the start runs past midnight), or a cron expression for each opening plus a
duration ("0 3 1 * *" for 2h: the first of every month). Both read in the window's timezone.
"""

from __future__ import annotations

import fnmatch
import re
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, ValidationInfo, field_validator, model_validator

from vigil.alerts.durations import Duration
from vigil.spec.base import NonEmpty, Strict
from vigil.spec.validators import check_cron, check_timezone

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# The labels an alert carries; silences and windows match on them with shell-style globs.
LABELS = ("environment", "rule", "fingerprint", "severity", "family", "target", "check_id")
MAX_WINDOW = timedelta(days=7)
_HH_MM = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d")

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_FIELDS = ((0, 59, ()), (0, 23, ()), (1, 31, ()), (1, 12, _MONTHS), (0, 7, _DAYS))


def check_match(match: dict[str, str]) -> dict[str, str]:
    unknown = sorted(set(match) - set(LABELS))
    if unknown:
        raise ValueError(
            f"cannot match on {', '.join(map(repr, unknown))}; labels are {', '.join(LABELS)}"
        )
    return match


def matches(match: dict[str, str], labels: dict[str, str]) -> bool:
    """Every key's glob matches the alert's label; a label the alert lacks never matches."""
    return all(k in labels and fnmatch.fnmatchcase(labels[k], v) for k, v in match.items())


class MaintenanceWindow(Strict):
    name: NonEmpty
    # Which alerts it holds back; empty: all of them.
    match: dict[str, str] = Field(default_factory=dict)
    timezone: str = "UTC"
    weekdays: list[Weekday] | None = None
    start: time | None = None
    end: time | None = None
    cron: str | None = None
    duration: Duration | None = None
    reason: str = ""

    _match = field_validator("match")(check_match)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _local_time(cls, value: object, info: ValidationInfo) -> object:
        """Only "HH:MM" text or a naive time: unquoted YAML reads `22:00` as the integer
        1320 (base 60), which pydantic would take for seconds past midnight in UTC."""
        how = f'write {info.field_name} as a quoted "HH:MM" string (e.g. "22:00")'
        if value is None or (isinstance(value, time) and value.tzinfo is None):
            return value
        if isinstance(value, time):
            raise ValueError(f"{how}; the window's timezone field says where it is read")
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1440:
            unquoted = f"{value // 60:02d}:{value % 60:02d}"
            raise ValueError(f"{how}; YAML reads an unquoted {unquoted} as the number {value}")
        if not isinstance(value, str) or not _HH_MM.fullmatch(value.strip()):
            raise ValueError(f"{how}, not {value!r}")
        return value.strip()

    _timezone = field_validator("timezone")(check_timezone)

    @field_validator("cron")
    @classmethod
    def _cron(cls, cron: str | None) -> str | None:
        if cron is not None:
            check_cron(cron)
            CronSet.parse(cron)
        return cron

    @model_validator(mode="after")
    def _one_schedule(self) -> MaintenanceWindow:
        weekly = (self.weekdays, self.start, self.end)
        if self.cron is not None:
            if any(v is not None for v in weekly) or self.duration is None:
                raise ValueError(
                    f"window {self.name!r}: with cron, give a duration (e.g. '2h') and no "
                    "weekdays/start/end"
                )
            if self.duration > MAX_WINDOW:
                raise ValueError(f"window {self.name!r}: duration is at most 7d")
        elif any(v is None for v in weekly) or self.duration is not None:
            raise ValueError(
                f"window {self.name!r}: give either weekdays + start + end "
                "(e.g. [sun], '02:00', '04:00') or cron + duration"
            )
        return self

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(ZoneInfo(self.timezone))
        if self.cron is not None and self.duration is not None:
            return CronSet.parse(self.cron).fired_within(local, self.duration)
        return self._weekly_open(local)

    def _weekly_open(self, local: datetime) -> bool:
        assert self.weekdays is not None and self.start is not None and self.end is not None
        days = {WEEKDAYS.index(d) for d in self.weekdays}
        now_t = local.time().replace(tzinfo=None)
        overnight = self.end <= self.start
        if local.weekday() in days and now_t >= self.start and (overnight or now_t < self.end):
            return True
        yesterday = (local.weekday() - 1) % 7
        return overnight and yesterday in days and now_t < self.end


class CronSet:
    """A five-field cron expression as sets of allowed values (standard semantics: when
    both day fields are restricted, either may match)."""

    def __init__(self, fields: list[set[int]], dom_any: bool, dow_any: bool) -> None:
        self.minute, self.hour, self.dom, self.month, self.dow = fields
        self.dom_any, self.dow_any = dom_any, dow_any

    @classmethod
    def parse(cls, expression: str) -> CronSet:
        text = expression.strip()
        parts = _MACROS.get(text, text).split()
        fields = [_parse_field(p, *_FIELDS[i]) for i, p in enumerate(parts)]
        if 7 in fields[4]:
            fields[4] = (fields[4] - {7}) | {0}
        return cls(fields, parts[2] in ("*", "?"), parts[4] in ("*", "?"))

    def matches(self, moment: datetime) -> bool:
        dow = (moment.weekday() + 1) % 7  # cron: 0 is Sunday
        if self.dom_any or self.dow_any:
            day = moment.day in self.dom and dow in self.dow
        else:
            day = moment.day in self.dom or dow in self.dow
        return (
            moment.minute in self.minute
            and moment.hour in self.hour
            and moment.month in self.month
            and day
        )

    def fired_within(self, local: datetime, duration: timedelta) -> bool:
        """Did an opening happen in (local - duration, local]? One probe per minute, bounded
        by MAX_WINDOW (10,080 probes)."""
        minute = local.replace(second=0, microsecond=0)
        steps = int(min(duration, MAX_WINDOW).total_seconds() // 60)
        return any(self.matches(minute - timedelta(minutes=i)) for i in range(steps))


def _parse_field(text: str, low: int, high: int, names: tuple[str, ...]) -> set[int]:
    values: set[int] = set()
    for item in text.split(","):
        span, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if span in ("*", "?"):
            first, last = low, high
        else:
            bounds = [_value(b, low, names) for b in span.split("-", 1)]
            first, last = bounds[0], bounds[-1]
            if step_text and len(bounds) == 1:
                last = high
        values.update(range(first, last + 1, step))
    return values


def _value(text: str, low: int, names: tuple[str, ...]) -> int:
    if text.isdigit():
        return int(text)
    if text.lower() in names:
        return names.index(text.lower()) + low
    raise ValueError(
        f"cron value {text!r} is not supported in maintenance windows (use numbers, ranges, "
        "steps and names; not L, W or #)"
    )
