"""Debian packages the stack and the tests need (redis-server for the CeleryExecutor's broker;
chromium, prometheus, wrk for tests): found, or installed with apt-get as root. A missing
part is never skipped over: whoever needs it fails, saying why and how to install it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

INSTALL_TIMEOUT_S = 300


class PackageUnavailable(RuntimeError):
    """The binary is missing and its Debian package cannot be installed here."""


def _apt(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Another process may hold the dpkg lock (a parallel install): wait for it, bounded.
    argv = ["apt-get", "-o", "DPkg::Lock::Timeout=120", *args]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, env=env, check=False
    )


def ensure_package(binary: Path, package: str) -> Path:
    """`binary`, installing Debian's `package` when it is missing."""
    if binary.exists():
        return binary
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise PackageUnavailable(
            f"{binary} is missing and cannot be installed here (needs apt-get as root): "
            f"run `apt-get install -y {package}` once"
        )
    done = _apt("install", "-y", "--no-install-recommends", package)
    if done.returncode != 0:  # stale package lists: refresh once and try again
        _apt("update")
        done = _apt("install", "-y", "--no-install-recommends", package)
    if done.returncode != 0 or not binary.exists():
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise PackageUnavailable(
            f"`apt-get install -y {package}` failed (exit {done.returncode}): " + " | ".join(tail)
        )
    return binary
