"""A run report rendered by a real browser: headless Chromium turns it into a PNG that
holds a page, not a blank. A blank page rendered the same way is the control."""

from __future__ import annotations

import struct
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.chromium import ChromiumUnavailable, screenshot
from vigil.reports import write_run_report
from vigil.result import CheckResult, Severity, Status
from vigil.results import ResultStore, RunRef

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 31, 6, 0, tzinfo=UTC)
RUN = RunRef("shop", "daily", "shop_daily", "scheduled__2025-03-31T06:00:00+00:00")
SIZE = (1280, 2000)


def results() -> list[CheckResult]:
    def one(check_id: str, target: str, status: Status, **extra: object) -> CheckResult:
        return CheckResult.model_validate(
            {"check_id": check_id, "family": "health", "target": target, "status": status,
             "started_at": T0, "duration_ms": 40.0, **extra}
        )  # fmt: skip

    down = "GET /health answered 503 <script>x</script>"
    return [
        one("api-health", "api", Status.FAILED, message=down,
            details={"response": {"status": 503, "body_excerpt": '{"status": "down"}'}}),
        one("api-orders", "api", Status.PASSED, message="GET /v1/orders answered 200"),
        one("db-up", "db", Status.ERROR, message="connection refused", duration_ms=3000.0),
        one("queue-port", "queue", Status.SKIPPED, severity=Severity.WARNING,
            message="skipped: db is unhealthy", details={"skipped_because": "db is unhealthy"}),
        *(one(f"page-{i}", "web", Status.PASSED, message=f"page {i} ok") for i in range(12)),
    ]  # fmt: skip


def png_rows(png: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and the (filtered) scanlines of an 8-bit RGB(A) PNG, validating its
    structure on the way: signature, IHDR, every chunk's CRC, the pixel data's length."""
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{png} is not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in chunk {kind!r}"
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert header is not None and kind == b"IEND"
    width, height, depth, color = header[:4]
    assert depth == 8 and color in (2, 6), f"unexpected PNG format: depth {depth}, color {color}"
    stride = 1 + width * (3 if color == 2 else 4)
    raw = zlib.decompress(idat)
    assert len(raw) == stride * height
    return width, height, [raw[i : i + stride] for i in range(0, len(raw), stride)]


def test_run_report_renders_in_headless_chromium(fresh_db: str, tmp_path: Path) -> None:
    store = ResultStore(fresh_db)
    store.start_run(RUN, started_at=T0)
    store.record(RUN, results())
    store.finish_run(RUN, ended_at=T0 + timedelta(seconds=12))
    report = write_run_report(
        store, RUN, out_dir=tmp_path / "reports", airflow_base_url="http://127.0.0.1:8080",
        alerts=[{"rule": "critical", "scope": "shop", "transition": "fired", "message": "2 down"}],
    )  # fmt: skip
    blank = tmp_path / "blank.html"
    blank.write_text("<!doctype html><html><body></body></html>", encoding="utf-8")

    try:
        shot = screenshot(report, tmp_path / "report.png", size=SIZE)
        control = screenshot(blank, tmp_path / "blank.png", size=SIZE)
    except ChromiumUnavailable as exc:
        pytest.fail(f"headless Chromium is needed to render the report: {exc}")

    width, height, rows = png_rows(shot)
    assert (width, height) == SIZE
    assert shot.stat().st_size > 10_000
    assert shot.stat().st_size > 3 * control.stat().st_size  # the blank one is ~12 KB
    # A rendered page has text, tables and colour bands: many different scanlines. The
    # blank control, rendered the same way, has next to none.
    assert len(set(rows)) > 300, f"only {len(set(rows))} distinct rows: blank render?"
    assert len(set(png_rows(control)[2])) <= 5
    (tmp_path / "kept").mkdir()
    shot.rename(tmp_path / "kept" / "report.png")  # left for a look at it: pytest's tmp_path
