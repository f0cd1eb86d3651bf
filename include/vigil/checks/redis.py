"""Redis health check: PING within the timeout, then what INFO says: the role, clients
against a maximum, memory against `maxmemory`, rejected connections, a replica's link to
its master and how long ago it last heard from it (a master: its replicas' lag), and keys
that must exist.

It reads only (PING, INFO, EXISTS), over one connection with no retries: the check's
`timeout_s` bounds the connect and every answer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.maint_notifications import MaintNotificationsConfig
from redis.retry import Retry

from vigil.checks._common import Timer, build, error, fmt_ms, guarded, target_of
from vigil.checks._urls import remember_url_credentials
from vigil.checks.models import RedisCheck
from vigil.config_errors import ConfigError, configuration_details
from vigil.context import ConnectionInfo, RunContext
from vigil.result import CheckResult, Status
from vigil.spec.models import RedisTarget

CHECK_TYPE = "redis"
CLIENT_NAME = "vigil-health-check"
DEFAULT_PORT = 6379
_TRUE = ("true", "1", "yes", "on")


@dataclass
class Facts:
    latency_ms: float = 0.0  # connect, and PING's round trip
    info: dict[str, Any] = field(default_factory=dict)
    missing_keys: list[str] = field(default_factory=list)

    @property
    def role(self) -> str:
        role = str(self.info.get("role", "?"))
        return "replica" if role == "slave" else role

    def number(self, name: str) -> int:
        value = self.info.get(name, 0)
        return int(value) if isinstance(value, int | float) else 0

    def replicas(self) -> list[dict[str, Any]]:
        """A master's replicas as INFO lists them (`slave0:ip=...,state=online,lag=0`)."""
        return [
            value
            for key, value in self.info.items()
            if key.startswith("slave") and key[5:].isdigit() and isinstance(value, dict)
        ]


@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)  # what does not hold
    misconfigured: list[str] = field(default_factory=list)  # what the check asks in vain


def run(check: RedisCheck, ctx: RunContext) -> list[CheckResult]:
    return guarded(check, ctx, CHECK_TYPE, _probe)


def _probe(check: RedisCheck, ctx: RunContext, timer: Timer) -> CheckResult:
    target = target_of(check, ctx, RedisTarget)
    client = client_for(check, target, ctx)
    where = describe(client)
    label = f"Redis {target.conn_id} ({where})" if target.conn_id else f"Redis {where}"
    details: dict[str, Any] = {"server": where}
    if target.conn_id:
        details["conn_id"] = target.conn_id
    try:
        facts = inspect(client, check)
    except redis.RedisError as exc:
        return error(check, ctx, CHECK_TYPE, timer, f"{label}: {_reason(exc, check)}", details)
    finally:
        client.close()
    verdict = judge(check, facts)
    if verdict.misconfigured:
        details = configuration_details(details)
        status, text = Status.ERROR, "; ".join(verdict.problems + verdict.misconfigured)
    elif verdict.problems:
        status, text = Status.FAILED, "; ".join(verdict.problems)
    else:
        status, text = Status.PASSED, _summary(facts)
    return build(
        check,
        ctx,
        CHECK_TYPE,
        timer,
        status,
        f"{label}: {text}" if status is not Status.PASSED else f"{label} {text}",
        observed=_observed(facts),
        expected=_expected(check),
        details=details,
    )


def client_for(check: RedisCheck, target: RedisTarget, ctx: RunContext) -> redis.Redis:
    """A client (it connects on its first command, reusing one connection), no retries,
    every wait bounded by the check's timeout."""
    options: dict[str, Any] = {
        "socket_timeout": check.timeout_s,
        "socket_connect_timeout": check.timeout_s,
        "retry": Retry(NoBackoff(), 0),
        "client_name": CLIENT_NAME,
        "decode_responses": True,
        # RESP2: every server speaks it (HELLO, for RESP3, is Redis 6+ and hides NOAUTH).
        "protocol": 2,
        "maint_notifications_config": MaintNotificationsConfig(enabled=False),
    }
    if target.url is not None:
        url = ctx.resolve(target.url)
        remember_url_credentials(url, ctx.masker)  # however the URL was written
        # Name the spec's value, not what it resolved to: that may carry a password.
        if not url.startswith(("redis://", "rediss://")):
            raise ConfigError(
                f"url of target {check.target!r} ({target.url!r}) did not resolve to a "
                "redis:// or rediss:// URL"
            )
        try:
            return redis.Redis.from_url(url, **options)
        except ValueError as exc:  # a bad port or database number
            raise ConfigError(f"url of target {check.target!r} ({target.url!r}): {exc}") from None
    assert target.conn_id is not None  # the model holds exactly one of url and conn_id
    info = ctx.connection(target.conn_id)  # remembers its password in ctx.masker
    return redis.Redis(**connection_kwargs(info), **options)


