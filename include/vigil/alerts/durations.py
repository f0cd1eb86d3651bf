"""Durations written the way people write them in YAML: "24h", "90m", "7d", "1h30m"."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator

_PART = re.compile(r"(?P<n>\d+(?:\.\d+)?)(?P<unit>[smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> timedelta:
    """ "24h" / "1h30m" / "7d" / a number of seconds / a timedelta -> timedelta (> 0)."""
    if isinstance(value, timedelta):
        delta = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        delta = timedelta(seconds=value)
    elif isinstance(value, str):
        delta = _parse_text(value)
    else:
        raise ValueError(f"expected a duration such as '24h', '90m' or '7d', got {value!r}")
    if delta <= timedelta(0):
        raise ValueError(f"a duration must be above zero, got {value!r}")
    return delta


def _parse_text(text: str) -> timedelta:
    compact = text.strip().lower().replace(" ", "")
    parts = list(_PART.finditer(compact))
    if not parts or "".join(p.group(0) for p in parts) != compact:
        raise ValueError(
            f"cannot read duration {text!r}; write a number and a unit (s, m, h, d, w), "
            "e.g. '24h', '90m', '1h30m' or '7d'"
        )
    seconds = sum(float(p["n"]) * _UNITS[p["unit"]] for p in parts)
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """timedelta -> the shortest "1d2h" style text, for messages."""
    seconds = int(delta.total_seconds())
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(out) or "0s"


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
