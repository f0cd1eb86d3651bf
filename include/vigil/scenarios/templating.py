"""`{{name}}` in a scenario: a variable, filled in when the step runs.

Distinct from `${ENV}` (resolved from the environment, the same in every run): a template
names a journey's `variables`, a value an earlier step captured (`{{order_id}}`), or a
built-in (`{{run.marker}}`, `{{uuid}}`, `{{copy}}`). A string that is one template and
nothing else keeps the value's type (`"{{order_id}}"` is the number 42, or a list after a
`parallel` step); a template inside longer text is written as text.

Templates are found when the spec loads (`names_in`), so a variable used before anything
defines it is a located spec error, not a failure at 6 a.m.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from vigil.spec.secrets import TEMPLATE_REF

# Built-in variables every journey has (vigil.scenarios.engine fills them in):
BUILTINS = {
    "run.id": "the Airflow run id (or 'manual')",
    "run.marker": "a marker unique to this run and journey: put it in every name you create",
    "journey.id": "the journey's id",
    "uuid": "a random UUID, one per journey run (one per copy inside `parallel`)",
    "random": "8 random hex characters, one per journey run (one per copy)",
    "timestamp": "the journey's start, ISO 8601 UTC",
    "epoch": "the journey's start, in seconds since 1970",
    "copy": "inside `parallel`: the copy's number, 0 to copies - 1",
}
# Inside a string: `{{` that is not a well-formed template is a typo worth an error.
_OPEN = re.compile(r"\{\{")


class TemplateError(ValueError):
    """A template names a variable that has no value when the step runs."""


def names_in(value: Any) -> list[str]:
    """Every variable a value's templates name, in order (strings, lists and mappings,
    keys included)."""
    found: list[str] = []
    _walk(value, lambda text: found.extend(m["var"] for m in TEMPLATE_REF.finditer(text)))
    return found


def malformed_in(value: Any) -> list[str]:
    """Strings holding a `{{` that is not a well-formed `{{name}}`."""
    bad: list[str] = []

    def check(text: str) -> None:
        if _OPEN.search(TEMPLATE_REF.sub("", text)):
            bad.append(text)

    _walk(value, check)
    return bad


def render(value: Any, variables: Mapping[str, Any]) -> Any:
    """`value` with every template filled from `variables`; a missing one raises
    TemplateError naming it. A whole-string template keeps its value's type."""
    if isinstance(value, str):
        return render_text(value, variables)
    if isinstance(value, Mapping):
        return {
            render_text(str(k), variables, whole=False): render(v, variables)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [render(v, variables) for v in value]
    return value


def render_text(text: str, variables: Mapping[str, Any], *, whole: bool = True) -> Any:
    if "{{" not in text:
        return text
    match = TEMPLATE_REF.fullmatch(text.strip())
    if whole and match is not None:
        return lookup(match["var"], variables)
    return TEMPLATE_REF.sub(lambda m: as_text(lookup(m["var"], variables)), text)


def lookup(name: str, variables: Mapping[str, Any]) -> Any:
    if name in variables:
        return variables[name]
    known = ", ".join(sorted(variables)) or "(none)"
    raise TemplateError(f"variable {name!r} has no value here (known: {known})")


def as_text(value: Any) -> str:
    """A value as it reads inside text: strings as they are, the rest as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def _walk(value: Any, visit: Any) -> None:
    if isinstance(value, str):
        visit(value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str):
                visit(key)
            _walk(item, visit)
    elif isinstance(value, list | tuple):
        for item in value:
            _walk(item, visit)