def connection_kwargs(info: ConnectionInfo) -> dict[str, Any]:
    """Host, port, credentials, database number and TLS from an Airflow connection."""
    if not info.host:
        raise ConfigError(f"connection {info.conn_id!r} names no host")
    db_text = str(info.extra.get("db", info.schema or "0")).strip() or "0"
    if not db_text.isdigit():
        raise ConfigError(
            f"connection {info.conn_id!r}: the database {db_text!r} is not a number",
            fix="set the connection's schema (or its extra 'db') to 0, 1, ...",
        )
    ssl = info.conn_type == "rediss" or str(info.extra.get("ssl", "")).lower() in _TRUE
    return {
        "host": info.host,
        "port": info.port or DEFAULT_PORT,
        "username": info.login or None,
        "password": info.password or None,
        "db": int(db_text),
        "ssl": ssl,
    }


def describe(client: redis.Redis) -> str:
    """`host:port/db` of the client's server (no credentials)."""
    kwargs = client.connection_pool.connection_kwargs
    host = str(kwargs.get("host", "?"))
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{kwargs.get('port', DEFAULT_PORT)}/{kwargs.get('db', 0)}"


def inspect(client: redis.Redis, check: RedisCheck) -> Facts:
    start = time.perf_counter()
    client.ping()
    facts = Facts(latency_ms=round((time.perf_counter() - start) * 1000, 3))
    facts.info = dict(client.info())
    if check.expect_keys:
        pipe = client.pipeline(transaction=False)
        for key in check.expect_keys:
            pipe.exists(key)
        counts = pipe.execute()
        facts.missing_keys = [k for k, n in zip(check.expect_keys, counts, strict=True) if not n]
    return facts


def _reason(exc: redis.RedisError, check: RedisCheck) -> str:
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, redis.TimeoutError):
        return f"no answer within {check.timeout_s:g}s (timed out: {text})"
    if isinstance(exc, redis.AuthenticationError | redis.exceptions.AuthorizationError):
        return f"authentication failed: {text}"
    if isinstance(exc, redis.exceptions.BusyLoadingError):
        return f"the server is loading its dataset: {text}"
    if isinstance(exc, redis.exceptions.InvalidResponse):
        return f"the answer is not the Redis protocol (not a Redis server?): {text}"
    if isinstance(exc, redis.ConnectionError):
        return f"cannot connect: {text}"
    return f"{type(exc).__name__}: {text}"


def judge(check: RedisCheck, facts: Facts) -> Verdict:
    verdict = Verdict()
    if check.expect_role and facts.role != check.expect_role:
        verdict.problems.append(f"role is {facts.role}, expected {check.expect_role}")
    _judge_replication(check, facts, verdict)
    _judge_clients(check, facts, verdict)
    _judge_memory(check, facts, verdict)
    rejected = facts.number("rejected_connections")
    limit = check.max_rejected_connections
    if limit is not None and rejected > limit:
        verdict.problems.append(
            f"{rejected} connections rejected since the server started, over the limit of {limit}"
        )
    if facts.missing_keys:
        verdict.problems.append("missing keys: " + ", ".join(facts.missing_keys))
    budget = check.latency_budget_ms
    if budget is not None and facts.latency_ms > budget:
        verdict.problems.append(
            f"answered in {fmt_ms(facts.latency_ms)}, over the {fmt_ms(budget)} latency budget"
        )
    return verdict


