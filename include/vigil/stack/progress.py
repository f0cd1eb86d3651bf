"""Stage-by-stage progress: "[1/7] PostgreSQL … ok (0.7 s)", or which stage failed and why."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from vigil.stack.state import StackError


@dataclass
class Stage:
    """What a stage may say about itself on its "ok" line."""

    detail: str = ""


class StageFailed(StackError):
    def __init__(self, stage: str, message: str, log: Path | None) -> None:
        super().__init__(message, log)
        self.stage = stage


class Progress:
    def __init__(self, total: int, out: TextIO | None = None) -> None:
        self.total = total
        self.index = 0
        self.out = out or sys.stdout

    @contextmanager
    def stage(self, title: str, log: Path | None = None) -> Iterator[Stage]:
        """Run one stage; any exception becomes a StageFailed naming it and its log."""
        self.index += 1
        self.out.write(f"[{self.index}/{self.total}] {title} … ")
        self.out.flush()
        started = time.monotonic()
        stage = Stage()
        try:
            yield stage
        except Exception as exc:
            self._line(f"FAILED ({time.monotonic() - started:.1f} s)")
            error_log = exc.log if isinstance(exc, StackError) and exc.log else log
            raise StageFailed(title, str(exc) or type(exc).__name__, error_log) from exc
        detail = f", {stage.detail}" if stage.detail else ""
        self._line(f"ok{detail} ({time.monotonic() - started:.1f} s)")

    def _line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()


def describe_failure(error: StackError) -> str:
    """The message printed when the stack gives up: what failed, and where to read more."""
    stage = f" in stage '{error.stage}'" if isinstance(error, StageFailed) else ""
    lines = [f"vigil stack: failed{stage}: {error}"]
    if error.log is not None:
        lines.append(f"  read the log: {error.log}")
    lines.append("  stop everything with `make stop`; start from scratch with `make clean`")
    return "\n".join(lines)
