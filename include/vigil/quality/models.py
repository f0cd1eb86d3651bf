"""The quality family's check models: Great Expectations suites and schema drift."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator

from vigil.quality.paths import relative_inside
from vigil.spec.base import CheckBase
from vigil.spec.validators import check_single_sql


class QualityBase(CheckBase):
    # The whole suite or snapshot runs in one database session, so it gets more time.
    timeout_s: float = Field(default=300.0, gt=0, le=3600)


class SuiteCheck(QualityBase):
    """A Great Expectations suite (GX's own JSON) run against one table of a postgres target.

    Each expectation becomes one result; its `meta.severity` (critical|warning) overrides
    the check's `severity`.
    """

    kind: Literal["suite"]
    # Path of the suite JSON, relative to the expectations folder (VIGIL_EXPECTATIONS_DIR,
    # default <repo>/expectations): "demo/orders.json".
    suite: str = Field(pattern=r"^[^/].*\.json$")
    table: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_$]*$")
    schema_name: str = Field(default="public", alias="schema", pattern=r"^[A-Za-z_][A-Za-z0-9_$]*$")
    # A SQL condition on the table's rows, e.g. "created_at >= now() - interval '1 day'".
    row_filter: str | None = None
    # Columns whose values evidence must never show (names or globs, any case): sampled
    # values become `«redacted 1a2b3c4d»` in messages, the store, reports and Data Docs.
    # Added to the suite's `meta.sensitive_columns` and the default patterns
    # (`vigil.quality.redact.DEFAULT_PATTERNS`: *password*, *secret*, *token*, ...).
    sensitive_columns: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    # Columns the default patterns match that are not sensitive (`token_count`); ["*"]
    # switches the default patterns off. Never overrides `sensitive_columns`.
    not_sensitive_columns: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)

    _inside = field_validator("suite")(relative_inside)

    @field_validator("row_filter")
    @classmethod
    def _one_expression(cls, text: str | None) -> str | None:
        return None if text is None else check_single_sql(text, "row_filter")

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )


class SchemaDriftCheck(QualityBase):
    """The live catalog (tables, columns, types, indexes, constraints) against a committed
    snapshot written by `vigil snapshot-schema`; every difference is one failed result."""

    kind: Literal["schema_drift"]
    snapshot: str = Field(pattern=r"^[^/].*\.(json|ya?ml)$")  # relative to the expectations folder
    schemas: list[str] = Field(default_factory=lambda: ["public"], min_length=1)

    _inside = field_validator("snapshot")(relative_inside)
