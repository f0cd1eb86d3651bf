"""Load spec files: YAML -> located problems -> `Spec`, failing closed with every problem.

One pass of PyYAML keeps both the node tree (with line marks) and the data. Problems come
from five places and are all reported together: YAML syntax, the node tree (duplicate keys),
scans of the raw data (literal secrets, malformed `${...}`), pydantic validation, and the
cross-reference pass. No network, no heavy imports: DAG files call this every parse.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.nodes import Node

from vigil.spec.errors import Problem, SpecError, format_path
from vigil.spec.explain import Explanation, describe, explain
from vigil.spec.locate import Spot, duplicate_keys, is_recursive, walk
from vigil.spec.models import TARGET_KINDS, Spec
from vigil.spec.references import SpecReferenceError, reference_problems
from vigil.spec.secrets import LiteralSecretError, find_literal_secrets, find_malformed_references

SPEC_SUFFIXES = (".yaml", ".yml")
# libyaml when PyYAML was built with it (about 9x faster here): DAG files load specs on every
# parse. Same safe constructor, same node marks.
FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
Loc = tuple[str | int, ...]


@dataclass
class _Parsed:
    """One file on its way to a Spec: its text, nodes, data and the problems so far."""

    path: Path
    text: str = ""
    root: Node | None = None
    data: Any = None
    problems: list[Problem] = field(default_factory=list)
    spec: Spec | None = None

    def add(self, spot: Spot | None, message: str, **extra: Any) -> None:
        self.problems.append(_problem(self, spot, message, **extra))

    def add_at(self, loc: Loc, message: str, *, at_key: bool = False, **extra: Any) -> None:
        if self.root is None:
            self.add(None, message, path=format_path(loc), **extra)
            return
        spot = walk(self.root, loc)
        if at_key and spot.key is not None and spot.found:
            spot = Spot(spot.key, None, spot.parts, True)
        self.add(spot, message, **extra)


def _problem(parsed: _Parsed, spot: Spot | None, message: str, **extra: Any) -> Problem:
    mask = extra.pop("mask", False)
    if spot is None:
        return Problem(
            file=str(parsed.path),
            line=None,
            column=None,
            path=extra.pop("path", ""),
            message=message,
            **extra,
        )
    source = _source_line(parsed.text, spot.line)
    end = spot.end_column()
    if mask and source is not None:  # never echo a secret into logs
        rest = source[end - 1 :] if end is not None else ""
        source = source[: spot.column - 1] + "***" + rest
        end = spot.column + 3
    return Problem(
        file=str(parsed.path),
        line=spot.line,
        column=spot.column,
        path=extra.pop("path", format_path(spot.parts)),
        message=message,
        source_line=source,
        end_column=end,
        **extra,
    )


def _source_line(text: str, line: int) -> str | None:
    lines = text.splitlines()
    return lines[line - 1] if 0 < line <= len(lines) else None


# --- public API ------------------------------------------------------------------------


def load_spec(path: str | Path) -> Spec:
    """The Spec in one file; SpecError listing every problem when it has any."""
    parsed = _parse(Path(path))
    if parsed.problems or parsed.spec is None:
        raise SpecError(parsed.problems)
    return parsed.spec


DEFAULT_SPECS_DIR = Path(__file__).resolve().parents[2] / "specs"  # include/specs


def specs_dir() -> Path:
    """Where the specs live: VIGIL_SPECS_DIR, else include/specs."""
    return Path(os.environ.get("VIGIL_SPECS_DIR") or DEFAULT_SPECS_DIR)


def spec_files(directory: str | Path) -> list[Path]:
    """Every *.yaml / *.yml file directly in `directory`, sorted by name."""
    folder = Path(directory)
    if not folder.is_dir():
        raise NotADirectoryError(f"spec directory {str(folder)!r} does not exist")
    return sorted(p for p in folder.iterdir() if p.suffix in SPEC_SUFFIXES and p.is_file())


def load_specs(directory: str | Path) -> tuple[dict[str, Spec], dict[Path, SpecError]]:
    """Every spec in a directory, by environment; a bad file is reported, not fatal."""
    return load_files(spec_files(directory))


def load_files(paths: Iterable[Path]) -> tuple[dict[str, Spec], dict[Path, SpecError]]:
    """Load several files; an environment declared twice is a problem of the later file."""
    specs: dict[str, Spec] = {}
    errors: dict[Path, SpecError] = {}
    owners: dict[str, Path] = {}
    for path in paths:
        parsed = _parse(Path(path))
        environment = parsed.data.get("environment") if isinstance(parsed.data, dict) else None
        if isinstance(environment, str):
            if environment in owners:
                parsed.add_at(
                    ("environment",),
                    f"environment {environment!r} is already declared in {owners[environment]}",
                    hint="each environment has exactly one spec file",
                )
            else:
                owners[environment] = parsed.path
        if parsed.problems or parsed.spec is None:
            errors[parsed.path] = SpecError(_ordered(parsed.problems))
        else:
            specs[parsed.spec.environment] = parsed.spec
    return specs, errors


# --- the passes ------------------------------------------------------------------------


def _parse(path: Path) -> _Parsed:
    parsed = _Parsed(path)
    if not _read(parsed) or not _compose(parsed):
        return parsed
    if not _node_problems(parsed):  # a recursive document: the data passes would not end
        return parsed
    secrets = _scan_problems(parsed)
    references = _reference_problems(parsed)
    _validate(parsed, secrets, references)
    parsed.problems = _ordered(parsed.problems)
    return parsed


def _read(parsed: _Parsed) -> bool:
    try:
        parsed.text = parsed.path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        parsed.add(None, f"cannot read the spec file: {exc}")
        return False
    return True


def _compose_with(loader_class: Any, text: str) -> tuple[Node | None, Any]:
    """The node tree (with line marks) and the data, from one pass of the parser."""
    loader = loader_class(text)
    try:
        root = loader.get_single_node()
        return root, loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()


def _compose(parsed: _Parsed) -> bool:
    try:
        try:
            parsed.root, parsed.data = _compose_with(FAST_LOADER, parsed.text)
        except yaml.YAMLError:
            # The pure-Python parser explains syntax errors better (it names the character).
            parsed.root, parsed.data = _compose_with(yaml.SafeLoader, parsed.text)
    except yaml.MarkedYAMLError as exc:
        _syntax_problem(parsed, exc)
        return False
    except (yaml.YAMLError, RecursionError) as exc:
        parsed.add(None, f"YAML error: {exc}")
        return False
    if parsed.root is None:
        parsed.add(
            None, "the file is empty; a spec is a mapping with at least 'environment' and 'targets'"
        )
        return False
    return True


def _syntax_problem(parsed: _Parsed, exc: yaml.MarkedYAMLError) -> None:
    mark = exc.problem_mark or exc.context_mark
    message = f"YAML syntax error: {exc.problem or exc.context}"
    hint = None
    if "\\t" in str(exc.problem):
        hint = "indent with spaces, not tabs"
    elif exc.context and exc.context_mark is not None:
        hint = f"{exc.context} that starts on line {int(exc.context_mark.line) + 1}"
    if mark is None:
        parsed.add(None, message, hint=hint)
        return
    line, column = int(mark.line) + 1, int(mark.column) + 1
    parsed.problems.append(
        Problem(
            file=str(parsed.path),
            line=line,
            column=column,
            path="",
            message=message,
            hint=hint,
            source_line=_source_line(parsed.text, line),
        )
    )


def _node_problems(parsed: _Parsed) -> bool:
    assert parsed.root is not None
    loop = is_recursive(parsed.root)
    if loop is not None:
        parsed.add(Spot(loop, None, (), True), "recursive YAML alias; a spec holds no cycles")
        return False
    for dup in duplicate_keys(parsed.root):
        first = int(dup.first.start_mark.line) + 1
        parsed.add(
            Spot(dup.key, None, dup.parts, True),
            f"duplicate key {dup.parts[-1]!r} (first written on line {first}); "
            "YAML would silently keep only the last one",
        )
    return True


def _scan_problems(parsed: _Parsed) -> list[Problem]:
    """Literal secrets and malformed references, anywhere in the document."""
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
    return parsed.problems[before:]


def _reference_problems(parsed: _Parsed) -> list[Problem]:
    if not isinstance(parsed.data, dict):
        return []
    before = len(parsed.problems)
    checks = parsed.data.get("checks")
    for ref in reference_problems(parsed.data.get("targets"), checks, TARGET_KINDS):
        parsed.add_at(ref.loc, ref.message, found=ref.found, expected=ref.expected, hint=ref.hint)
    return parsed.problems[before:]


def _validate(parsed: _Parsed, secrets: list[Problem], references: list[Problem]) -> None:
    try:
        spec = Spec.model_validate(parsed.data)
    except ValidationError as exc:
        explained = [(e, explain(e, Spec)) for e in exc.errors()]
        for error, why in _without_repeats(explained, parsed, secrets, references):
            cause = (error.get("ctx") or {}).get("error")
            secret = isinstance(cause, LiteralSecretError)
            _add_explanation(parsed, why, found_value=error["input"], secret=secret)
        return
    if not parsed.problems:
        spec._source = parsed.path
        parsed.spec = spec


def _add_explanation(
    parsed: _Parsed, why: Explanation, found_value: Any, *, secret: bool = False
) -> None:
    # A model validator that refuses a literal secret the scan did not recognise (a Slack
    # webhook URL): neither the source line nor `found` may echo it.
    parsed.add_at(
        why.loc,
        why.message,
        at_key=why.at_key,
        found="(a literal value)" if secret else why.found or describe(found_value),
        expected=why.expected,
        hint=why.hint,
        mask=secret,
    )


def _without_repeats(
    explained: list[tuple[Any, Explanation]],
    parsed: _Parsed,
    secrets: list[Problem],
    references: list[Problem],
) -> list[tuple[Any, Explanation]]:
    """Drop pydantic errors that a located pass already reported more precisely, and a
    "missing 'x'" explained by an unknown key whose hint is "did you mean 'x'?"."""
    assert parsed.root is not None
    root = parsed.root
    secret_paths = [p.path for p in secrets]  # secrets and malformed references
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
        if isinstance(cause, LiteralSecretError) and any(s.startswith(path) for s in secret_paths):
            continue
        if error["type"] == "value_error" and path in secret_paths:
            continue  # the scan already reported what is wrong with this very value
        if error["type"] == "missing":
            parent = format_path(walk(root, why.loc[:-1]).parts)
            if (parent, f"did you mean {why.loc[-1]!r}?") in guessed:
                continue
        kept.append((error, why))
    return kept


def _ordered(problems: list[Problem]) -> list[Problem]:
    """By position in the file; one report per place and message."""
    unique = {(p.line, p.column, p.path, p.message): p for p in problems}
    return sorted(unique.values(), key=lambda p: (p.line or 0, p.column or 0, p.path))
