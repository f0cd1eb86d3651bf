"""Load spec files: YAML -> located problems -> `Spec`, failing closed with every problem.

PyYAML composes the node tree (with line marks), then builds the data from it. Problems come
from five places and are all reported together: YAML syntax, the node tree (duplicate keys),
scans of the raw data (literal secrets, malformed `${...}`, odd numbers: `checking`),
pydantic validation, and the cross-reference pass. Every problem is located and masked by
`parsed.Parsed`. No network, no heavy imports: DAG files call this every parse.

No file can crash or hang the loader, nor hide another file's problems: its size and
nesting are bounded before it is composed (`reading`), its aliases before its data is
walked (`bounds`), and anything unexpected while loading one file is a problem of that file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError

from vigil.spec.bounds import excess, plain_size
from vigil.spec.checking import check_data as check_data  # re-exported: tests patch it
from vigil.spec.errors import Problem, SpecError, clip
from vigil.spec.locate import Spot, duplicate_keys
from vigil.spec.masking import redact, secret_spans
from vigil.spec.models import Spec
from vigil.spec.parsed import Parsed
from vigil.spec.reading import (
    FAST_LOADER,
    MAX_NODES,
    SafeLoader,
    SpecConstructor,
    TooLarge,
    lines_of,
    read_text,
    refusal,
)

SPEC_SUFFIXES = (".yaml", ".yml")


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
        try:
            _claim_environment(parsed, owners)
        except Exception as exc:  # as in _parse
            _internal_error(parsed, exc)
        if parsed.problems or parsed.spec is None:
            errors[parsed.path] = SpecError(_ordered(parsed.problems))
        else:
            specs[parsed.spec.environment] = parsed.spec
    return specs, errors


def _claim_environment(parsed: Parsed, owners: dict[str, Path]) -> None:
    environment = parsed.data.get("environment") if isinstance(parsed.data, dict) else None
    if not isinstance(environment, str):
        return
    if environment in owners:
        parsed.add_at(
            ("environment",),
            f"environment {environment!r} is already declared in {owners[environment]}",
            hint="each environment has exactly one spec file",
        )
    else:
        owners[environment] = parsed.path


# --- the passes ------------------------------------------------------------------------


def _parse(path: Path) -> Parsed:
    parsed = Parsed(path)
    try:
        if _read(parsed) and _compose(parsed) and _check_tree(parsed) and _construct(parsed):
            check_data(parsed)
    except Exception as exc:  # one file's crash must not hide the other files' problems
        _internal_error(parsed, exc)
    parsed.problems = _ordered(parsed.problems)
    return parsed


def _internal_error(parsed: Parsed, exc: BaseException) -> None:
    text = f"{type(exc).__name__}: {exc}"
    text = redact(text, secret_spans(text), 1, None)[0]
    parsed.spec = None
    parsed.add(
        None,
        f"internal error while loading: {clip(text, 200)}",
        hint="this is a bug in Vigil's spec loader; the rest of the file was not checked",
    )


def _read(parsed: Parsed) -> bool:
    try:
        parsed.text = read_text(parsed.path)
    except TooLarge as exc:
        parsed.add(None, str(exc), hint="a spec describes one environment in a few KB")
        return False
    except (OSError, UnicodeDecodeError) as exc:
        parsed.add(None, f"cannot read the spec file: {exc}")
        return False
    return True


def _compose_with(loader_class: type[Any], text: str) -> yaml.Node | None:
    """The node tree (with line marks); the data is built later, once the tree is bounded."""
    loader = loader_class(text)
    try:
        node: yaml.Node | None = loader.get_single_node()
        return node
    finally:
        loader.dispose()


def _compose(parsed: Parsed) -> bool:
    refused = refusal(parsed.text, FAST_LOADER)
    if refused is not None:
        line, column, why = refused
        parsed.add_mark(line, column, why, hint="is a bracket left open, or a list pasted in?")
        return False
    try:
        try:
            parsed.root = _compose_with(FAST_LOADER, parsed.text)
        except yaml.YAMLError:
            # The pure-Python parser explains syntax errors better (it names the character).
            parsed.root = _compose_with(SafeLoader, parsed.text)
    except yaml.MarkedYAMLError as exc:
        _syntax_problem(parsed, exc)
        return False
    except yaml.reader.ReaderError as exc:
        _reader_problem(parsed, exc)
        return False
    except (yaml.YAMLError, RecursionError) as exc:
        parsed.add(None, f"YAML error: {clip(str(exc), 200)}")
        return False
    if parsed.root is None:
        parsed.add(
            None, "the file is empty; a spec is a mapping with at least 'environment' and 'targets'"
        )
        return False
    return True


def _reader_problem(parsed: Parsed, exc: yaml.reader.ReaderError) -> None:
    before = lines_of(parsed.text[: exc.position])
    character = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1])
    parsed.add_mark(
        len(before),
        len(before[-1]) + 1,
        f"YAML error: the character U+{character:04X} is not allowed in YAML",
        hint="remove it (a control character, often pasted from a terminal or a binary file)",
    )


def _construct(parsed: Parsed) -> bool:
    try:
        parsed.data = SpecConstructor().construct_document(parsed.root)
    except yaml.MarkedYAMLError as exc:
        _syntax_problem(parsed, exc)
        return False
    return True


def _syntax_problem(parsed: Parsed, exc: yaml.MarkedYAMLError) -> None:
    mark = exc.problem_mark or exc.context_mark
    kind = "YAML error" if isinstance(exc, ConstructorError) else "YAML syntax error"
    message = f"{kind}: {exc.problem or exc.context}"
    hint = None
    if "\\t" in str(exc.problem):
        hint = "indent with spaces, not tabs"
    elif exc.context and exc.context_mark is not None:
        hint = f"{exc.context} that starts on line {int(exc.context_mark.line) + 1}"
    if mark is None:
        parsed.add(None, message, hint=hint)
        return
    parsed.add_mark(int(mark.line) + 1, int(mark.column) + 1, message, hint=hint)


def _check_tree(parsed: Parsed) -> bool:
    """Cycles and alias bombs stop here (the data passes would not end); duplicate keys are
    reported and the passes go on."""
    assert parsed.root is not None
    size = plain_size(parsed.root)  # None: aliases, which may loop or multiply
    too_big = excess(parsed.root) if size is None or size > MAX_NODES else None
    if too_big is not None:
        parsed.add(Spot(too_big.node, None, too_big.parts, True), too_big.message)
        return False
    for dup in duplicate_keys(parsed.root):
        first = int(dup.first.start_mark.line) + 1
        parsed.add(
            Spot(dup.key, None, dup.parts, True),
            f"duplicate key {dup.parts[-1]!r} (first written on line {first}); "
            "YAML would silently keep only the last one",
        )
    return True


def _ordered(problems: list[Problem]) -> list[Problem]:
    """By position in the file; one report per place and message."""
    unique = {(p.line, p.column, p.path, p.message): p for p in problems}
    return sorted(unique.values(), key=lambda p: (p.line or 0, p.column or 0, p.path))
