"""A real Prometheus server on 127.0.0.1 for tests: found, or installed with apt.

`LocalPrometheus` writes a config that scrapes the given `/metrics` endpoints every
second, starts Debian's `prometheus` binary on a free loopback port with its storage in a
temporary folder, and waits (bounded) for it to be ready and for every job's first
scrape. Never a skip: a test that needs Prometheus fails, saying why, when none can be
had.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from vigil.stack.debian import PackageUnavailable, ensure_package
from vigil.stack.postgres import free_port

PROMETHEUS = Path("/usr/bin/prometheus")
READY_TIMEOUT_S = 60.0
FIRST_SCRAPE_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


class PrometheusUnavailable(RuntimeError):
    pass


def ensure_prometheus() -> Path:
    """The prometheus binary; installs Debian's package when it is missing."""
    try:
        return ensure_package(PROMETHEUS, "prometheus")
    except PackageUnavailable as exc:
        raise PrometheusUnavailable(str(exc)) from None


def config_yaml(jobs: dict[str, str]) -> str:
    """A config scraping each job's `host:port` (its /metrics) every second."""
    config: dict[str, Any] = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [address]}]}
            for job, address in jobs.items()
        ],
    }
    return json.dumps(config, indent=2)  # JSON is YAML


class LocalPrometheus:
    """`with LocalPrometheus({"orders": "127.0.0.1:8123"}) as prom: prom.base_url`."""

    def __init__(self, jobs: dict[str, str]) -> None:
        self.jobs = dict(jobs)
        self.port = free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="vigil-prometheus-")
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return Path(self._dir.name) / "prometheus.log"

    def start(self) -> LocalPrometheus:
        binary = ensure_prometheus()
        folder = Path(self._dir.name)
        (folder / "prometheus.yml").write_text(config_yaml(self.jobs))
        argv = [
            str(binary),
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=1h",
            "--log.level=warn",
        ]
        with self.log.open("wb") as log:
            self._proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            self._wait_ready()
            for job in self.jobs:
                self.wait_for_scrape(job)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise PrometheusUnavailable(
                    f"prometheus exited with {self._proc.returncode}: {self._log_tail()}"
                )
            try:
                with urllib.request.urlopen(self.base_url + "/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise PrometheusUnavailable(
            f"prometheus not ready within {READY_TIMEOUT_S:g}s: {self._log_tail()}"
        )

    def wait_for_scrape(self, job: str, timeout_s: float = FIRST_SCRAPE_TIMEOUT_S) -> None:
        """Until `up{job=...}` is 1 (the job's first successful scrape), bounded."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            result = self.query(f'up{{job="{job}"}}')
            if result and all(float(r["value"][1]) == 1 for r in result):
                return
            time.sleep(0.2)
        raise PrometheusUnavailable(
            f"job {job!r} not scraped successfully within {timeout_s:g}s: {self._log_tail()}"
        )

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query's vector result (empty on any problem: callers poll)."""
        url = f"{self.base_url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                doc = json.loads(resp.read())
        except (urllib.error.URLError, OSError, ValueError):
            return []
        result = doc.get("data", {}).get("result", [])
        return result if isinstance(result, list) else []

    def _log_tail(self) -> str:
        try:
            return " | ".join(self.log.read_text(errors="replace").strip().splitlines()[-5:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT_S)
        self._dir.cleanup()

    def __enter__(self) -> LocalPrometheus:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