def _judge_replication(check: RedisCheck, facts: Facts, verdict: Verdict) -> None:
    """A replica: its link is up and fresh. A master: each replica online and fresh."""
    limit = check.max_replication_lag_s
    if facts.role == "replica":
        master = f"{facts.info.get('master_host', '?')}:{facts.info.get('master_port', '?')}"
        status = str(facts.info.get("master_link_status", "?"))
        if status != "up":
            since = facts.info.get("master_link_down_since_seconds")
            how_long = f" for {since}s" if isinstance(since, int) and since >= 0 else ""
            syncing = " (a sync is in progress)" if facts.number("master_sync_in_progress") else ""
            verdict.problems.append(
                f"replication link to master {master} is {status}{how_long}{syncing}"
            )
        elif limit is not None and facts.number("master_last_io_seconds_ago") > limit:
            verdict.problems.append(
                f"last heard from master {master} {facts.number('master_last_io_seconds_ago')}s "
                f"ago, over the {limit:g}s replication lag limit"
            )
    elif limit is not None:
        for replica in facts.replicas():
            name = f"{replica.get('ip', '?')}:{replica.get('port', '?')}"
            lag = replica.get("lag")
            if replica.get("state") != "online":
                verdict.problems.append(f"replica {name} is {replica.get('state', '?')}")
            elif isinstance(lag, int | float) and lag > limit:
                verdict.problems.append(
                    f"replica {name} last acknowledged {lag}s ago, over the {limit:g}s "
                    "replication lag limit"
                )


def _judge_clients(check: RedisCheck, facts: Facts, verdict: Verdict) -> None:
    clients = facts.number("connected_clients")
    if check.max_clients is not None and clients > check.max_clients:
        verdict.problems.append(
            f"{clients} clients connected, over the limit of {check.max_clients}"
        )
    limit = check.max_client_usage
    if limit is None:
        return
    maxclients = facts.number("maxclients")
    if not maxclients:
        verdict.misconfigured.append(
            "the server does not report maxclients (Redis before 7.0): max_client_usage "
            "cannot be judged; use max_clients instead"
        )
    elif clients / maxclients > limit:
        verdict.problems.append(
            f"{clients} of {maxclients} clients connected ({clients / maxclients:.0%}), "
            f"over the {limit:.0%} limit"
        )


def _judge_memory(check: RedisCheck, facts: Facts, verdict: Verdict) -> None:
    limit = check.max_memory_usage
    if limit is None:
        return
    used, maximum = facts.number("used_memory"), facts.number("maxmemory")
    if not maximum:
        verdict.misconfigured.append(
            "the server sets no maxmemory, so max_memory_usage has nothing to compare with; "
            "set maxmemory on the server or drop max_memory_usage"
        )
    elif used / maximum > limit:
        verdict.problems.append(
            f"{_bytes(used)} of {_bytes(maximum)} maxmemory used ({used / maximum:.0%}), "
            f"over the {limit:.0%} limit"
        )


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"  # unreachable: the loop returns at GB


def _summary(facts: Facts) -> str:
    clients = facts.number("connected_clients")
    memory = _bytes(facts.number("used_memory"))
    version = facts.info.get("redis_version", "?")
    return (
        f"answered PING in {fmt_ms(facts.latency_ms)} (Redis {version}, {facts.role}, "
        f"{clients} clients, {memory} used)"
    )


def _observed(facts: Facts) -> dict[str, Any]:
    observed: dict[str, Any] = {
        "latency_ms": facts.latency_ms,
        "version": facts.info.get("redis_version"),
        "role": facts.role,
        "connected_clients": facts.number("connected_clients"),
        "maxclients": facts.info.get("maxclients"),
        "used_memory": facts.number("used_memory"),
        "maxmemory": facts.number("maxmemory"),
        "rejected_connections": facts.number("rejected_connections"),
        "missing_keys": facts.missing_keys,
    }
    if facts.role == "replica":
        observed["master_link_status"] = facts.info.get("master_link_status")
        observed["master_last_io_seconds_ago"] = facts.info.get("master_last_io_seconds_ago")
    else:
        observed["replicas"] = [
            {k: r.get(k) for k in ("ip", "port", "state", "lag")} for r in facts.replicas()
        ]
    return observed


def _expected(check: RedisCheck) -> dict[str, Any]:
    expected: dict[str, Any] = {"answers": "PING"}
    for name in (
        "expect_role",
        "max_clients",
        "max_client_usage",
        "max_memory_usage",
        "max_rejected_connections",
        "max_replication_lag_s",
        "latency_budget_ms",
    ):
        value = getattr(check, name)
        if value is not None:
            expected[name] = value
    if check.expect_keys:
        expected["keys"] = list(check.expect_keys)
    return expected
