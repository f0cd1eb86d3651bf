"""The spec: one YAML file per environment, validated into pydantic models.

`load_spec` / `load_specs` are what DAG files and the CLI call; a bad file raises (or is
returned as) a `SpecError` whose problems each carry file, line, column and field path.
"""

from vigil.spec.errors import Problem, SpecError, format_problems
from vigil.spec.loader import load_files, load_spec, load_specs, spec_files
from vigil.spec.models import Spec
from vigil.spec.validators import split_address

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
