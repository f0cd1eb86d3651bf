"""The passes over a spec's data, once its YAML is read: scans of the raw data (literal
secrets, malformed `${...}`, infinite numbers, booleans for numbers), the cross-reference
pass, and pydantic validation, whose errors a scan already reported better are dropped.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from vigil.spec.errors import Problem, format_path
from vigil.spec.explain import Explanation, describe, explain
from vigil.spec.locate import walk
from vigil.spec.models import TARGET_KINDS, Spec, spec_model
from vigil.spec.parsed import Parsed
from vigil.spec.references import SpecReferenceError, reference_problems
from vigil.spec.scalars import booleans_for_numbers, non_finite
from vigil.spec.secrets import LiteralSecretError, find_literal_secrets, find_malformed_references


def check_data(parsed: Parsed) -> None:
    """Every problem of the data, all reported; `parsed.spec` set when there is none."""
    model = spec_model()  # the sections of the families registered now
    scans = _scan_problems(parsed, model)
    references = _reference_problems(parsed, model)
    _validate(parsed, model, scans, references)


def _scan_problems(parsed: Parsed, model: Any) -> list[Problem]:
    before = len(parsed.problems)
    for finding in find_literal_secrets(parsed.data):
        parsed.add_at(
            finding.loc,
            finding.message,
            mask=True,
            found="(a literal value)",
            expected="'${VAR_NAME}' or an Airflow conn_id",
        )
    for finding in find_malformed_references(parsed.data):
        parsed.add_at(finding.loc, finding.message, expected="'${NAME}' or '${NAME:-default}'")
    for loc, number in non_finite(parsed.data, model):
        parsed.add_at(
            loc,
            f"{describe(number)} is not a finite number; write a number",
            found=describe(number),
            expected="a finite number",
        )
    for loc in booleans_for_numbers(parsed.data, model):
        parsed.add_at(
            loc,
            "a boolean where a number is expected; write a number (YAML reads yes, no, on, "
            "off, true and false as booleans)",
            found="a boolean",
            expected="a number",
        )
    return parsed.problems[before:]


def _reference_problems(parsed: Parsed, model: type[Spec]) -> list[Problem]:
    if not isinstance(parsed.data, dict):
        return []
    before = len(parsed.problems)
    checks = parsed.data.get("checks")
    targets = parsed.data.get("targets")
    alerts = parsed.data.get("alerts")
    schedules = parsed.data.get("schedules")
    found = reference_problems(targets, checks, TARGET_KINDS, model.families(), alerts, schedules)
    for ref in found:
        parsed.add_at(ref.loc, ref.message, found=ref.found, expected=ref.expected, hint=ref.hint)
    return parsed.problems[before:]


def _validate(parsed: Parsed, model: Any, scans: list[Problem], references: list[Problem]) -> None:
    try:
        spec = model.model_validate(parsed.data)
    except ValidationError as exc:
        explained = [(e, explain(e, model)) for e in exc.errors()]
        kept = _without_repeats(explained, parsed, scans, references)
        _prefer_field_messages(parsed, kept, scans)
        for error, why in kept:
            cause = (error.get("ctx") or {}).get("error")
            secret = isinstance(cause, LiteralSecretError)
            _add_explanation(parsed, why, error["input"], secret=secret)
        return
    if not parsed.problems:
        spec._source = parsed.path
        parsed.spec = spec


def _add_explanation(parsed: Parsed, why: Explanation, value: Any, *, secret: bool) -> None:
    # A model validator that refuses a literal secret the scan did not recognise: neither
    # the source line nor `found` may echo it (Parsed.add also masks credential paths).
    parsed.add_at(
        why.loc,
        why.message,
        at_key=why.at_key,
        found=why.found or describe(value),
        expected=why.expected,
        hint=why.hint,
        mask=secret,
        value=value,
    )


def _prefer_field_messages(
    parsed: Parsed, kept: list[tuple[Any, Explanation]], scans: list[Problem]
) -> None:
    """A literal secret that both the scan and the field's own validator refuse is told
    in the field's words ("slack webhook_url is a secret: ..."); the scan's report goes."""
    assert parsed.root is not None
    fields = {
        format_path(walk(parsed.root, why.loc).parts)
        for error, why in kept
        if isinstance((error.get("ctx") or {}).get("error"), LiteralSecretError)
    }
    dropped = {id(p) for p in scans if p.path in fields}
    parsed.problems = [p for p in parsed.problems if id(p) not in dropped]


def _without_repeats(
    explained: list[tuple[Any, Explanation]],
    parsed: Parsed,
    scans: list[Problem],
    references: list[Problem],
) -> list[tuple[Any, Explanation]]:
    """Drop pydantic errors that a located pass already reported more precisely, and a
    "missing 'x'" explained by an unknown key whose hint is "did you mean 'x'?"."""
    assert parsed.root is not None
    root = parsed.root
    scanned = [p.path for p in scans]  # secrets, malformed references, odd numbers
    guessed = {
        (format_path(walk(root, why.loc[:-1]).parts), why.hint)
        for _, why in explained
        if why.at_key and why.hint
    }
    kept = []
    for error, why in explained:
        cause = (error.get("ctx") or {}).get("error")
        path = format_path(walk(root, why.loc).parts)
        if isinstance(cause, SpecReferenceError) and references:
            continue
        secret = isinstance(cause, LiteralSecretError)
        if secret and any(s.startswith(path) and s != path for s in scanned):
            continue  # the scan points at the very entry of the map or list
        if path in scanned and not secret and error["type"] != "extra_forbidden":
            continue  # a scan already reported what is wrong with this very value
        if error["type"] == "missing":
            parent = format_path(walk(root, why.loc[:-1]).parts)
            if (parent, f"did you mean {why.loc[-1]!r}?") in guessed:
                continue
        kept.append((error, why))
    return kept
