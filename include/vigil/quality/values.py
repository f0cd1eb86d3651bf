"""Values as a person reads them, for one-line messages: numbers bare, text quoted, NULL
for None, rows of several columns named, long sets cut.

    849.00   'EUR'   NULL   (total=849.00, items_total=9999.00)   {'new', 'paid', … 3 more}

Pure formatting over plain values (no GX import).
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Sequence
from typing import Any

from vigil.quality.redact import Redacted

SAMPLES_IN_MESSAGE = 5
SET_ITEMS_SHOWN = 8


def value(v: Any, names: Sequence[str] = ()) -> str:
    """A sample value as a person reads it: numbers bare, text quoted, NULL for None; a
    row of several columns in parentheses, each named when `names` are known:
    `(total=849.00, items_total=9999.00)`."""
    if v is None:
        return "NULL"
    if isinstance(v, Redacted):  # a sensitive column's value: «redacted 1a2b3c4d»
        return str(v)
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int | float | decimal.Decimal):
        return str(v)
    if isinstance(v, dt.datetime | dt.date | dt.time):
        return v.isoformat()
    if isinstance(v, dict):
        return "(" + ", ".join(f"{k}={value(x)}" for k, x in v.items()) + ")"
    if isinstance(v, list | tuple):
        if len(names) == len(v):
            return "(" + ", ".join(f"{n}={value(x)}" for n, x in zip(names, v, strict=True)) + ")"
        return "(" + ", ".join(value(x) for x in v) + ")"
    return repr(str(v))


def columns(kwargs: dict[str, Any]) -> list[str]:
    """The columns a multi-column expectation names, in the order GX reports values."""
    if isinstance(kwargs.get("column_A"), str) and isinstance(kwargs.get("column_B"), str):
        return [kwargs["column_A"], kwargs["column_B"]]
    listed = kwargs.get("column_list")
    return [str(c) for c in listed] if isinstance(listed, list) else []


def count(n: Any) -> str:
    return f"{n:,}" if isinstance(n, int) else str(n)


def percent(part: float, whole: float) -> str:
    """Two significant digits under 1%, one decimal above: 0.075%, 12.5%."""
    if not whole:
        return "n/a"
    pct = 100.0 * part / whole
    if pct == 0 or pct >= 1:
        return f"{pct:.1f}%".replace(".0%", "%")
    return f"{pct:.2g}%"


def bounds(kwargs: dict[str, Any], low: str = "min_value", high: str = "max_value") -> str:
    lo, hi = kwargs.get(low), kwargs.get(high)
    if lo is None and hi is not None:
        return f"{'<' if kwargs.get('strict_max') else '<='} {value(hi)}"
    if hi is None:
        return f"{'>' if kwargs.get('strict_min') else '>='} {value(lo)}"
    left = "(" if kwargs.get("strict_min") else "["
    right = ")" if kwargs.get("strict_max") else "]"
    return f"{left}{value(lo)}, {value(hi)}{right}"


def a_set(values: Any) -> str:
    items = list(values) if isinstance(values, list | tuple | set) else [values]
    shown = ", ".join(value(v) for v in items[:SET_ITEMS_SHOWN])
    more = f", … {len(items) - SET_ITEMS_SHOWN} more" if len(items) > SET_ITEMS_SHOWN else ""
    return "{" + shown + more + "}"


def samples(
    values: Sequence[Any], limit: int = SAMPLES_IN_MESSAGE, names: Sequence[str] = ()
) -> str:
    """Distinct sample values in the order found ("" when they are all NULL: no news);
    `names`: the columns of a multi-column sample."""
    distinct: list[Any] = []
    for v in values:
        if v is not None and v not in distinct:
            distinct.append(v)
    return ", ".join(value(v, names) for v in distinct[:limit])


def row(r: dict[str, Any], limit: int = 4) -> str:
    items = list(r.items())
    text = ", ".join(f"{k}={value(v)}" for k, v in items[:limit])
    return "(" + text + (", …" if len(items) > limit else "") + ")"


def listed(values: Any) -> str:
    items = list(values) if isinstance(values, list | tuple) else []
    shown = ", ".join(value(v) for v in items[:SET_ITEMS_SHOWN])
    more = f", … {len(items) - SET_ITEMS_SHOWN} more" if len(items) > SET_ITEMS_SHOWN else ""
    return f": {shown}{more}" if items else ""
