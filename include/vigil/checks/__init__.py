"""The `health` family: is each target up and answering as it should?

One module per check kind (`http`, `postgres`, `tcp`, `container`, `redis`, `mongodb`,
`websocket`, `metrics`, `promql`), each exposing `run(check, ctx) -> list[CheckResult]`,
found through `RUNNERS`. `run_checks` runs a target's checks concurrently through the
family-neutral batch runner (`vigil.batch`), which bounds each check by its `timeout_s`
plus a grace period.

Importing this package is cheap (the spec models and the family record only): the
runners, and the clients they use, load on the first run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from vigil.batch import DEFAULT_WORKERS, GRACE_S, Runner, run_batch
from vigil.checks.models import (
    ContainerCheck,
    HttpCheck,
    MetricsCheck,
    MongoCheck,
    PostgresCheck,
    PromqlCheck,
    RedisCheck,
    TcpCheck,
    WebsocketCheck,
)
from vigil.family import Family, Gate
from vigil.result import CheckResult

if TYPE_CHECKING:
    from vigil.context import RunContext

FAMILY = "health"

HEALTH = Family(
    name=FAMILY,
    description="is each target up and answering as it should",
    models=(
        HttpCheck,
        PostgresCheck,
        TcpCheck,
        ContainerCheck,
        RedisCheck,
        MongoCheck,
        WebsocketCheck,
        MetricsCheck,
        PromqlCheck,
    ),
    runner="vigil.checks:run_checks",
    # A health check probes its target directly: an `http` check needs an `http` target.
    target_kinds=None,
    gate=Gate.DEPENDENCIES,
)

__all__ = ["DEFAULT_WORKERS", "FAMILY", "GRACE_S", "HEALTH", "run_checks", "runners"]


def runners() -> dict[str, Runner]:
    """One runner per health check kind (imported here: they pull in requests, docker,
    redis, pymongo, websockets, prometheus_client)."""
    from vigil.checks import (
        container,
        http,
        metrics,
        mongodb,
        postgres,
        promql,
        redis,
        tcp,
        websocket,
    )

    return {
        "http": http.run,
        "postgres": postgres.run,
        "tcp": tcp.run,
        "container": container.run,
        "redis": redis.run,
        "mongodb": mongodb.run,
        "websocket": websocket.run,
        "metrics": metrics.run,
        "promql": promql.run,
    }


def run_checks(
    checks: Sequence[Any],
    ctx: RunContext,
    *,
    max_workers: int = DEFAULT_WORKERS,
    grace_s: float = GRACE_S,
    runners_by_kind: Mapping[str, Runner] | None = None,
) -> list[CheckResult]:
    """Run one target's health checks concurrently; their results, in the order given.

    `runners_by_kind` replaces the registry (tests use it to run checks that misbehave on
    purpose)."""
    registry = runners() if runners_by_kind is None else runners_by_kind
    return run_batch(checks, ctx, registry, FAMILY, max_workers=max_workers, grace_s=grace_s)
