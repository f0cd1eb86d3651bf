"""A GET to a target reached by a base URL (an `http` target's /metrics, a `prometheus`
target's query API): the URL resolved and checked, the target's and the check's headers
(the check's win) resolved as credentials, so their values are masked wherever they show.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

from requests.structures import CaseInsensitiveDict

from vigil.config_errors import ConfigError
from vigil.context import RunContext
from vigil.http_client import Request


class BaseUrlTarget(Protocol):
    @property
    def base_url(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def verify_tls(self) -> bool: ...


class BaseUrlCheck(Protocol):
    @property
    def target(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def verify_tls(self) -> bool | None: ...


T = TypeVar("T")


def target_of_kind(check: Any, ctx: RunContext, expected: type[T], kind: str) -> T:
    """The check's target, which must exist and be of `kind` (a `metrics` check reads an
    `http` target, a `promql` check a `prometheus` one)."""
    target = ctx.spec.targets.get(check.target)
    if target is None:
        known = ", ".join(sorted(ctx.spec.targets)) or "none"
        raise ConfigError(f"unknown target {check.target!r} (declared: {known})")
    if not isinstance(target, expected):
        raise ConfigError(
            f"target {check.target!r} is a {getattr(target, 'kind', '?')!r} target, "
            f"a {check.kind!r} check needs a {kind!r} target"
        )
    return target


def get_request(
    check: BaseUrlCheck,
    target: BaseUrlTarget,
    path_and_query: str,
    ctx: RunContext,
    accept: str | None = None,
) -> Request:
    base = ctx.resolve(target.base_url).rstrip("/")
    if not re.match(r"^https?://[^/]", base):
        # Name the spec's value, not what it resolved to: that may carry a password.
        raise ConfigError(
            f"base_url of target {check.target!r} ({target.base_url!r}) did not resolve to "
            "an http:// or https:// URL"
        )
    # A token given as the URL's user name (`https://${TOKEN}@host`) is a credential too.
    ctx.masker.remember_userinfo(base)
    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
    if accept:
        headers["Accept"] = accept
    for source in (target.headers, check.headers):
        for name, value in source.items():
            headers[name] = ctx.resolve(value, secret=True)
    verify = target.verify_tls if check.verify_tls is None else check.verify_tls
    return Request("GET", base + path_and_query, headers, verify=verify)
