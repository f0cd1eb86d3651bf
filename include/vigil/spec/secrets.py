"""Secrets are referenced, never written: `${ENV_VAR}` placeholders or Airflow connection ids.

The model validators refuse literal secrets in the fields known to carry them (URLs, headers);
`find_literal_secrets` walks a whole parsed document so the loader also catches them in free
form places (a request body, a header of an unknown check) and can point at each one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

ENV_REF = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
# Names (of headers, or of any key) whose values are credentials and must be references.
SECRET_HEADERS = re.compile(
    r"authorization|token|api[-_]?key|secret|password|passwd|cookie|credential|private[-_]?key",
    re.I,
)
HOW_TO = (
    "put the value in an environment variable and write '${VAR_NAME}' instead "
    "(or keep it in an Airflow connection and name its conn_id)"
)

Loc = tuple[str | int, ...]


class LiteralSecretError(ValueError):
    """A secret written into the spec; a ValueError so pydantic reports it as a field error."""


@dataclass(frozen=True)
class Finding:
    loc: Loc
    message: str


def has_reference(value: str) -> bool:
    return ENV_REF.search(value) is not None


def _references(value: str) -> list[re.Match[str]]:
    return list(ENV_REF.finditer(value))


def literal_password_in_url(url: str) -> bool:
    """True when the URL, or the default of a reference in it, carries a literal password."""
    for ref in _references(url):
        if ref["default"] and literal_password_in_url(ref["default"]):
            return True
    try:
        password = urlsplit(url).password
    except ValueError:  # an unparsable URL is reported by the field's own validation
        return False
    if not password:
        return False
    refs = _references(password)
    return not refs or any(ref["default"] for ref in refs)


def literal_secret_reason(what: str, value: Any) -> str | None:
    """Why a credential's value (`what`: "header 'Authorization'") is a literal secret."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = str(value)
    if not text.strip():
        return None
    refs = _references(text)
    if not refs:
        return f"{what} holds a literal secret; {HOW_TO}"
    if any(ref["default"] for ref in refs):
        return (
            f"{what} has a literal secret as the default of its reference; "
            "drop the ':-...' default so the value comes only from the environment"
        )
    return None


def url_secret_reason(url: str) -> str | None:
    """Why a URL carries a literal secret (a password, a `?token=` parameter), else None."""
    if literal_password_in_url(url):
        return f"the URL holds a literal password; {HOW_TO}"
    if "?" not in url:
        return None
    try:
        query = urlsplit(url).query
    except ValueError:
        return None
    for name, value in parse_qsl(query):
        reason = (
            literal_secret_reason(f"query parameter {name!r}", value)
            if _is_secret_key(name)
            else None
        )
        if reason:
            return reason
    return None


def reject_literal_secret_in_url(url: str) -> str:
    reason = url_secret_reason(url)
    if reason:
        raise LiteralSecretError(reason)
    return url


def reject_literal_secret_in_header(name: str, value: str) -> None:
    if SECRET_HEADERS.search(name):
        reason = literal_secret_reason(f"header {name!r}", value)
        if reason:
            raise LiteralSecretError(reason)


def reject_literal_secret_headers(headers: dict[str, str]) -> dict[str, str]:
    """A field validator for header maps: credential-looking headers must be references."""
    for name, value in headers.items():
        reject_literal_secret_in_header(name, value)
    return headers


def _is_secret_key(key: str) -> bool:
    # `*_conn_id` names an Airflow connection: a pointer to the secret, not the secret.
    return bool(SECRET_HEADERS.search(key)) and not key.lower().endswith("conn_id")


def find_literal_secrets(data: Any, loc: Loc = ()) -> Iterator[Finding]:
    """Every literal secret in a parsed document: credential-named keys, passwords in URLs."""
    if isinstance(data, dict):
        for key, value in data.items():
            here = (*loc, key)
            secret = _is_secret_key(str(key))
            reason = literal_secret_reason(repr(str(key)), value) if secret else None
            if reason:
                yield Finding(here, reason)
            else:
                yield from find_literal_secrets(value, here)
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from find_literal_secrets(item, (*loc, index))
    elif isinstance(data, str):
        reason = url_secret_reason(data)
        if reason:
            yield Finding(loc, reason)


def find_malformed_references(data: Any, loc: Loc = ()) -> Iterator[Finding]:
    """Strings with a `${` that is not a well-formed `${NAME}` or `${NAME:-default}`."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from find_malformed_references(value, (*loc, key))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from find_malformed_references(item, (*loc, index))
    elif isinstance(data, str) and "${" in ENV_REF.sub("", data):
        yield Finding(
            loc,
            f"malformed environment reference in {data!r}; write '${{NAME}}' or "
            "'${NAME:-default}' (NAME: letters, digits and '_', not starting with a digit)",
        )
