"""Field shapes the spec checks at load time: http(s) URLs, host:port addresses, cron.

URLs and addresses may be environment references resolved at run time; what can be checked
now (the default of `${VAR:-default}`, the literal parts around a reference) is checked now.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from vigil.spec.errors import did_you_mean
from vigil.spec.secrets import ENV_REF

_HTTP_URL = re.compile(r"^https?://[^/\s?#]+")
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.\-]+)$")
_MACROS = ("@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# name, low, high, names accepted in place of numbers (index + low)
_CRON_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
# Quartz-style extras croniter accepts: L, 15W, LW (day of month); 5L, 1#2 (day of week).
_CRON_EXTRAS = {2: re.compile(r"^(L|LW|\d{1,2}W)$"), 4: re.compile(r"^(\d?L|\d#[1-5])$")}


def shown_value(value: object, limit: int = 60) -> str:
    """A value quoted for a message, cut when long (a message shows no 100 KB value)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _only_reference(value: str) -> re.Match[str] | None:
    return ENV_REF.fullmatch(value.strip())


def check_http_url(value: str, *, base: bool = False) -> str:
    """An http(s) URL, or a reference whose default (if any) is one. With `base` (a
    target's base_url, which checks append their path to), no query or fragment: the
    path would land inside it."""
    ref = _only_reference(value)
    if ref and ref["default"] is None:
        return value
    probe = ref["default"] if ref else ENV_REF.sub(_placeholder_url, value)
    if not _HTTP_URL.match(probe or "") or not _parses(probe or ""):
        shown = f"the default {shown_value(probe)}" if ref else shown_value(value)
        raise ValueError(
            f"{shown} is not an http(s) URL; write 'http://host:port' or "
            "'${VAR_NAME:-http://host:port}'"
        )
    if base and ("?" in (probe or "") or "#" in (probe or "")):
        shown = f"the default {shown_value(probe)}" if ref else shown_value(value)
        raise ValueError(
            f"{shown} has a query or fragment; a base_url is where the checks' paths are "
            "appended: move '?...' into each check's path (path: '/health?key=${VAR}')"
        )
    return value


def _parses(url: str) -> bool:
    """The URL splits into a host and a valid port ('http://[::1' or ':99999' do not)."""
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        return False
    return bool(parts.hostname)


def _placeholder_url(match: re.Match[str]) -> str:
    if match["default"] is not None:
        return match["default"]
    return "http://placeholder" if match.start() == 0 else "placeholder"


def check_address(value: str) -> str:
    """`host:port`, or a reference whose default (if any) is one."""
    ref = _only_reference(value)
    if ref and ref["default"] is None:
        return value
    probe = ref["default"] if ref else ENV_REF.sub(lambda m: m["default"] or "1", value)
    try:
        split_address(probe or "")
    except ValueError as exc:
        prefix = "the default of the reference: " if ref else ""
        raise ValueError(f"{prefix}{exc}") from None
    return value


def split_address(address: str) -> tuple[str, int]:
    """`"db.internal:5432"` -> `("db.internal", 5432)`; `"[::1]:80"` -> `("::1", 80)`.

    For run time, after `RunContext.resolve` has expanded references.
    """
    host, sep, port_text = address.strip().rpartition(":")
    if not sep or not host or not _HOST.match(host) or (":" in host and host[0] != "["):
        raise ValueError(
            f"address {shown_value(address)} is not 'host:port' (e.g. '127.0.0.1:5432', "
            "'[::1]:80', or '${VAR_NAME:-host:port}')"
        )
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"address {shown_value(address)}: port must be a number from 1 to 65535")
    return host.strip("[]"), int(port_text)


def check_cron(expression: str) -> str:
    """Five cron fields with values in range, or one of the @macros."""
    text = expression.strip()
    if text.startswith("@"):
        if text not in _MACROS:
            macros = ", ".join(_MACROS)
            raise ValueError(f"unknown cron macro {shown_value(text)}; use one of {macros}")
        return expression
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(
            f"cron {shown_value(expression)} has {len(fields)} fields; expected 5 "
            "(minute hour day-of-month month day-of-week, e.g. '0 6 * * *') or a macro "
            "such as '@daily'"
        )
    for index, field in enumerate(fields):
        _check_cron_field(index, field)
    return expression


def _check_cron_field(index: int, field: str) -> None:
    name, low, high, names = _CRON_FIELDS[index]
    extra = _CRON_EXTRAS.get(index)
    for item in field.split(","):
        if extra and extra.match(item.upper()):
            continue
        span, _, step = item.partition("/")
        if step and (not step.isdigit() or int(step) == 0):
            raise ValueError(
                f"cron {name} {shown_value(item)}: the step after '/' must be a number above 0"
            )
        if span in ("*", "?"):
            continue
        for bound in span.split("-", 1):
            value = _cron_value(bound, low, names)
            if value is None or not low <= value <= high:
                raise ValueError(f"cron {name} {shown_value(bound)} is out of range {low}-{high}")


def _cron_value(text: str, low: int, names: tuple[str, ...]) -> int | None:
    if text.isdigit():
        return int(text)
    if text.lower() in names:
        return names.index(text.lower()) + low
    return None


# Quoted text and comments, whose semicolons are data, not statement ends. An unclosed
# comment runs to the end (as the database reads it), so `/*/*/*...` is one linear match.
_SQL_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?(?:\*/|\Z)", re.DOTALL)


def check_single_sql(text: str, what: str) -> str:
    """Refuse a `;` outside quotes and comments: the database driver runs every statement
    of a string, and a second one could end the read-only transaction and write."""
    if ";" in _SQL_QUOTED.sub(" ", text).rstrip().rstrip(";"):
        raise ValueError(
            f"{what} must be one SQL expression, without ';' (a second statement could "
            "end the read-only transaction validation runs in)"
        )
    return text


def check_timezone(tz: str) -> str:
    """A field validator: an IANA timezone name, with "did you mean" for a near miss."""
    if len(tz) > 64:  # zoneinfo recurses on very long names; none is longer than ~32
        raise ValueError(f"a timezone name is at most 64 characters, got {len(tz)}")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        guess = did_you_mean(tz, available_timezones()) or "e.g. 'Europe/Paris'"
        raise ValueError(f"unknown timezone {tz!r}; use an IANA name ({guess})") from None
    return tz


# RFC 9110 field names: a token of these characters; values must not hold a line break
# (it would start a header of its own).
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def check_header_names(headers: dict[str, str]) -> dict[str, str]:
    """A field validator for header maps: valid names, values on one line."""
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(
                f"header name {shown_value(name)} is not a valid HTTP header name "
                "(letters, digits and !#$%&'*+-.^_`|~, nothing else)"
            )
        if "\r" in value or "\n" in value:
            raise ValueError(f"header {name!r} has a line break in its value")
    return headers
