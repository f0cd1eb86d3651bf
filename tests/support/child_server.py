"""A server in a child process of its own, so that it does not share the caller's GIL (the
benchmarks' servers): it prints `PORT <n>` once it listens, and stops when its stdin
closes."""

from __future__ import annotations

import select
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def child_server(
    argv: list[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    start_timeout_s: float = 20.0,
) -> Iterator[int]:
    """Run `argv`, yield the port it says it listens on; stopped (killed if it must be)
    afterwards. RuntimeError when it says nothing of the kind within `start_timeout_s`."""
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], start_timeout_s)
        line = proc.stdout.readline() if ready else ""
        if not line.startswith("PORT "):
            raise RuntimeError(f"server did not start within {start_timeout_s}s: {line!r}")
        yield int(line.split()[1])
    finally:
        stop_child(proc)


def stop_child(proc: subprocess.Popen[str]) -> None:
    """Stop a server that ends when its stdin closes; killed if it has not within 10 s."""
    if proc.stdin:
        proc.stdin.close()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
