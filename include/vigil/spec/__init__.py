"""The spec: one YAML file per environment, validated into pydantic models.

Import what you need from its modules (this package imports nothing, so the family
folders can build their check models on `vigil.spec.base` without a loop):
- `vigil.spec.loader`: `load_spec`, `load_specs`, `load_files`, `spec_files` — what DAG
  files and the CLI call; a bad file raises (or is returned as) a `SpecError`;
- `vigil.spec.errors`: `Problem`, `SpecError` (each problem: file, line, column, path);
- `vigil.spec.models`: `Spec` and the targets; `vigil.spec.alerts`, `.channels`,
  `.windows`: the `alerts:` section; `vigil.spec.base`: `Strict`, `CheckBase`.
"""
