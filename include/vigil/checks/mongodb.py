"""MongoDB health check: `ping` within the timeout, the server's version (`buildInfo`),
connections in use against available (`serverStatus`) and, on a replica set member, the
set's state (`replSetGetStatus`): a primary present, every member healthy, and how far
the secondaries trail the primary.

The check talks to the server its connection names (a direct connection; a URL with
several hosts, a `replicaSet` or `mongodb+srv://` is discovered as a set instead), reads
from a secondary when there is no primary, and never retries: `timeout_s` bounds server
selection, the connect and every answer. It runs only commands that read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

import pymongo
from bson.errors import BSONError
from pymongo import errors as mongo_errors
from pymongo.uri_parser import parse_uri

from vigil.checks._common import Timer, build, error, fmt_ms, guarded, target_of
from vigil.checks._urls import remember_url_credentials
from vigil.checks.models import MongoCheck
from vigil.config_errors import ConfigError
from vigil.context import ConnectionInfo, RunContext
from vigil.result import CheckResult, Status
from vigil.spec.models import MongoTarget

CHECK_TYPE = "mongodb"
APP_NAME = "vigil-health-check"
DEFAULT_PORT = 27017
HEALTHY_STATES = frozenset({"PRIMARY", "SECONDARY", "ARBITER"})
# Extras of an Airflow MongoDB connection passed on to the driver (all read-only settings).
_EXTRAS = ("authSource", "authMechanism", "tls", "ssl", "tlsAllowInvalidCertificates", "tlsCAFile")
_TRUE = ("true", "1", "yes", "on")


@dataclass
class Facts:
    latency_ms: float = 0.0  # server selection, connect and ping's round trip
    version: str = ""
    connections_current: int = 0
    connections_available: int = 0
    set_name: str | None = None  # None: not a replica set member
    members: list[dict[str, Any]] = field(default_factory=list)

    @property
    def usage(self) -> float:
        total = self.connections_current + self.connections_available
        return self.connections_current / total if total else 0.0

    def primary(self) -> dict[str, Any] | None:
        return next((m for m in self.members if m.get("stateStr") == "PRIMARY"), None)


def run(check: MongoCheck, ctx: RunContext) -> list[CheckResult]:
    return guarded(check, ctx, CHECK_TYPE, _probe)


def _probe(check: MongoCheck, ctx: RunContext, timer: Timer) -> CheckResult:
    target = target_of(check, ctx, MongoTarget)
    uri, options = connection_of(check, target, ctx)
    where = describe(uri)
    label = f"MongoDB {target.conn_id} ({where})" if target.conn_id else f"MongoDB {where}"
    details: dict[str, Any] = {"server": where}
    if target.conn_id:
        details["conn_id"] = target.conn_id
    steps: list[str] = []
    try:
        facts = inspect(uri, options, steps)
    except (mongo_errors.PyMongoError, BSONError) as exc:
        reason = _reason(exc, check, steps[-1] if steps else "ping")
        return error(check, ctx, CHECK_TYPE, timer, f"{label}: {reason}", details)
    problems = judge(check, facts)
    if problems:
        status, message = Status.FAILED, f"{label}: " + "; ".join(problems)
    else:
        status, message = Status.PASSED, f"{label} {_summary(facts)}"
    return build(
        check,
        ctx,
        CHECK_TYPE,
        timer,
        status,
        message,
        observed=_observed(facts),
        expected=_expected(check),
        details=details,
    )


def connection_of(
    check: MongoCheck, target: MongoTarget, ctx: RunContext
) -> tuple[str, dict[str, Any]]:
    """The URI and the client options: every wait bounded by the check's timeout."""
    ms = max(1, int(check.timeout_s * 1000))
    options: dict[str, Any] = {
        "serverSelectionTimeoutMS": ms,
        "connectTimeoutMS": ms,
        "socketTimeoutMS": ms,
        "appname": APP_NAME,
        "readPreference": "primaryPreferred",
        "retryReads": False,
        "retryWrites": False,
    }
    if target.url is not None:
        uri = ctx.resolve(target.url)
        remember_url_credentials(uri, ctx.masker)  # however the URL was written
        if not uri.startswith(("mongodb://", "mongodb+srv://")):
            # Name the spec's value, not what it resolved to: that may carry a password.
            raise ConfigError(
                f"url of target {check.target!r} ({target.url!r}) did not resolve to a "
                "mongodb:// or mongodb+srv:// URL"
            )
    else:
        assert target.conn_id is not None  # the model holds exactly one of url and conn_id
        info = ctx.connection(target.conn_id)  # remembers its password in ctx.masker
        uri, extra = uri_of(info)
        options.update(extra)
    if not uri.startswith("mongodb+srv://") and _one_host(uri, target):
        options["directConnection"] = True
    return uri, options


