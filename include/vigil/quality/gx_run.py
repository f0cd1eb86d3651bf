"""The GX side of a validation: one ephemeral context, one batch, passes of expectations.

Path (GX 1.24): ephemeral context → Postgres data source → table asset (or a query asset
when rows are filtered) → whole-table batch definition → GX's v1 `Validator`, which is
what `ValidationDefinition.run` calls, minus the results-store write (see `plan`).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any

from vigil.quality._gx import ephemeral_context, gx
from vigil.quality.connection import Database
from vigil.quality.plan import Step, register_custom


@dataclass(frozen=True)
class Outcome:
    """What GX said about one expectation: success, its result dict, or why it could not run."""

    success: bool
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    # GX's own ExpectationValidationResult, kept for the Data Docs site (`docs`).
    raw: Any = field(default=None, compare=False, repr=False)


class Batch:
    """One table (optionally filtered) of one database, ready for passes of expectations.

    Both passes go through one GX Validator: its execution engine keeps the table's column
    metadata, so the evidence pass does not reflect the table again.
    """

    def __init__(self, db: Database, schema: str, table: str, row_filter: str | None) -> None:
        register_custom()
        from great_expectations.validator.v1_validator import Validator

        source = _source(ephemeral_context(), db)
        _exact_identifiers(source.get_execution_engine().engine)
        asset = _asset(source, schema, table, row_filter)
        self._validator = Validator(
            batch_definition=asset.add_batch_definition_whole_table("whole")
        )
        self._passes = 0
        # GX's meta of the first pass's suite result (batch, run, time): Data Docs shows it.
        self.meta: dict[str, Any] = {}

    def run(self, steps: list[Step], result_format: dict[str, Any]) -> list[Outcome]:
        """Validate `steps` in one GX pass; one Outcome per step, in order.

        GX returns results in its own order, so each expectation carries its step number
        in `meta`. `ValidationDefinition.run` is this same Validator call plus writing the
        results into the context's store, which serialises every value (see `plan`).
        """
        great_expectations = gx()
        from great_expectations.expectations.registry import get_expectation_impl

        self._passes += 1
        expectations = [
            get_expectation_impl(s.type)(**s.kwargs, meta={_STEP: i}) for i, s in enumerate(steps)
        ]
        suite = great_expectations.ExpectationSuite(
            name=f"vigil-pass-{self._passes}", expectations=expectations
        )
        self._validator.result_format = result_format
        validated = self._validator.validate_expectation_suite(suite)
        if not self.meta:
            self.meta = dict(validated.meta or {})
        results = validated.results
        by_step = {_step_of(r): r for r in results}
        return [_outcome(by_step.get(i)) for i in range(len(steps))]


def _source(ctx: Any, db: Database) -> Any:
    url = db.sqlalchemy_url()
    # GX's Postgres data source validates its URL as a DSN with a host; a socket directory
    # is not one, so socket connections go through GX's generic SQL data source.
    if db.uses_socket:
        return ctx.data_sources.add_sql(name="vigil", connection_string=url)
    return ctx.data_sources.add_postgres(name="vigil", connection_string=url)


def _asset(source: Any, schema: str, table: str, row_filter: str | None) -> Any:
    name = f"{schema}.{table}"
    if row_filter:
        query = f"SELECT * FROM {quote(schema)}.{quote(table)} WHERE {row_filter}"
        return source.add_query_asset(name=name, query=query)
    # GX 1.24 deprecates schema_name in favour of a schema in the connection (a
    # search_path), which would also change how names in custom queries resolve.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return source.add_table_asset(name=name, table_name=exact(table), schema_name=exact(schema))


class _ExactKeys(dict):  # type: ignore[type-arg]
    """SQLAlchemy's cache of how to spell each identifier, keyed by its exact spelling.

    GX reflects a PostgreSQL table's column names as `CaseInsensitiveString`s, which hash
    and compare equal ignoring case. SQLAlchemy's identifier preparer caches its quoting
    decision per name in a dict, so a column `"Name"` looked up there found the entry of
    a plain `name` spelt earlier (SQLAlchemy's own reflection query labels a column
    `name`) and was sent unquoted: PostgreSQL folded it and read `name`, another column
    or none. Keying by the plain string restores one spelling per identifier.
    """

    def __contains__(self, key: object) -> bool:
        return super().__contains__(_plain(key))

    def __getitem__(self, key: Any) -> Any:
        return super().__getitem__(_plain(key))

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(_plain(key), value)


def _plain(key: Any) -> Any:
    return str.__str__(key) if isinstance(key, str) else key


def _exact_identifiers(engine: Any) -> None:
    """Make `engine` spell every identifier exactly (see `_ExactKeys`).

    Its compiled-statement cache is keyed by the statements' names too, so a statement
    about `"Name"` could be served the SQL compiled for `name`: it is switched off for
    this engine (GX compiles a few dozen statements per validation; cost: milliseconds).
    """
    preparer = engine.dialect.identifier_preparer
    preparer._strings = _ExactKeys(preparer._strings)
    engine._compiled_cache = None


_STEP = "vigil_step"


def _step_of(result: Any) -> Any:
    config = result.expectation_config
    return (config.meta or {}).get(_STEP) if config is not None else None


def _outcome(result: Any) -> Outcome:
    if result is None:
        return Outcome(False, error="GX returned no result for this expectation")
    message = exception_message(result.exception_info)
    if message is not None:
        return Outcome(False, error=message, raw=result)
    return Outcome(bool(result.success), dict(result.result or {}), raw=result)


def exception_message(info: Any) -> str | None:
    """The first exception message in GX's exception_info (flat, or one per metric)."""
    if not info:
        return None
    entries = [info] if "raised_exception" in info else list(info.values())
    for entry in entries:
        raised = _get(entry, "raised_exception")
        if raised and raised != "False":
            return clean_error(str(_get(entry, "exception_message") or "unknown error"))
    return None


def _get(entry: Any, key: str) -> Any:
    return entry.get(key) if isinstance(entry, dict) else getattr(entry, key, None)


_DRIVER_PREFIX = re.compile(r"^\((?:psycopg2|sqlalchemy)[\w.]*\)\s*")


def clean_error(message: str) -> str:
    """A driver error without SQLAlchemy's SQL echo and background link, on one line."""
    text = message.split("\n[SQL:")[0].split("(Background on this error")[0]
    text = _DRIVER_PREFIX.sub("", text.strip()).removeprefix("Error: ")
    if "read-only transaction" in text:
        return (
            "refused by the database: the query tried to write, and validation runs in "
            f"read-only transactions ({' '.join(text.split())})"
        )
    if "statement timeout" in text:
        return f"timed out: {' '.join(text.split())}"
    return " ".join(text.split())


def exact(identifier: str) -> Any:
    """`identifier` as SQLAlchemy must send it: always quoted, so exactly this name."""
    from sqlalchemy.sql.elements import quoted_name

    return quoted_name(identifier, quote=True)


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
