"""Sampled values of sensitive columns, redacted where GX hands them over, before anything
reads them.

Evidence samples the data: a failed expectation carries up to 20 unexpected values, the
failing rows' primary keys with the column's value, an unexpected-rows query's rows, and
some observed values are data too (a column's max, its distinct values). For a sensitive
column each such value becomes a stable redaction

    «redacted 1a2b3c4d»

the first 8 hex digits of an HMAC-SHA256 of the value: equal values read equal (the same
bad value in 40 rows, in yesterday's run too), the value itself is not there. NULL stays
NULL (it is no secret, and "3 rows NULL" is the news). Counts, percentages and primary
keys of other columns stay readable.

The redaction happens once, on GX's result dicts, right after each pass (`runner`): the
messages, `observed` and `details`, the results store, the task log, the run report and
the Data Docs site are all built from what is left, so none can show the value.

Which columns are sensitive (`Sensitive`): those a spec check's `sensitive_columns` or a
suite's `meta.sensitive_columns` name (names or globs, any case), and by default any
column whose name matches `DEFAULT_PATTERNS` (`*password*`, `*token*`, ...), except those
`not_sensitive_columns` names (`["*"]`: no default pattern applies).

The key: a random one kept in `<state>/redaction.key` (created on first use, mode 0600),
the state folder every task of a deployment shares already (Data Docs, reports); when that
cannot be written, a key for this process only. A keyed hash, not a bare SHA-256: 32 bits
of an unkeyed hash of a weak password are enough to find it in a list of common ones.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vigil.quality.paths import state_dir

if TYPE_CHECKING:
    from vigil.quality.gx_run import Outcome

log = logging.getLogger("vigil")

# Column names treated as sensitive unless `not_sensitive_columns` says otherwise.
DEFAULT_PATTERNS = (
    "*password*",
    "*passwd*",
    "*secret*",
    "*token*",
    "*api_key*",
    "*apikey*",
    "*private_key*",
    "*credential*",
)
KEY_FILE = "redaction.key"
# Expectations whose observed value is a count, a proportion or a type name, never a
# value of the column: kept. Any other observed value of a sensitive column (min, max,
# median, mean, most common value, distinct values ...) is redacted.
_OBSERVED_NOT_DATA = frozenset(
    {
        "expect_column_unique_value_count_to_be_between",
        "expect_column_proportion_of_unique_values_to_be_between",
        "expect_column_values_to_be_of_type",
        "expect_column_values_to_be_in_type_list",
        "expect_column_to_exist",
        "expect_column_kl_divergence_to_be_less_than",
    }
)
_SAMPLES = ("partial_unexpected_list", "unexpected_list")
_COUNTS = ("partial_unexpected_counts", "unexpected_counts")
_INDEXES = ("partial_unexpected_index_list", "unexpected_index_list")


class Redacted(str):
    """A value replaced by its redaction; messages show it bare, not quoted."""

    __slots__ = ()


@dataclass(frozen=True)
class Sensitive:
    """Which column names are sensitive: `columns` (declared), else `patterns` unless
    `exempt` names them. Names and globs match in any case."""

    columns: tuple[str, ...] = ()
    exempt: tuple[str, ...] = ()
    patterns: tuple[str, ...] = DEFAULT_PATTERNS

    def __call__(self, column: str) -> bool:
        name = column.lower()
        if _matches(name, self.columns):
            return True
        return not _matches(name, self.exempt) and _matches(name, self.patterns)

    def plus(self, columns: Iterable[str] = (), exempt: Iterable[str] = ()) -> Sensitive:
        """These rules and more (a suite's own, added to its spec check's)."""
        return replace(self, columns=(*self.columns, *columns), exempt=(*self.exempt, *exempt))


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatchcase(name, p.lower()) for p in patterns)


def redaction(value: Any) -> Any:
    """`value` as `«redacted 1a2b3c4d»`; None stays None."""
    if value is None or isinstance(value, Redacted):
        return value
    text = value if isinstance(value, str) else str(value)
    digest = hmac.new(_key(), text.encode("utf-8", "surrogatepass"), hashlib.sha256)
    return Redacted(f"«redacted {digest.hexdigest()[:8]}»")


def outcome(
    found: Outcome,
    kind: str,
    kwargs: dict[str, Any],
    sensitive: Sensitive,
    table_columns: Sequence[str] = (),
) -> Outcome:
    """`found` (one GX pass's outcome of expectation `kind`) with sampled values of
    sensitive columns redacted, in Vigil's copy and in GX's own result (Data Docs)."""
    if found.error is not None:
        return _errored(found, kwargs, sensitive, table_columns)
    if not found.result:
        return found
    cleaned = result(kind, kwargs, found.result, sensitive, table_columns)
    if found.raw is not None:
        found.raw.result = cleaned
    return replace(found, result=cleaned)


def result(
    kind: str,
    kwargs: dict[str, Any],
    found: dict[str, Any],
    sensitive: Sensitive,
    table_columns: Sequence[str] = (),
) -> dict[str, Any]:
    """A copy of GX's result dict for expectation `kind` without sensitive values."""
    out = _rows_redacted(dict(found), kwargs, sensitive, table_columns)
    columns = _columns(kwargs)
    flags = [sensitive(c) for c in columns]
    if not any(flags):
        return out
    for key in _SAMPLES:
        if isinstance(out.get(key), list):
            out[key] = [_sample(v, columns, flags, sensitive) for v in out[key]]
    for key in _COUNTS:
        if isinstance(out.get(key), list):
            out[key] = [_counted(e, columns, flags, sensitive) for e in out[key]]
    if "observed_value" in out and kind not in _OBSERVED_NOT_DATA:
        out["observed_value"] = _leaves(out["observed_value"])
    if isinstance(out.get("details"), dict):
        out["details"] = {
            k: v if k in ("mismatched", "unexpected_rows") else _leaves(v)
            for k, v in out["details"].items()
        }
    return out


def _rows_redacted(
    out: dict[str, Any], kwargs: dict[str, Any], sensitive: Sensitive, table_columns: Sequence[str]
) -> dict[str, Any]:
    """Rows in `out` (named by primary key, or an unexpected-rows query's) with the values
    of sensitive columns redacted, whatever the expectation is about."""
    for key in _INDEXES:
        if isinstance(out.get(key), list):
            out[key] = [_row(r, sensitive) for r in out[key]]
    details = out.get("details")
    if isinstance(details, dict) and isinstance(details.get("unexpected_rows"), list):
        query = str(kwargs.get("unexpected_rows_query") or "")
        hides = _alias_rule(query, sensitive, table_columns)
        rows = [_row(r, sensitive, hides) for r in details["unexpected_rows"]]
        out["details"] = {**details, "unexpected_rows": rows}
    return out


_QUOTED = re.compile(r""""(?P<dq>[^"\n]*)"|'(?P<sq>[^'\n]*)'""")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


def _errored(
    found: Outcome, kwargs: dict[str, Any], sensitive: Sensitive, table_columns: Sequence[str]
) -> Outcome:
    """An expectation that could not run: its error may quote a value of the data
    (`invalid input syntax for type integer: "<token>"`). When the expectation or its query
    touches a sensitive column, each quoted literal in the error (and in GX's exception_info,
    for Data Docs) is redacted, except the names of columns and words of the query."""
    query = str(kwargs.get("unexpected_rows_query") or "")
    words = {w.lower() for w in _WORD.findall(query)}
    touched = (
        any(sensitive(c) for c in _columns(kwargs))
        or any(sensitive(c) and c.lower() in words for c in table_columns)
        or any(sensitive(w) for w in words)
    )
    if not touched:
        return found
    keep = words | {c.lower() for c in table_columns} | {c.lower() for c in _columns(kwargs)}

    def literal(match: re.Match[str]) -> str:
        inner = match["dq"] if match["dq"] is not None else match["sq"]
        if not inner or inner.lower() in keep:
            return match[0]
        quote = match[0][0]
        return f"{quote}{redaction(inner)}{quote}"

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return _QUOTED.sub(literal, value)
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    info = getattr(found.raw, "exception_info", None)
    if info:
        found.raw.exception_info = clean(info)
    return replace(found, error=clean(found.error), result=clean(found.result))


def _columns(kwargs: dict[str, Any]) -> list[str]:
    """The columns an expectation is about, in the order GX reports a row's values."""
    if isinstance(kwargs.get("column"), str):
        return [kwargs["column"]]
    pair = [kwargs.get("column_A"), kwargs.get("column_B")]
    if all(isinstance(c, str) for c in pair):
        return [str(c) for c in pair]
    listed = kwargs.get("column_list")
    return [str(c) for c in listed] if isinstance(listed, list) else []


def _sample(value: Any, columns: list[str], flags: list[bool], sensitive: Sensitive) -> Any:
    """One sampled value: a row of several columns redacted where its column is
    sensitive; a value that cannot be lined up with its columns, whole."""
    if isinstance(value, dict):
        return _row(value, sensitive)
    if isinstance(value, list | tuple) and len(columns) > 1 and len(value) == len(columns):
        return [redaction(v) if f else v for v, f in zip(value, flags, strict=True)]
    return _leaves(value)


def _counted(entry: Any, columns: list[str], flags: list[bool], sensitive: Sensitive) -> Any:
    if isinstance(entry, dict) and "value" in entry:
        return {**entry, "value": _sample(entry["value"], columns, flags, sensitive)}
    return _leaves(entry)


def _row(row: Any, sensitive: Sensitive, hides: Callable[[str], bool] = lambda _: False) -> Any:
    if not isinstance(row, dict):
        return row
    return {k: redaction(v) if sensitive(str(k)) or hides(str(k)) else v for k, v in row.items()}


def _leaves(value: Any) -> Any:
    """Every value inside `value` redacted (keys kept)."""
    if isinstance(value, dict):
        return {k: _leaves(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_leaves(v) for v in value]
    return redaction(value)


def _alias_rule(
    query: str, sensitive: Sensitive, table_columns: Sequence[str]
) -> Callable[[str], bool]:
    """An unexpected-rows query that mentions a sensitive column of the table may return
    it under another name (`hashed_password AS pw`, an expression): then every returned
    column that is not one of the table's is redacted too."""
    if not table_columns:
        return lambda _: False
    words = {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_$]*", query)}
    if not any(sensitive(c) and c.lower() in words for c in table_columns):
        return lambda _: False
    known = {c.lower() for c in table_columns}
    return lambda name: name.lower() not in known


# --- the key ---------------------------------------------------------------------------

_keys: dict[Path, bytes] = {}  # per state folder: read once per process


def _key() -> bytes:
    path = state_dir() / KEY_FILE
    if path not in _keys:
        _keys[path] = _stored_key(path)
    return _keys[path]


def _stored_key(path: Path) -> bytes:
    """The installation's key in `path`, written on first use; a process-only key when
    the state folder cannot hold one (hashes then compare within this process only)."""
    try:
        try:
            key = path.read_bytes().strip()
        except FileNotFoundError:
            key = _new_key(path)
        if key:
            return key
        reason = "empty file"
    except OSError as exc:
        reason = exc.strerror or str(exc)
    log.warning(
        "redaction key %s unusable (%s): redactions compare within this process only",
        path,
        reason,
    )
    return secrets.token_hex(32).encode()


def _new_key(path: Path) -> bytes:
    """Write a new key to `path` atomically (never seen half-written); when another task
    wrote one first, theirs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(key)
        os.link(draft, path)  # fails if the key exists: no task overwrites another's
    except FileExistsError:
        return path.read_bytes().strip()
    finally:
        draft.unlink(missing_ok=True)
    return key
