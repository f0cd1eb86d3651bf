"""Evidence for people: a result's expected, observed and details as tables, not JSON.

Family-neutral by shape, not by name: a list of records is a table (unexpected rows, a
scenario's steps), a flat mapping is a two-column table (a probe's figures, a response's
headers), a list of values is a list; anything deeper is shown as indented JSON. An
encoded latency histogram (a probe's) becomes a chart.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from vigil.reports import svg
from vigil.result import CheckResult

MAX_ROWS = 50
MAX_COLUMNS = 20
MAX_CELL = 300
HISTOGRAM_BUCKETS = 24
# Figures named like a probe's latencies (vigil.probes.measure.Measurement.figures) are
# milliseconds; error_rate is a share.
LATENCY_KEYS = frozenset({"p50", "p90", "p95", "p99", "p99.9", "min", "max", "mean", "limit"})


@dataclass(frozen=True)
class Block:
    """One piece of evidence: kind is table, pairs, list, json or chart."""

    title: str
    kind: str
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    items: tuple[str, ...] = ()
    text: str = ""
    chart: Markup | None = None
    note: str = ""


def blocks(result: CheckResult) -> list[Block]:
    """Expected against observed, then the details: scalars first, then one block per
    structured value, then the latency histogram when there is one."""
    out = _values(result.expected, result.observed)
    details = dict(result.details or {})
    histogram = details.pop("histogram", None)
    scalars = [(k, v) for k, v in details.items() if _scalar(v)]
    if scalars:
        out.append(Block("Details", "pairs", rows=tuple((k, cell(v, k)) for k, v in scalars)))
    for key, value in details.items():
        if not _scalar(value):
            out.append(block(humanize(key), value))
    chart = latency_histogram(histogram) if isinstance(histogram, str) else None
    if chart is not None:
        out.append(Block("Latency histogram", "chart", chart=chart))
    return out


def _values(expected: Any, observed: Any) -> list[Block]:
    if expected is None and observed is None:
        return []
    if _flat(expected) and _flat(observed) and set(expected) & set(observed):
        keys = list(dict.fromkeys([*observed, *expected]))
        rows = tuple((k, cell(expected.get(k), k), cell(observed.get(k), k)) for k in keys)
        return [Block("Expected and observed", "table", ("", "expected", "observed"), rows)]
    out = []
    if expected is not None:
        out.append(block("Expected", expected))
    if observed is not None:
        out.append(block("Observed", observed))
    return out


def block(title: str, value: Any) -> Block:
    if _records(value):
        return _table(title, value)
    if _flat(value):
        rows = tuple((str(k), cell(v, str(k))) for k, v in value.items())
        return Block(title, "pairs", rows=rows)
    if isinstance(value, list) and all(_scalar(v) for v in value):
        shown = tuple(cell(v) for v in value[:MAX_ROWS])
        note = f"first {MAX_ROWS} of {len(value)}" if len(value) > MAX_ROWS else ""
        return Block(title, "list", items=shown, note=note)
    if _scalar(value):
        return Block(title, "pairs", rows=((title, cell(value)),))
    return Block(title, "json", text=pretty(value))


def _table(title: str, records: Sequence[Mapping[str, Any]]) -> Block:
    columns = list(dict.fromkeys(str(k) for r in records[:MAX_ROWS] for k in r))
    notes = []
    if len(columns) > MAX_COLUMNS:
        notes.append(f"first {MAX_COLUMNS} of {len(columns)} columns")
        columns = columns[:MAX_COLUMNS]
    if len(records) > MAX_ROWS:
        notes.append(f"first {MAX_ROWS} of {len(records)} rows")
    rows = tuple(tuple(cell(r.get(c), c) for c in columns) for r in records[:MAX_ROWS])
    return Block(title, "table", tuple(columns), rows, note="; ".join(notes))


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _flat(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(_scalar(v) for v in value.values())


def _records(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) for v in value)
        and any(v for v in value)
    )


def cell(value: Any, key: str = "") -> str:
    """One value as text: numbers trimmed (latency figures in ms), structures as compact
    JSON, long text cut."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return number(float(value), key)
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def number(value: float, key: str = "") -> str:
    if not math.isfinite(value):
        return str(value)
    if key in LATENCY_KEYS:
        return svg.millis(value)
    if key == "error_rate":
        return f"{value * 100:.2f}%"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.3f}".rstrip("0").rstrip(".")


def humanize(key: str) -> str:
    text = key.replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else key


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def latency_histogram(encoded: str) -> Markup | None:
    """An HdrHistogram (microseconds, as vigil.probes.measure records them) as a bar chart
    of request counts over log-spaced latency buckets; None when it cannot be decoded."""
    try:
        from hdrh.histogram import HdrHistogram

        histogram = HdrHistogram.decode(encoded.encode("ascii"))
        total = int(histogram.get_total_count())
        if total <= 0:
            return None
        # The counts array read directly: HdrHistogram's own iterators walk it in Python
        # bucket by bucket, a hundred times slower.
        values = [
            (float(histogram.get_value_from_index(i)), int(count))
            for i, count in enumerate(histogram.counts)
            if count
        ]
    except Exception:  # evidence is shown as it is; a histogram we cannot read is left out
        return None
    return _histogram_chart(values, total)


def _histogram_chart(values: Sequence[tuple[float, int]], total: int) -> Markup | None:
    if not values:
        return None
    low, high = max(min(v for v, _ in values), 1.0), max(max(v for v, _ in values), 1.0)
    if high <= low:
        high = low * 1.01
    ratio = (high / low) ** (1 / HISTOGRAM_BUCKETS)
    edges = [low * ratio**i for i in range(HISTOGRAM_BUCKETS + 1)]
    counts = [0] * HISTOGRAM_BUCKETS
    for value, count in values:
        index = min(int(math.log(max(value, low) / low, ratio)), HISTOGRAM_BUCKETS - 1)
        counts[max(index, 0)] += count
    labels = [svg.millis(edges[i + 1] / 1000) for i in range(HISTOGRAM_BUCKETS)]
    return svg.bar_chart(
        labels,
        [svg.Series("requests", [float(c) for c in counts], svg.BLUE)],
        title=f"Latency of {total:,} timed requests (bucket upper bounds)",
    )
