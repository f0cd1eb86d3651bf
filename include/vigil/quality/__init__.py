"""Data quality: Great Expectations suites validated against PostgreSQL, as CheckResults.

Importing this package (or `vigil.quality.suites`' error type) never imports Great
Expectations: DAG files and the spec loader may import it freely. GX is imported on the
first validation, by `vigil.quality._gx.gx()`, with its logging tamed.

Entry points:
- `vigil.quality.runner.validate_table(conn, suite_path, table, ...) -> list[CheckResult]`
- `vigil.quality.suites.load_suite(path) -> Suite` (raises `SuiteError`)
- `vigil.quality.schema_drift.snapshot(conn, schemas) -> dict` and `compare(expected, live)`
"""
