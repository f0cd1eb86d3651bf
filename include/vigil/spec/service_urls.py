"""URLs of services other than HTTP (redis://, mongodb://, ws://), checked at load time.

As for `validators.check_http_url`: a URL may be an environment reference resolved at run
time, and what can be checked now (the default of `${VAR:-default}`, the literal parts
around a reference) is checked now. Passwords in them are the secrets rules' business
(`secrets.reject_literal_secret_in_url`), not this module's.
"""

from __future__ import annotations

import re

from vigil.spec.secrets import ENV_REF
from vigil.spec.validators import shown_value, split_address

_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<rest>.*)$", re.DOTALL)
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.\-]+)$")


def check_service_url(
    value: str, schemes: tuple[str, ...], example: str, *, many_hosts: bool = False
) -> str:
    """`value` is a URL of one of `schemes` with a host (and a valid port, if any), or a
    reference whose default (if any) is one; `many_hosts` allows `h1:1,h2:2` (MongoDB)."""
    ref = ENV_REF.fullmatch(value.strip())
    if ref and ref["default"] is None:
        return value
    probe = ref["default"] if ref else ENV_REF.sub(_placeholder, value)
    problem = url_problem(probe or "", schemes, many_hosts=many_hosts)
    if problem:
        shown = f"the default {shown_value(probe)}" if ref else shown_value(value)
        raise ValueError(
            f"{shown} is not a {' or '.join(s + '://' for s in schemes)} URL ({problem}); "
            f"write '{example}' or '${{VAR_NAME:-{example}}}'"
        )
    return value


def _placeholder(match: re.Match[str]) -> str:
    """What a reference stands for while checking: its default, else something valid in
    its place (a whole scheme and host at the start, a host, port or password elsewhere)."""
    if match["default"] is not None:
        return str(match["default"])
    return "placeholder://placeholder" if match.start() == 0 else "1"


def url_problem(url: str, schemes: tuple[str, ...], *, many_hosts: bool = False) -> str | None:
    """What is wrong with `url` as a URL of `schemes`, or None."""
    found = _SCHEME.match(url.strip())
    if found is None:
        return "no scheme://"
    if found["scheme"] == "placeholder":  # a reference stands for the scheme and host
        return None
    if found["scheme"].lower() not in schemes:
        return f"scheme {found['scheme']!r}"
    authority = re.split(r"[/?#]", found["rest"], maxsplit=1)[0]
    hosts = authority.rpartition("@")[2]
    if not hosts:
        return "no host"
    parts = hosts.split(",")
    if len(parts) > 1 and not many_hosts:
        return "one host only"
    for part in parts:
        problem = _host_problem(part)
        if problem:
            return problem
    return None


def _host_problem(host_port: str) -> str | None:
    if _HOST.fullmatch(host_port):
        return None  # a host without a port: the scheme's default port
    try:
        split_address(host_port)
    except ValueError:
        host, _, port = host_port.rpartition(":")
        if host and _HOST.fullmatch(host):
            return f"port {port!r} is not a number from 1 to 65535"
        return f"host {shown_value(host_port)}"
    return None
