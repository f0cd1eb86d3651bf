"""Data quality: Great Expectations suites validated against PostgreSQL, as CheckResults.

Importing this package (or `vigil.quality.suites`' error type) never imports Great
Expectations: DAG files and the spec loader may import it freely. GX is imported on the
first validation, by `vigil.quality._gx.gx()`, with its logging tamed.

Entry points:
- `vigil.quality.run.run_checks(checks, ctx) -> list[CheckResult]`: the `quality`
  family's runner, all quality checks of one postgres target (suites, schema drift, row-count
  change), then the run's Data Docs (`docs`);
- `vigil.quality.runner.validate_table(conn, suite_path, table, ...) -> list[CheckResult]`
  (`validate(...)` also returns what GX said, for Data Docs);
- `vigil.quality.suites.load_suite(path) -> Suite` (raises `SuiteError`);
- `vigil.quality.schema_drift.snapshot(conn, schemas) -> dict`, `compare(expected, live)`,
  `check_drift(conn, expected)`, `dump_snapshot` / `load_snapshot`;
- `vigil.quality.lint.lint_spec(spec) -> list[Problem]` (for `vigil check-spec`; what GX's
  SQL engine cannot run: `vigil.quality.runnable`);
- `vigil.quality.migrate.migrate_file(path) -> Migration` (GX 0.x suite -> 1.x);
- `vigil.quality.cli.add_snapshot_schema(subparsers)` (`vigil snapshot-schema`) and
  `add_suites(subparsers)` (`vigil suites migrate`);
- `vigil.quality.paths`: expectations folder, state folder, a run's Data Docs folder;
- `vigil.quality.redact`: sampled values of sensitive columns, redacted before any evidence
  is built (`Sensitive`, `DEFAULT_PATTERNS`).
"""

from __future__ import annotations

from vigil.family import Family
from vigil.quality.models import SchemaDriftCheck, SuiteCheck

FAMILY = "quality"

QUALITY = Family(
    name=FAMILY,
    description="do the databases hold the schema and the data they should "
    "(Great Expectations suites, schema drift)",
    models=(SuiteCheck, SchemaDriftCheck),
    runner="vigil.quality.run:run_checks",
    target_kinds=frozenset({"postgres"}),
    lint="vigil.quality.lint:lint_spec",
)

__all__ = ["FAMILY", "QUALITY"]
