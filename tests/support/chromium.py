"""Headless Chromium for tests that must see a page rendered: found, or installed with apt.

Never a skip: a test that needs a browser fails, saying why, when none can be had.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from vigil.stack.debian import PackageUnavailable, ensure_package

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT_TIMEOUT_S = 60
# Flags that work as root on these machines (STACK_NOTES.md): no sandbox, no GPU, and
# nothing that would reach the network on its own.
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip


class ChromiumUnavailable(RuntimeError):
    pass


def ensure_chromium() -> Path:
    """The chromium binary; installs Debian's package when it is missing."""
    try:
        return ensure_package(CHROMIUM, "chromium")
    except PackageUnavailable as exc:
        raise ChromiumUnavailable(str(exc)) from None


def screenshot(page: Path, png: Path, *, size: tuple[int, int] = (1280, 2000)) -> Path:
    """Render the local file `page` in headless Chromium and save a PNG of it."""
    binary = ensure_chromium()
    with tempfile.TemporaryDirectory(prefix="vigil-chromium-") as profile:
        argv = [
            str(binary), *FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}",
            f"--window-size={size[0]},{size[1]}", page.resolve().as_uri(),
        ]  # fmt: skip
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=SCREENSHOT_TIMEOUT_S, check=False
        )
    if done.returncode != 0 or not png.exists():
        raise ChromiumUnavailable(
            f"chromium could not render {page} (exit {done.returncode}): {done.stderr[-2000:]}"
        )
    return png
