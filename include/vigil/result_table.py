"""Results as a fixed-width text table for task logs, and a one-line summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from vigil.result import CheckResult, Status, one_line

HEADERS = ("CHECK", "TARGET", "STATUS", "DURATION", "MESSAGE")
# Widest a column may grow before its text is cut; the message column comes last so a
# long message never pushes the other columns out of line.
MAX_WIDTHS = (40, 24, 7, 9, 140)
# Problems in capitals so they stand out when scanning a log.
_SHOWN_STATUS = {
    Status.PASSED: "passed",
    Status.FAILED: "FAILED",
    Status.ERROR: "ERROR",
    Status.SKIPPED: "skipped",
}


# Problems first: with a hundred checks in a run, what failed must not scroll out of view.
STATUS_ORDER = {Status.FAILED: 0, Status.ERROR: 1, Status.SKIPPED: 2, Status.PASSED: 3}


def format_table(results: Sequence[CheckResult]) -> str:
    """One row per result under a header (failed, error, skipped, then passed; otherwise in
    the order given), then the summary line."""
    ordered = sorted(results, key=lambda r: STATUS_ORDER[r.status])
    rows = [HEADERS] + [_row(r) for r in ordered]
    widths = [min(cap, max(len(row[col]) for row in rows)) for col, cap in enumerate(MAX_WIDTHS)]
    lines = [_line(row, widths) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(summarize(results))
    return "\n".join(lines)


def summarize(results: Sequence[CheckResult]) -> str:
    """`7 checks: 5 passed, 1 failed, 1 error` (skipped shown only when there are some)."""
    counts = Counter(r.status for r in results)
    total = len(results)
    parts = [
        f"{counts[Status.PASSED]} passed",
        f"{counts[Status.FAILED]} failed",
        f"{counts[Status.ERROR]} error",
    ]
    if counts[Status.SKIPPED]:
        parts.append(f"{counts[Status.SKIPPED]} skipped")
    return f"{total} check{'' if total == 1 else 's'}: " + ", ".join(parts)


def format_duration(ms: float) -> str:
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return f"{ms / 60_000:.1f} min"


def _row(result: CheckResult) -> tuple[str, ...]:
    return (
        result.check_id,
        result.target,
        _SHOWN_STATUS.get(result.status, str(result.status)),
        format_duration(result.duration_ms),
        one_line(result.message) or "-",
    )


def _line(row: Sequence[str], widths: Sequence[int]) -> str:
    cells = []
    for col, (text, width) in enumerate(zip(row, widths, strict=True)):
        text = _cut(text, width)
        # Durations read best right-aligned; the last column carries no padding.
        if col == 3:
            cells.append(text.rjust(width))
        elif col == len(widths) - 1:
            cells.append(text)
        else:
            cells.append(text.ljust(width))
    return "  ".join(cells)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