def _one_host(uri: str, target: MongoTarget) -> bool:
    """The URI names one server and does not ask for a set (`replicaSet`) or says how to
    connect itself: the check talks to that server directly. (Not for mongodb+srv://,
    whose parsing looks the hosts up in DNS: that is the driver's, at connect time.)"""
    try:
        parsed = parse_uri(uri, validate=True)
    except (mongo_errors.ConfigurationError, ValueError) as exc:
        where = f"connection {target.conn_id!r}" if target.conn_id else f"url {target.url!r}"
        raise ConfigError(f"{where} is not a MongoDB URI: {exc}") from None
    given = {str(k).lower() for k in parsed["options"]}
    return len(parsed["nodelist"]) == 1 and not given & {
        "replicaset",
        "directconnection",
        "loadbalanced",
    }


def uri_of(info: ConnectionInfo) -> tuple[str, dict[str, Any]]:
    """An Airflow connection as a URI without credentials, and the options carrying them."""
    if not info.host:
        raise ConfigError(f"connection {info.conn_id!r} names no host")
    srv = info.conn_type == "mongodb+srv" or str(info.extra.get("srv", "")).lower() in _TRUE
    host = f"[{info.host}]" if ":" in info.host else info.host
    uri = f"mongodb+srv://{host}/" if srv else f"mongodb://{host}:{info.port or DEFAULT_PORT}/"
    if info.schema:
        uri += quote(info.schema, safe="")
    options: dict[str, Any] = {}
    if info.login:
        options["username"] = info.login
        options["password"] = info.password
        # As a URI's database is: where the user is defined, unless authSource says.
        options["authSource"] = info.schema or "admin"
    for name in _EXTRAS:
        if name in info.extra:
            options[name] = _extra_option(name, info.extra[name])
    return uri, options


def _extra_option(name: str, value: Any) -> Any:
    """An extra as the driver takes it: the TLS switches as booleans ("true" or true)."""
    if name in ("tls", "ssl", "tlsAllowInvalidCertificates") and isinstance(value, str):
        return value.lower() in _TRUE
    return value


def describe(uri: str) -> str:
    """The URI's hosts and database (`host:port/db`), without credentials or options."""
    rest = uri.split("://", 1)[1].split("?", 1)[0]
    hosts, _, database = rest.partition("/")
    hosts = hosts.rpartition("@")[2]
    return f"{hosts}/{database}" if database else hosts


def inspect(uri: str, options: dict[str, Any], steps: list[str]) -> Facts:
    """Run the check's commands on the admin database; `steps` records each command's name
    as it is sent (the last one is the one that failed)."""
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(uri, **options)

    def command(name: str) -> dict[str, Any]:
        steps.append(name)
        return dict(client.admin.command(name))

    try:
        start = time.perf_counter()
        command("ping")
        facts = Facts(latency_ms=round((time.perf_counter() - start) * 1000, 3))
        facts.version = str(command("buildInfo").get("version", ""))
        connections = command("serverStatus").get("connections") or {}
        facts.connections_current = int(connections.get("current", 0))
        facts.connections_available = int(connections.get("available", 0))
        hello = command("hello")
        if hello.get("setName"):
            facts.set_name = str(hello["setName"])
            facts.members = list(command("replSetGetStatus").get("members", []))
        return facts
    finally:
        client.close()


def _reason(exc: Exception, check: MongoCheck, step: str) -> str:
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, mongo_errors.ServerSelectionTimeoutError):
        # "host:port: [Errno 111] Connection refused (...), Timeout: 3.0s, Topology ...":
        # the first part says it all.
        first = text.split(", Timeout:", 1)[0]
        if first == "No servers found yet":  # connected, but the handshake got no answer
            first = "the server accepted the connection but did not answer the handshake"
        return f"no usable server within {check.timeout_s:g}s: {first}"
    if isinstance(exc, mongo_errors.NetworkTimeout):
        return f"no answer to {step} within {check.timeout_s:g}s (timed out: {text})"
    if isinstance(exc, mongo_errors.OperationFailure):
        details = exc.details or {}
        said = f"{details.get('errmsg', text)} ({details.get('codeName', exc.code)})"
        if exc.code == 18:
            return f"authentication failed: {said}"
        return f"{step} failed: {said}"
    if isinstance(exc, mongo_errors.ProtocolError | BSONError):
        return f"the answer is not the MongoDB wire protocol (not a MongoDB server?): {text}"
    if isinstance(exc, mongo_errors.ConnectionFailure):
        return f"cannot connect: {text}"
    return f"{type(exc).__name__}: {text}"


