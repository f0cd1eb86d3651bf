"""Rewriting a Great Expectations 0.x suite as a 1.x suite Vigil can run (`vigil suites
migrate`), saying what changed and what could not be carried over.

- keys: `expectation_suite_name` -> `name`, `expectation_type` -> `type`, `ge_cloud_id` ->
  `id`, `expectation_context.description` -> `description`; `data_asset_type`,
  `data_asset_name` and `rendered_content` go (1.x has none, or rebuilds it);
- kwargs: `result_format`, `catch_exceptions`, `include_config` go (run-time options,
  which Vigil chooses); so do arguments 1.x no longer has (`parse_strings_as_datetimes`,
  `allow_cross_type_comparisons`, ...), each named with what it meant; a null argument goes
  too, so GX's default applies; an evaluation parameter defined in the suite is inlined;
  a simple pandas `row_condition` is rewritten in GX's own syntax;
- expectations renamed in 1.x are renamed; one that is not in GX 1.x, that still does not
  build, or that GX's SQL engine cannot run is left out, and kept, with the reason, under
  the suite's `meta.vigil_not_migrated`: nothing in the file is lost.

The result passes `load_suite`: every expectation kept was built by GX and asked whether
PostgreSQL can run it. GX is imported (to build them).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vigil.quality import legacy

RUNTIME_KWARGS = ("result_format", "catch_exceptions", "include_config")
RENAMED = {
    # Deprecated in 0.13 for the name 1.x keeps.
    "expect_multicolumn_values_to_be_unique": (
        "expect_select_column_values_to_be_unique_within_record"
    ),
}
_DISTRIBUTION_TESTS = (
    "GX 1.0 removed its statistical tests; expect_column_kl_divergence_to_be_less_than "
    "compares a column with a partition"
)
REMOVED = {
    "expect_column_chisquare_test_p_value_to_be_greater_than": _DISTRIBUTION_TESTS,
    "expect_column_bootstrapped_ks_test_p_value_to_be_greater_than": _DISTRIBUTION_TESTS,
    "expect_column_parameterized_distribution_ks_test_p_value_to_be_greater_than": (
        _DISTRIBUTION_TESTS
    ),
    "expect_column_pair_cramers_phi_value_to_be_less_than": (
        "GX 1.0 removed it, with no replacement"
    ),
}
GONE_KWARGS = {
    "parse_strings_as_datetimes": (
        "1.x compares values as the database stores them: a date or timestamp column "
        "compares as dates, a text column as text"
    ),
    "allow_cross_type_comparisons": "1.x compares values as the database types them",
    "output_strftime_format": "1.x reports values as the database returns them",
    "target_datasource": "1.x reads type names of the data source it runs on",
}
NOT_MIGRATED = "vigil_not_migrated"


@dataclass
class Migration:
    """A migrated suite and what the migration did to it."""

    suite: dict[str, Any]
    already_1x: bool = False
    carried: int = 0
    renamed: Counter[str] = field(default_factory=Counter)  # "a -> b": how many times
    dropped: Counter[str] = field(default_factory=Counter)  # key or kwarg: how many times
    changed: list[str] = field(default_factory=list)  # "expectations[3] (type): what"
    left_out: list[str] = field(default_factory=list)  # "expectations[3] (type): why"


def migrate_file(path: str | Path) -> Migration:
    """The 0.x suite at `path` as 1.x (`already_1x`, unchanged, when it is not 0.x).
    Raises OSError or ValueError (not JSON) for a file it cannot read."""
    path = Path(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    if not legacy.is_legacy(data):
        return Migration(suite=data, already_1x=True)
    return migrate(data, path.stem)


def migrate(data: dict[str, Any], default_name: str) -> Migration:
    """A 0.x suite (GX's JSON, as a dict) rewritten as a 1.x suite."""
    out = Migration(suite={})
    name = data.get("expectation_suite_name") or data.get("name") or default_name
    out.renamed["expectation_suite_name -> name"] += "expectation_suite_name" in data
    suite: dict[str, Any] = {"name": str(name)}
    if data.get("ge_cloud_id"):
        suite["id"] = data["ge_cloud_id"]
    keep = {"expectation_suite_name", "name", "expectations", "meta", "notes", "ge_cloud_id"}
    out.dropped.update(key for key in data if key not in keep)
    params = data.get("evaluation_parameters") or {}
    expectations, left = [], []
    seen: dict[str, int] = {}
    for index, item in enumerate(data.get("expectations") or []):
        noted = len(out.changed)
        new, why = _expectation(index, item, params, out)
        body = json.dumps(new and [new["type"], new["kwargs"]], sort_keys=True, default=str)
        if new is not None and body in seen:
            why = f"repeats expectations[{seen[body]}] exactly"
        if new is not None and why is None:
            seen[body] = index
            expectations.append(new)
            continue
        del out.changed[noted:]  # what it changed in an expectation left out is moot
        kind = _type_of(item)
        out.left_out.append(f"expectations[{index}] ({kind}): {why}")
        left.append({"expectation_type": kind, "kwargs": _kwargs_of(item), "why": why})
    suite["expectations"] = expectations
    meta = dict(data.get("meta") or {})
    if left:
        meta[NOT_MIGRATED] = left
    suite["meta"] = meta
    if data.get("notes"):
        suite["notes"] = data["notes"]
    out.suite, out.carried = suite, len(expectations)
    return out


def _type_of(item: Any) -> str:
    kind = item.get("expectation_type") or item.get("type") if isinstance(item, dict) else None
    return str(kind) if kind else "?"


def _kwargs_of(item: Any) -> dict[str, Any]:
    kwargs = item.get("kwargs") if isinstance(item, dict) else None
    return dict(kwargs) if isinstance(kwargs, dict) else {}


def _expectation(
    index: int, item: Any, params: dict[str, Any], out: Migration
) -> tuple[dict[str, Any] | None, str | None]:
    """One expectation as 1.x, or None and why it cannot be carried over."""
    from vigil.quality.expectation_errors import build_errors
    from vigil.quality.runnable import sql_problems

    if not isinstance(item, dict):
        return None, f"not an expectation (a {type(item).__name__})"
    kind, why = _new_type(_type_of(item), out)
    if kind is None:
        return None, why
    label = f"expectations[{index}] ({kind})"
    kwargs, why = _new_kwargs(kind, _kwargs_of(item), params, out, label)
    if kwargs is None:
        return None, why
    problems = build_errors(kind, kwargs) or sql_problems(kind, kwargs)
    if problems:
        return None, "; ".join(problems)
    new: dict[str, Any] = {"type": kind, "kwargs": kwargs, "meta": item.get("meta") or {}}
    out.renamed["expectation_type -> type"] += "expectation_type" in item
    if item.get("ge_cloud_id"):
        new["id"] = item["ge_cloud_id"]
    context = item.get("expectation_context")
    if isinstance(context, dict) and context.get("description"):
        new["description"] = context["description"]
    allowed = {"expectation_type", "type", "kwargs", "meta", "ge_cloud_id"}
    out.dropped.update(key for key in item if key not in allowed)
    return new, None


def _new_type(kind: str, out: Migration) -> tuple[str | None, str | None]:
    """`kind`'s name in GX 1.x, or None and why there is none."""
    from vigil.quality._gx import gx

    gx()
    from great_expectations.expectations.registry import _registered_expectations

    new = RENAMED.get(kind) or (kind.lower() if kind.lower() in _registered_expectations else "")
    if new and new != kind:
        out.renamed[f"{kind} -> {new}"] += 1
    if new:
        return new, None
    return None, REMOVED.get(kind, "not an expectation of GX 1.x (removed, or from a plugin)")


def _new_kwargs(
    kind: str, kwargs: dict[str, Any], params: dict[str, Any], out: Migration, label: str
) -> tuple[dict[str, Any] | None, str | None]:
    """`kwargs` as `kind` takes them in 1.x, or None and why that cannot be."""
    from great_expectations.expectations.registry import get_expectation_impl

    from vigil.quality.expectation_errors import own_arguments

    own = own_arguments(get_expectation_impl(kind))
    new = {}
    for key, value in kwargs.items():
        if key in RUNTIME_KWARGS or (value is None and key in own):
            out.dropped[f"kwargs.{key}" if value is not None else "null kwargs"] += 1
        elif key not in own:
            reason = GONE_KWARGS.get(key, f"{kind} has no such argument in 1.x")
            out.changed.append(f"{label}: dropped {key}={json.dumps(value)}: {reason}")
        elif isinstance(value, dict) and "$PARAMETER" in value:
            name = value["$PARAMETER"]
            if name not in params:
                return None, (
                    f"{key} is the evaluation parameter {name!r}, which Vigil cannot supply "
                    "(it runs suites without parameters): write the value instead"
                )
            new[key] = params[name]
            out.changed.append(f"{label}: {key} = {json.dumps(params[name])} (was ${name})")
        else:
            new[key] = value
    return _condition(new, out, label)


def _condition(
    kwargs: dict[str, Any], out: Migration, label: str
) -> tuple[dict[str, Any] | None, str | None]:
    """A row condition GX's SQL engine reads, or None and why there is none."""
    from vigil.quality.runnable import sql_parsers, translate_condition

    parser, condition = kwargs.get("condition_parser"), kwargs.get("row_condition")
    if parser is None or parser == sql_parsers()[0]:
        return kwargs, None
    if parser in sql_parsers() or not condition:
        out.renamed[f"condition_parser {parser} -> {sql_parsers()[0]}"] += 1
        return {**kwargs, "condition_parser": sql_parsers()[0]}, None
    translated = translate_condition(str(condition))
    if translated is None:
        return None, (
            f"row_condition {condition!r} is {parser} syntax, which PostgreSQL cannot run, "
            "and more than comparisons joined by 'and': write it in GX 1.x's form"
        )
    rest = {k: v for k, v in kwargs.items() if k != "condition_parser"}
    out.changed.append(f"{label}: {parser} row_condition {condition!r} -> {json.dumps(translated)}")
    return {**rest, "row_condition": translated}, None


def report(path: str, found: Migration) -> str:
    """What the migration of `path` did, for people."""
    if found.already_1x:
        return f"{path}: already a GX 1.x suite: nothing to do"
    lines = [f"{path}: GX 0.x -> 1.x, {found.carried} expectation(s) carried over"]
    renamed = [f"{k} ({n})" if n > 1 else k for k, n in found.renamed.items() if n]
    if renamed:
        lines.append("  renamed: " + ", ".join(renamed))
    dropped = [f"{k} ({n})" if n > 1 else k for k, n in found.dropped.items() if n]
    if dropped:
        lines.append("  dropped: " + ", ".join(dropped))
    lines += [f"  changed: {c}" for c in found.changed]
    if found.left_out:
        lines.append(f"  not carried over (kept in meta.{NOT_MIGRATED}):")
        lines += [f"    {c}" for c in found.left_out]
    return "\n".join(lines)
