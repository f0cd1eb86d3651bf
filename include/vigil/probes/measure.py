"""What a probe measured: latencies in an HdrHistogram, outcomes counted by class.

Every probe (HTTP load, query latency, connection opening) fills one `Measurement`, so
thresholds, baselines, the stored time series and the reports read the same figures
whatever was measured. Latencies are recorded in microseconds with three significant
digits (1 µs to one hour): percentiles are exact to 0.1 %, and the encoded histogram
(kept as evidence) can be decoded and merged with another run's later.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000
SIGNIFICANT_DIGITS = 3

# Error classes: the response's status was not an expected one; no answer in time; the
# connection could not be opened or broke. A database probe uses "query" for a failed
# statement and "connection" for a refused session.
ERROR_CLASSES = ("status", "timeout", "connection", "query")

# The percentiles every probe reports, as threshold metric names.
PERCENTILES: dict[str, float] = {
    "p50": 50.0,
    "p90": 90.0,
    "p95": 95.0,
    "p99": 99.0,
    "p99.9": 99.9,
}


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


@dataclass
class Measurement:
    """Latencies and outcomes of the measured window (warm-up excluded)."""

    histogram: HdrHistogram = field(default_factory=new_histogram)
    # Wall time of the measured window, in seconds: the divisor of `rps`.
    elapsed_s: float = 0.0
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    # Why the probe stopped before its duration, when an abort threshold or a cap did.
    stopped_because: str | None = None
    # Requests sent during warm-up: not in any figure, but sent (caps count them).
    warmup_requests: int = 0
    # A few first error messages, for people ("connection refused", "status 503").
    samples: list[str] = field(default_factory=list)

    def record(
        self,
        latency_us: float,
        error: str | None = None,
        status: int | None = None,
        message: str | None = None,
    ) -> None:
        """One request's outcome. Latencies are those of successful requests (k6's
        `expected_response:true`: a fast 500 must not make a service look fast) and of
        timeouts, at the time waited (an open-loop stall must show in the percentiles);
        other errors are counted, not timed."""
        if status is not None:
            self.statuses[status] += 1
        if error is None:
            self.ok += 1
        else:
            self.errors[error] += 1
            if message and len(self.samples) < 5 and message not in self.samples:
                self.samples.append(message)
        if error is None or error == "timeout":
            self.histogram.record_value(min(max(int(latency_us), LOWEST_US), HIGHEST_US))

    @property
    def requests(self) -> int:
        return self.ok + sum(self.errors.values())

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def error_rate(self) -> float:
        return self.error_count / self.requests if self.requests else 0.0

    @property
    def rps(self) -> float:
        """Successful requests per second of the measured window: throughput served, so
        a target refusing connections quickly never looks fast."""
        return self.ok / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def percentile_ms(self, percentile: float) -> float:
        return float(self.histogram.get_value_at_percentile(percentile)) / 1000.0

    def figures(self) -> dict[str, float]:
        """The numbers thresholds name (latencies in ms, error_rate as a share 0..1)."""
        out: dict[str, float] = {}
        if self.histogram.get_total_count():
            for name, pct in PERCENTILES.items():
                out[name] = self.percentile_ms(pct)
            out["min"] = float(self.histogram.get_min_value()) / 1000.0
            out["max"] = float(self.histogram.get_max_value()) / 1000.0
            out["mean"] = float(self.histogram.get_mean_value()) / 1000.0
        out["rps"] = self.rps
        out["error_rate"] = self.error_rate
        out["requests"] = float(self.requests)
        out["errors"] = float(self.error_count)
        # Every class, zeros included: `errors_timeout == 0` must be judged on a clean run.
        for cls in ERROR_CLASSES:
            out[f"errors_{cls}"] = float(self.errors.get(cls, 0))
        out["duration_s"] = self.elapsed_s
        return out

    def encoded(self) -> str:
        """The histogram, HdrHistogram's compressed base64 form (decode with
        `HdrHistogram.decode`)."""
        return str(self.histogram.encode().decode("ascii"))

    def evidence(self) -> dict[str, Any]:
        """Counts for people: statuses seen, errors by class, first error messages."""
        out: dict[str, Any] = {
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "errors_by_class": dict(self.errors),
            "warmup_requests": self.warmup_requests,
        }
        if self.samples:
            out["error_samples"] = list(self.samples)
        if self.stopped_because:
            out["stopped_because"] = self.stopped_because
        return out
