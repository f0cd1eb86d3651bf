"""Schema drift: what a live database's structure is, and what changed against a snapshot.

`snapshot(conn, schemas)` reads tables (and views), columns and their types, nullability
and defaults, indexes and constraints from the PostgreSQL catalog, in one read-only
session, into a plain dict that round-trips through JSON and YAML. `compare(expected,
live)` turns every difference into one failed CheckResult that names the object (a
dropped table is one result, not one per column), or one passed result when nothing
drifted. No Great Expectations here: the catalog answers in a few milliseconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2
import yaml

from vigil.quality.connection import ConnLike, database
from vigil.result import CheckResult, Severity, Status

KIND = "quality"
FORMAT_VERSION = 1
_RELKINDS = {
    "r": "table",
    "p": "partitioned table",
    "v": "view",
    "m": "materialized view",
    "f": "foreign table",
}
_CONTYPES = {
    "p": "primary key",
    "f": "foreign key",
    "u": "unique",
    "c": "check",
    "x": "exclusion",
    "t": "trigger",
    "n": "not null",
}

_TABLES = """
SELECT n.nspname, c.relname, c.relkind FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND c.relkind = ANY(%(kinds)s)"""
_COLUMNS = """
SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid)
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = ANY(%(schemas)s) AND c.relkind = ANY(%(kinds)s)
  AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY n.nspname, c.relname, a.attnum"""
_INDEXES = """
SELECT n.nspname, t.relname, i.relname, pg_get_indexdef(i.oid) FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = ANY(%(schemas)s)"""
_CONSTRAINTS = """
SELECT n.nspname, t.relname, k.conname, k.contype::text, pg_get_constraintdef(k.oid)
FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = ANY(%(schemas)s)"""


class SnapshotError(ValueError):
    """An expected snapshot that cannot be read or has the wrong shape."""


def snapshot(conn: ConnLike, schemas: Iterable[str] = ("public",)) -> dict[str, Any]:
    """The structure of `schemas` in a live database, as a JSON/YAML-able dict."""
    wanted = sorted(set(schemas))
    db = database(conn, statement_timeout_s=60)
    params = {"schemas": wanted, "kinds": list(_RELKINDS)}
    session = db.connect()
    try:
        with session.cursor() as cur:
            cur.execute("SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)", (wanted,))
            found: dict[str, Any] = {name: {"tables": {}} for (name,) in sorted(cur.fetchall())}
            cur.execute(_TABLES, params)
            for schema, table, relkind in sorted(cur.fetchall()):
                found[schema]["tables"][table] = {
                    "kind": _RELKINDS[relkind],
                    "columns": {},
                    "indexes": {},
                    "constraints": {},
                }
            _fill(cur, _COLUMNS, params, found, "columns", _column)
            _fill(
                cur,
                _INDEXES,
                params,
                found,
                "indexes",
                lambda row: (row[0], {"definition": row[1]}),
            )
            _fill(cur, _CONSTRAINTS, params, found, "constraints", _constraint)
        session.rollback()
    finally:
        session.close()
    return {"format": FORMAT_VERSION, "database": db.name, "schemas": found}


def _fill(
    cur: Any, sql: str, params: dict[str, Any], found: dict[str, Any], section: str, shape: Any
) -> None:
    cur.execute(sql, params)
    for schema, table, *rest in cur.fetchall():
        entry = found.get(schema, {}).get("tables", {}).get(table)
        if entry is not None:  # an index or constraint of a relation kind not tracked
            name, value = shape(rest)
            entry[section][name] = value
    if section != "columns":  # columns keep their table order; the rest sort by name
        for tables in found.values():
            for entry in tables["tables"].values():
                entry[section] = dict(sorted(entry[section].items()))


def _column(row: list[Any]) -> tuple[str, dict[str, Any]]:
    name, type_, notnull, default = row
    return name, {"type": type_, "nullable": not notnull, "default": default}


def _constraint(row: list[Any]) -> tuple[str, dict[str, Any]]:
    name, contype, definition = row
    return name, {"type": _CONTYPES.get(contype, contype), "definition": definition}


def dump_snapshot(snap: dict[str, Any], path: str | Path) -> None:
    """Write a snapshot as YAML (.yaml/.yml) or JSON (anything else)."""
    path = Path(path)
    if path.suffix in (".yaml", ".yml"):
        path.write_text(dump_yaml(snap))
    else:
        path.write_text(json.dumps(snap, indent=2) + "\n")


def dump_yaml(snap: dict[str, Any]) -> str:
    """A snapshot as YAML, one definition per line (a diff shows what changed)."""
    body = yaml.safe_dump(snap, sort_keys=False, width=100_000, allow_unicode=True)
    return _HEADER + body


_HEADER = (
    "# Schema snapshot for a schema_drift check, written by `vigil snapshot-schema`.\n"
    "# Commit it; write it again after an intended schema change.\n"
)


def load_snapshot(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text()
        data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise SnapshotError(f"{path}: cannot read schema snapshot: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("schemas"), dict):
        raise SnapshotError(
            f"{path}: not a schema snapshot (no 'schemas' mapping); "
            "write one with vigil.quality.schema_drift.dump_snapshot"
        )
    return data


def compare(
    expected: dict[str, Any],
    live: dict[str, Any],
    *,
    target: str = "database",
    prefix: str = "schema_drift",
    severity: Severity = Severity.CRITICAL,
) -> list[CheckResult]:
    """One failed result per drifted object, or one passed result when nothing drifted."""
    started = datetime.now(UTC)
    drifts = list(_diff_schemas(expected.get("schemas") or {}, live.get("schemas") or {}))
    if not drifts:
        counts = _counts(live)
        return [
            CheckResult(
                check_id=prefix,
                family=KIND,
                target=target,
                status=Status.PASSED,
                severity=severity,
                started_at=started,
                observed=counts,
                expected=_counts(expected),
                message=f"no schema drift in {live.get('database', target)}: "
                + ", ".join(f"{n} {k}" for k, n in counts.items())
                + " match the snapshot",
            )
        ]
    return [
        CheckResult(
            check_id=f"{prefix}.{key}",
            family=KIND,
            target=target,
            status=Status.FAILED,
            severity=severity,
            started_at=started,
            observed=now,
            expected=was,
            message=message,
            details={"object": key, "change": change},
        )
        for key, change, was, now, message in drifts
    ]


Drift = tuple[str, str, Any, Any, str]


def _diff_schemas(expected: dict[str, Any], live: dict[str, Any]) -> Iterable[Drift]:
    for schema in sorted(set(expected) | set(live)):
        if schema not in live:
            n = len(expected[schema].get("tables", {}))
            yield (
                schema,
                "removed",
                expected[schema],
                None,
                f"schema {schema} removed (had {n} tables)",
            )
        elif schema not in expected:
            yield schema, "added", None, live[schema], f"schema {schema} added"
        else:
            yield from _diff_tables(
                schema, expected[schema].get("tables", {}), live[schema].get("tables", {})
            )


def _diff_tables(schema: str, expected: dict[str, Any], live: dict[str, Any]) -> Iterable[Drift]:
    for table in sorted(set(expected) | set(live)):
        key, label = f"{schema}.{table}", table if schema == "public" else f"{schema}.{table}"
        was, now = expected.get(table), live.get(table)
        if now is None:
            kind = (was or {}).get("kind", "table")
            yield key, "removed", was, None, f"{kind} {label} removed"
        elif was is None:
            cols = ", ".join(now.get("columns", {}))
            yield key, "added", None, now, f"{now.get('kind', 'table')} {label} added ({cols})"
        else:
            yield from _diff_objects(key, label, was, now)


_SECTIONS = (("columns", "column"), ("indexes", "index"), ("constraints", "constraint"))


def _diff_objects(
    key: str,
    label: str,
    was: dict[str, Any],
    now: dict[str, Any],
) -> Iterable[Drift]:
    if was.get("kind") != now.get("kind"):
        yield (
            key,
            "changed",
            was.get("kind"),
            now.get("kind"),
            f"{label}: was a {was.get('kind')}, now a {now.get('kind')}",
        )
    for section, noun in _SECTIONS:
        old, new = was.get(section) or {}, now.get(section) or {}
        for name in sorted(set(old) | set(new)):
            where = f"{key}.{noun}.{name}"
            if name not in new:
                yield (
                    where,
                    "removed",
                    old[name],
                    None,
                    f"{label}: {noun} {name} removed (was {_describe(old[name])})",
                )
            elif name not in old:
                yield (
                    where,
                    "added",
                    None,
                    new[name],
                    f"{label}: {noun} {name} added ({_describe(new[name])})",
                )
            elif old[name] != new[name]:
                yield (
                    where,
                    "changed",
                    old[name],
                    new[name],
                    f"{label}: {noun} {name} changed: {_change(old[name], new[name])}",
                )


def _describe(obj: dict[str, Any]) -> str:
    if "definition" in obj:
        return str(obj["definition"])
    text = f"{obj.get('type')}{'' if obj.get('nullable', True) else ' NOT NULL'}"
    return text + (f" DEFAULT {obj['default']}" if obj.get("default") is not None else "")


def _change(old: dict[str, Any], new: dict[str, Any]) -> str:
    parts = [
        f"{k} {json.dumps(old.get(k))} → {json.dumps(new.get(k))}"
        for k in sorted(set(old) | set(new))
        if old.get(k) != new.get(k)
    ]
    return "; ".join(parts)


def _counts(snap: dict[str, Any]) -> dict[str, int]:
    tables = [t for s in (snap.get("schemas") or {}).values() for t in s.get("tables", {}).values()]
    return {
        "schemas": len(snap.get("schemas") or {}),
        "tables": len(tables),
        "columns": sum(len(t.get("columns", {})) for t in tables),
        "indexes": sum(len(t.get("indexes", {})) for t in tables),
        "constraints": sum(len(t.get("constraints", {})) for t in tables),
    }


def check_drift(
    conn: ConnLike,
    expected: dict[str, Any] | str | Path,
    *,
    target: str = "database",
    prefix: str = "schema_drift",
    severity: Severity = Severity.CRITICAL,
) -> list[CheckResult]:
    """Snapshot the live database's schemas named in `expected` and compare; a snapshot
    that cannot be read or a database that cannot be reached is one `error` result."""
    started, t0 = datetime.now(UTC), time.perf_counter()
    try:
        wanted = expected if isinstance(expected, dict) else load_snapshot(expected)
        live = snapshot(conn, schemas=list(wanted.get("schemas") or {}) or ["public"])
    except (SnapshotError, psycopg2.Error) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        db = database(conn)
        return [
            CheckResult(
                check_id=prefix,
                family=KIND,
                target=target,
                status=Status.ERROR,
                severity=severity,
                started_at=started,
                duration_ms=round((time.perf_counter() - t0) * 1000, 3),
                message=f"schema drift check of {db.describe()} could not run: {db.mask(reason)}",
                details={"error": db.mask(reason)},
            )
        ]
    results = compare(wanted, live, target=target, prefix=prefix, severity=severity)
    ms = round((time.perf_counter() - t0) * 1000, 3)
    return [r.model_copy(update={"started_at": started, "duration_ms": ms}) for r in results]
