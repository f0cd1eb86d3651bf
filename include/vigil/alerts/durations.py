"""Durations written the way people write them in YAML: "24h", "90m", "7d", "1h30m"."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator

_PART = re.compile(r"(?P<n>\d+(?:\.\d+)?)(?P<unit>[smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_DURATION = timedelta(days=3650)  # ten years: longer is a typo (and overflows timedelta)
RANGE = "above zero and at most 10 years (3650d)"


def parse_duration(value: Any) -> timedelta:
    """ "24h" / "1h30m" / "7d" / a number of seconds / a timedelta -> timedelta (> 0)."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, float):
        seconds = value
    elif isinstance(value, int) and not isinstance(value, bool):
        seconds = float(value) if abs(value) < 2**63 else math.inf  # float() would overflow
    elif isinstance(value, str):
        seconds = _parse_text(value)
    else:
        raise ValueError(f"expected a duration such as '24h', '90m' or '7d', got {value!r}")
    if not math.isfinite(seconds) or seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"duration {_shown(value)} is out of range; a duration is {RANGE}")
    if seconds <= 0:
        raise ValueError(f"a duration must be above zero, got {_shown(value)}")
    return value if isinstance(value, timedelta) else timedelta(seconds=seconds)


def _shown(value: Any) -> str:
    if isinstance(value, int) and value.bit_length() > 64:
        return "(a number of more than 19 digits)"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _parse_text(text: str) -> float:
    compact = text.strip().lower().replace(" ", "")
    parts = list(_PART.finditer(compact))
    if not parts or "".join(p.group(0) for p in parts) != compact:
        raise ValueError(
            f"cannot read duration {_shown(text)}; write a number and a unit (s, m, h, d, w), "
            "e.g. '24h', '90m', '1h30m' or '7d'"
        )
    return sum(float(p["n"]) * _UNITS[p["unit"]] for p in parts)


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