def judge(check: MongoCheck, facts: Facts) -> list[str]:
    problems: list[str] = []
    if check.min_version and _version(facts.version) < _version(check.min_version):
        problems.append(f"version {facts.version}, expected at least {check.min_version}")
    if facts.set_name is None:
        if check.require_replica_set:
            problems.append("not a replica set member (a standalone server)")
    else:
        problems += _set_problems(check, facts)
    limit = check.max_connection_usage
    if limit is not None and facts.usage > limit:
        total = facts.connections_current + facts.connections_available
        problems.append(
            f"{facts.connections_current} of {total} connections in use ({facts.usage:.0%}), "
            f"over the {limit:.0%} limit"
        )
    budget = check.latency_budget_ms
    if budget is not None and facts.latency_ms > budget:
        problems.append(
            f"answered in {fmt_ms(facts.latency_ms)}, over the {fmt_ms(budget)} latency budget"
        )
    return problems


def _set_problems(check: MongoCheck, facts: Facts) -> list[str]:
    problems = []
    primary = facts.primary()
    if primary is None:
        states = ", ".join(f"{m.get('name')} {_state(m)}" for m in facts.members)
        problems.append(f"replica set {facts.set_name} has no primary ({states})")
    unhealthy = [
        f"{m.get('name')} ({_state(m)})"
        for m in facts.members
        if m.get("health") != 1 or m.get("stateStr") not in HEALTHY_STATES
    ]
    if unhealthy:
        problems.append(f"unhealthy members: {', '.join(unhealthy)}")
    limit = check.max_replication_lag_s
    if limit is not None and primary is not None:
        for name, lag in lags(facts).items():
            if lag > limit:
                problems.append(
                    f"secondary {name} is {lag:g}s behind the primary, over the {limit:g}s limit"
                )
    return problems


def _state(member: dict[str, Any]) -> str:
    """A member's stateStr without the parentheses of "(not reachable/healthy)"."""
    return str(member.get("stateStr", "?")).strip("()")


def lags(facts: Facts) -> dict[str, float]:
    """Seconds each healthy secondary's last applied operation trails the primary's."""
    primary = facts.primary()
    top = primary.get("optimeDate") if primary else None
    if not isinstance(top, datetime):
        return {}
    return {
        str(m.get("name")): round(max(0.0, (top - m["optimeDate"]).total_seconds()), 3)
        for m in facts.members
        if m.get("stateStr") == "SECONDARY" and isinstance(m.get("optimeDate"), datetime)
    }


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for part in text.split(".")[:3]:
        digits = "".join(c for c in part if c.isdigit()) or "0"
        parts.append(int(digits))
    return tuple(parts)


def _summary(facts: Facts) -> str:
    role = f"replica set {facts.set_name}" if facts.set_name else "standalone"
    total = facts.connections_current + facts.connections_available
    return (
        f"answered ping in {fmt_ms(facts.latency_ms)} (MongoDB {facts.version}, {role}, "
        f"{facts.connections_current}/{total} connections in use)"
    )


def _observed(facts: Facts) -> dict[str, Any]:
    observed: dict[str, Any] = {
        "latency_ms": facts.latency_ms,
        "version": facts.version,
        "replica_set": facts.set_name,
        "connections": {
            "current": facts.connections_current,
            "available": facts.connections_available,
            "usage": round(facts.usage, 4),
        },
    }
    if facts.set_name is not None:
        observed["members"] = [
            {"name": m.get("name"), "state": m.get("stateStr"), "health": m.get("health")}
            for m in facts.members
        ]
        observed["replication_lag_s"] = lags(facts)
    return observed


def _expected(check: MongoCheck) -> dict[str, Any]:
    expected: dict[str, Any] = {"answers": "ping"}
    if check.min_version:
        expected["min_version"] = check.min_version
    if check.require_replica_set:
        expected["replica_set"] = "required"
    for name in ("max_replication_lag_s", "max_connection_usage", "latency_budget_ms"):
        value = getattr(check, name)
        if value is not None:
            expected[name] = value
    return expected
