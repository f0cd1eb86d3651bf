"""Secrets are referenced, never written: `${ENV_VAR}` placeholders or Airflow connection ids.

The model validators refuse literal secrets in the fields known to carry them (URLs, headers);
`find_literal_secrets` walks a whole parsed document so the loader also catches them in free
form places (a request body, a header of an unknown check) and can point at each one.

A literal secret is, in every form: the value of a credential-named key or header (also as a
number, a list, a `!!binary`, or literal text around a reference: `Bearer sk_${SUFFIX}`); a
password or a token in a URL (its user part, path or a credential query parameter); a URL
that is itself a credential (a Slack webhook); a request body, as an object or as a JSON
string, holding any of these; a token of a well-known issuer anywhere. What counts as a
credential name or a token shape is in `secret_shapes`.

A check that a wrong credential is refused needs one: `${VIGIL_INVALID_CREDENTIAL}` is a
reference like any other here, and resolves at run time to a public value that is surely
no credential (`secret_shapes.INVALID_CREDENTIAL`), whatever the environment holds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlsplit

from vigil.spec.errors import format_path
from vigil.spec.secret_shapes import (
    KNOWN_TOKEN,
    SCHEMES,
    is_secret_name,
    is_secret_query,
    looks_random,
    secret_url_kind,
    token_shaped,
)

# A default holds no `${` (references do not nest): a scan of `${A:-${A:-...` stays linear.
ENV_REF = re.compile(
    r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>(?:[^}$]|\$(?!\{))*))?\}"
)
# A scenario's variable, `{{token}}`: a reference to a value captured at run time (a login's
# token), never written in the spec, so it stands where a `${VAR}` may (vigil.scenarios).
TEMPLATE_REF = re.compile(r"\{\{\s*(?P<var>[A-Za-z_][\w.]*)\s*\}\}")
# Either kind of reference; `default` is set only for an environment reference.
ANY_REF = re.compile(f"{ENV_REF.pattern}|{TEMPLATE_REF.pattern}")
# Header names to mask at run time (requests logged, webhook values expanded as secrets):
# broader than `is_secret_name`, which decides what a spec may not hold literally.
SECRET_HEADERS = re.compile(
    r"auth|token|api[-_]?key|secret|password|passwd|pwd|cookie|credential|private[-_]?key"
    r"|signature|[-_]key$|^pass$",
    re.I,
)
# `Token token=${T}`: `token=` is a parameter's name, not a secret
_PARAMETER_NAME = re.compile(r"(?<![A-Za-z\-])[A-Za-z\-]+=")
_LITERAL_WORD = re.compile(r"[A-Za-z0-9_\-]+")
_FORM = re.compile(r"[\w.\-]+=[^&\s]*(?:&[\w.\-]+=[^&\s]*)*")
MIXED = (
    "only a scheme word such as 'Bearer ' may be written next to the reference; the whole "
    "credential comes from '${VAR_NAME}'"
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
    return list(ANY_REF.finditer(value))


def literal_password_in_url(url: str) -> bool:
    """True when the URL, or the default of a reference in it, carries a literal password."""
    if "@" not in url:
        return False
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
    if isinstance(value, bytes | bytearray):
        return f"{what} holds a literal secret (a !!binary value); {HOW_TO}"
    if value is None or isinstance(value, bool | dict | list):
        return None
    text = str(value)  # a string, or a number or date written literally
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
    if _literal_words(text):
        return f"{what} mixes literal text with a reference; {MIXED}"
    return None


def _literal_words(text: str) -> list[str]:
    rest = _PARAMETER_NAME.sub(" ", ANY_REF.sub(" ", text))
    return [w for w in _LITERAL_WORD.findall(rest) if w.lower() not in SCHEMES]


def url_secret_reason(url: str) -> str | None:
    """Why a URL (or any text) carries a literal secret: a password, user name, path part or
    credential query parameter that is a token, or a URL that is a credential itself."""
    if literal_password_in_url(url):
        return f"the URL holds a literal password; {HOW_TO}"
    probe = url
    if "${" in url:  # most strings are plain words: each test below is guarded
        for ref in _references(url):
            reason = url_secret_reason(ref["default"]) if ref["default"] else None
            if reason:
                return f"the default of its reference: {reason}"
        probe = ENV_REF.sub("\x00", url)  # what is written literally; \x00 matches no token
    kind = secret_url_kind(probe) if "/" in probe else None
    if kind:
        return f"{kind} is a credential itself (whoever has it can post); {HOW_TO}"
    parts = _split(probe) if "://" in probe or probe.startswith("/") else None
    if parts is not None:
        if parts.username and token_shaped(parts.username):
            return f"the URL holds a literal token as its user name; {HOW_TO}"
        if any(looks_random(segment) for segment in parts.path.split("/")):
            return f"the URL path holds a literal token; {HOW_TO}"
    if KNOWN_TOKEN.search(probe):
        return f"the value holds a literal token; {HOW_TO}"
    whole = _split(url) if "?" in url else None
    return _query_reason(whole.query) if whole else None


def _split(url: str) -> SplitResult | None:
    try:
        return urlsplit(url)
    except ValueError:  # an unparsable URL is reported by the field's own validation
        return None


def _query_reason(query: str) -> str | None:
    """A query parameter that is a credential, or any parameter holding a token."""
    for name, value in parse_qsl(query):
        literals = ENV_REF.sub("\x00", value).split("\x00")
        if is_secret_query(name, "".join(literals)):
            reason = literal_secret_reason(f"query parameter {name!r}", value)
        elif any(looks_random(part) for part in literals):
            reason = f"query parameter {name!r} holds a literal token; {HOW_TO}"
        else:
            reason = None
        if reason:
            return reason
    return None


def string_secret_reason(text: str) -> str | None:
    """Why a string anywhere in a spec is a literal secret: see `url_secret_reason`; also a
    JSON or form-encoded request body that holds a credential."""
    return url_secret_reason(text) or _json_secret_reason(text) or _form_secret_reason(text)


def _json_secret_reason(text: str) -> str | None:
    stripped = text.strip()
    if stripped[:1] not in ("{", "[") or stripped[-1:] not in ("}", "]"):
        return None
    try:
        parsed = json.loads(stripped)
    except (ValueError, RecursionError):
        return None
    for finding in find_literal_secrets(parsed):
        where = format_path(finding.loc) or "its top level"
        return f"the JSON in this value has a literal secret at {where}: {finding.message}"
    return None


def _form_secret_reason(text: str) -> str | None:
    stripped = text.strip()
    if "=" not in stripped or "?" in stripped or not _FORM.fullmatch(stripped):
        return None
    return _query_reason(stripped)


def reject_literal_secret_in_url(url: str) -> str:
    reason = string_secret_reason(url)
    if reason:
        raise LiteralSecretError(reason)
    return url


def reject_literal_secret_in_header(name: str, value: str) -> None:
    """A credential header holds only references (and a scheme word); any header value
    holds no token and no credential URL."""
    if is_secret_name(name, header=True):
        reason = literal_secret_reason(f"header {name!r}", value)
    else:
        reason = string_secret_reason(value) if isinstance(value, str) else None
    if reason:
        raise LiteralSecretError(reason)


def reject_literal_secret_headers(headers: dict[str, str]) -> dict[str, str]:
    """A field validator for header maps: credential-looking headers must be references."""
    for name, value in headers.items():
        reject_literal_secret_in_header(name, value)
    return headers


# Their keys are names a person chose ("auth", a captured "token"), not fields.
_NAMED = ("targets", "channels", "capture")


def is_secret_loc(loc: Loc) -> bool:
    """Some key along `loc` names a credential: what is there must not be shown."""
    return any(
        isinstance(part, str)
        and not (index > 0 and loc[index - 1] in _NAMED)
        and is_secret_name(part, header=index > 0 and loc[index - 1] == "headers")
        for index, part in enumerate(loc)
    )


def find_literal_secrets(data: Any, loc: Loc = ()) -> Iterator[Finding]:
    """Every literal secret in a parsed document: credential-named keys, passwords in URLs."""
    if isinstance(data, dict):
        header = bool(loc) and loc[-1] == "headers"
        named = bool(loc) and loc[-1] in _NAMED
        for key, value in data.items():
            here = (*loc, key)
            if not named and is_secret_name(str(key), header=header):
                yield from _secret_value(repr(str(key)), value, here)
            else:
                yield from find_literal_secrets(value, here)
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from find_literal_secrets(item, (*loc, index))
    elif isinstance(data, str):
        reason = string_secret_reason(data)
        if reason:
            yield Finding(loc, reason)


def _secret_value(what: str, value: Any, loc: Loc) -> Iterator[Finding]:
    """The value of a credential-named key: each literal in it is a secret, however deep
    (`client_secret: {value: ...}`, `credentials: {user: ..., pass: ...}`)."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from _secret_value(what, item, (*loc, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _secret_value(f"{what} (at {str(key)!r})", item, (*loc, key))
    else:
        reason = literal_secret_reason(what, value)
        if reason is None and isinstance(value, str):
            reason = string_secret_reason(value)
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
    elif isinstance(data, str) and "${" in data and "${" in ENV_REF.sub("", data):
        shown = "this value" if is_secret_loc(loc) else _short(data)
        yield Finding(
            loc,
            f"malformed environment reference in {shown}; write '${{NAME}}' or "
            "'${NAME:-default}' (NAME: letters, digits and '_', not starting with a digit)",
        )


def _short(text: str) -> str:
    return repr(text) if len(text) <= 80 else repr(text[:60]) + "..."
