"""The spec: one YAML file per environment, validated into pydantic models.

`load_spec` / `load_specs` are what DAG files and the CLI call; a bad file raises (or is
returned as) a `SpecError` whose problems each carry file, line, column and field path.

The names below load on first use: the spec's models include the `alerts:` section, whose
channel models in turn use `vigil.spec.secrets`, so importing the loader eagerly here
would make `import vigil.alerts` circular.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vigil.spec.errors import Problem, SpecError, format_problems
    from vigil.spec.loader import load_files, load_spec, load_specs, spec_files
    from vigil.spec.models import Spec
    from vigil.spec.validators import split_address

_EXPORTS = {
    "Problem": "vigil.spec.errors",
    "SpecError": "vigil.spec.errors",
    "format_problems": "vigil.spec.errors",
    "load_files": "vigil.spec.loader",
    "load_spec": "vigil.spec.loader",
    "load_specs": "vigil.spec.loader",
    "spec_files": "vigil.spec.loader",
    "Spec": "vigil.spec.models",
    "split_address": "vigil.spec.validators",
}
__all__ = [
    "Problem",
    "Spec",
    "SpecError",
    "format_problems",
    "load_files",
    "load_spec",
    "load_specs",
    "spec_files",
    "split_address",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vigil.spec' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
