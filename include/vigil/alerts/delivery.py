"""Delivering one digest to one channel: bounded retries with backoff, never an exception.

A channel that answers "your request is wrong" (most 4xx) will say the same on every try,
so it is not retried; a timeout, a refused connection or a 5xx may pass, so it is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from vigil.alerts.digest import Digest
from vigil.spec.alerts import Delivery

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryResult:
    ok: bool
    error: str = ""
    retryable: bool = True  # meaningful when not ok
    attempts: int = 1

    @classmethod
    def sent(cls) -> DeliveryResult:
        return cls(True)

    @classmethod
    def failed(cls, error: str, *, retryable: bool = True) -> DeliveryResult:
        return cls(False, error, retryable)


class Sender(Protocol):
    """One channel. `validate` returns what stops this config from being served (missing
    variable, unknown connection), empty when ready; `send` makes one attempt within
    `timeout_s` and reports, it never raises."""

    def validate(self, config: object) -> list[str]: ...

    def send(self, digest: Digest, *, timeout_s: float | None = None) -> DeliveryResult: ...


def http_outcome(status: int, body: str) -> DeliveryResult:
    """2xx sent; 408, 429 and 5xx retryable; any other status is a request the receiver
    will keep refusing."""
    if 200 <= status < 300:
        return DeliveryResult.sent()
    retryable = status in (408, 429) or status >= 500
    return DeliveryResult.failed(f"HTTP {status}: {body[:200].strip()}", retryable=retryable)


def deliver(
    sender: Sender,
    digest: Digest,
    policy: Delivery,
    *,
    mask: Callable[[str], str] = lambda s: s,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryResult:
    """Try up to policy.attempts times within policy.max_total_s; the last result wins.

    What goes out is masked: the digest's every text, and the error recorded."""
    digest = digest.masked(mask)
    deadline = time.monotonic() + policy.max_total_s
    result = DeliveryResult.failed("not attempted")
    attempt = 0
    for attempt in range(1, policy.attempts + 1):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        result = _attempt(sender, digest, left, mask)
        if result.ok or not result.retryable:
            break
        pause = policy.backoff_s * 2 ** (attempt - 1)
        if attempt < policy.attempts and time.monotonic() + pause < deadline:
            log.info(
                "channel %s: attempt %d failed (%s), retrying in %.2fs",
                digest.channel,
                attempt,
                result.error,
                pause,
            )
            sleep(pause)
        else:
            break
    return DeliveryResult(result.ok, mask(result.error), result.retryable, attempt)


def _attempt(
    sender: Sender, digest: Digest, left: float, mask: Callable[[str], str]
) -> DeliveryResult:
    try:
        return sender.send(digest, timeout_s=left)
    except Exception as exc:  # a sender bug must not fail the run: record it instead
        log.warning("channel %s: sender raised %s", digest.channel, mask(repr(exc)))
        return DeliveryResult.failed(f"sender raised {type(exc).__name__}: {exc}")
