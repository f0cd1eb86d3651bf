"""Pydantic errors, retold for a person editing YAML: what is wrong, what was found and
what is expected, with a "did you mean" when a typo is the likely cause."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic_core import ErrorDetails

from vigil.spec.errors import did_you_mean
from vigil.spec.introspect import allowed_keys, union_tags

Loc = tuple[str | int, ...]
NAME_RULE = "lowercase letters, digits, '_' and '-', starting with a letter, at most 63 long"
_QUOTED = re.compile(r"'([^']*)'")


@dataclass(frozen=True)
class Explanation:
    loc: Loc  # where to point (may differ from the error's loc: a bad kind points at `kind`)
    message: str
    found: str | None = None
    expected: str | None = None
    hint: str | None = None
    at_key: bool = False  # point at the key itself (unknown keys, bad names)


def describe(value: Any) -> str:
    """What the YAML held, in YAML words."""
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def explain(error: ErrorDetails, root: Any) -> Explanation:
    """One pydantic error as an Explanation; `root` is the model validated (for key names)."""
    kind, loc = error["type"], tuple(error["loc"])
    handler = _HANDLERS.get(kind, _generic)
    return handler(error, loc, root)


def _missing(error: ErrorDetails, loc: Loc, root: Any) -> Explanation:
    name = loc[-1] if loc else "?"
    return Explanation(loc, f"missing required field {name!r}", expected=f"a value for {name!r}")


# Keys renamed since an earlier release: the error says what they are called now.
RENAMED = {"kinds": "families", "kind": "family"}


def _extra(error: ErrorDetails, loc: Loc, root: Any) -> Explanation:
    name = loc[-1]
    allowed = allowed_keys(root, loc[:-1])
    hint = did_you_mean(name, allowed)
    renamed = RENAMED.get(str(name))
    if hint is None and renamed is not None and renamed in allowed:
        hint = f"renamed to {renamed!r} (check families: health, quality, ...)"
    if hint is None and name in ("host", "port") and "address" in allowed:
        hint = "write address: 'host:port' (one key replaces host and port)"
    if hint is None and allowed:
        hint = "allowed keys: " + ", ".join(sorted(allowed))
    expected = ", ".join(sorted(allowed)) or None
    return Explanation(loc, f"unknown key {name!r}", repr(name), expected, hint, at_key=True)


def _bad_tag(error: ErrorDetails, loc: Loc, root: Any) -> Explanation:
    ctx = error.get("ctx") or {}
    tag = ctx.get("tag")
    tags = _QUOTED.findall(str(ctx.get("expected_tags", ""))) or list(union_tags(root, loc))
    return Explanation(
        (*loc, "kind"),
        f"unknown kind {tag!r}; expected one of {', '.join(tags)}",
        repr(tag),
        ", ".join(tags),
        did_you_mean(tag, tags),
    )


def _no_tag(error: ErrorDetails, loc: Loc, root: Any) -> Explanation:
    tags = union_tags(root, loc)
    if not isinstance(error["input"], dict):
        return _not_mapping(error, loc, root)
    return Explanation(
        (*loc, "kind"),
        f"missing required field 'kind' (one of {', '.join(tags)})",
        expected=", ".join(tags),
    )


def _choice(error: ErrorDetails, loc: Loc, root: Any) -> Explanation:
    expected = str((error.get("ctx") or {}).get("expected", ""))
    choices = _QUOTED.findall(expected)
    found = describe(error["input"])
    return Explanation(
        loc,
        f"{found} is not allowed; expected {expected}",
        found,
        expected,
        did_you_mean(error["input"], choices),
    )


def _value_error(error: ErrorDetails, loc: Loc, root: Any) -> Explanation:
    cause = (error.get("ctx") or {}).get("error")
    message = str(cause) if cause is not None else error["msg"].removeprefix("Value error, ")
    return Explanation(loc, message, describe(error["input"]))


def _pattern(error: ErrorDetails, loc: Loc, root: Any) -> Explanation:
    found = describe(error["input"])
    pattern = str((error.get("ctx") or {}).get("pattern", ""))
    if pattern.startswith("^[a-z][a-z0-9_-]"):
        at_key = bool(loc) and loc[-1] == "[key]"
        return Explanation(
            loc, f"invalid name {found}: use {NAME_RULE}", found, NAME_RULE, at_key=at_key
        )
    return Explanation(loc, f"{found} should match the pattern {pattern}", found, pattern)


def _not_mapping(error: ErrorDetails, loc: Loc, root: Any) -> Explanation:
    found = describe(error["input"])
    keys = allowed_keys(root, loc)
    hint = f"keys: {', '.join(keys)}" if keys else None
    return Explanation(
        loc, f"expected a mapping (key: value lines), found {found}", found, "a mapping", hint
    )


def _not_list(error: ErrorDetails, loc: Loc, root: Any) -> Explanation:
    found = describe(error["input"])
    return Explanation(
        loc, f"expected a list ('- item' lines or [a, b]), found {found}", found, "a list"
    )


def _length(error: ErrorDetails, loc: Loc, root: Any) -> Explanation:
    ctx = error.get("ctx") or {}
    value = error["input"]
    found = describe(value)
    if isinstance(value, list) and not value:
        found = "an empty list"
    elif isinstance(value, dict) and not value:
        found = "an empty mapping"
    if error["type"] == "too_short":
        wanted = f"at least {ctx.get('min_length')}"
    else:
        wanted = f"at most {ctx.get('max_length')}"
    return Explanation(loc, f"should have {wanted} item(s); found {found}", found, wanted)


def _generic(error: ErrorDetails, loc: Loc, root: Any) -> Explanation:
    found = describe(error["input"])
    if loc and loc[-1] == "[key]" and error["input"] is None:
        found = "the null key '~'"  # what the YAML says, not Python's None
    text = error["msg"]
    text = text[0].lower() + text[1:] if text else error["type"]
    text = text.replace("input should be", "should be")
    return Explanation(loc, f"{text}; found {found}", found, None)


_HANDLERS = {
    "missing": _missing,
    "extra_forbidden": _extra,
    "union_tag_invalid": _bad_tag,
    "union_tag_not_found": _no_tag,
    "literal_error": _choice,
    "enum": _choice,
    "value_error": _value_error,
    "assertion_error": _value_error,
    "string_pattern_mismatch": _pattern,
    "model_type": _not_mapping,
    "model_attributes_type": _not_mapping,
    "dict_type": _not_mapping,
    "list_type": _not_list,
    "too_short": _length,
    "too_long": _length,
}
