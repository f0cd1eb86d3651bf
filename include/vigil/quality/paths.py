"""Where quality files live; cheap to import (the CLI and the linter use it without GX)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def expectations_dir() -> Path:
    """Where suite and snapshot paths in a spec are relative to: VIGIL_EXPECTATIONS_DIR,
    else <repo>/expectations."""
    return Path(os.environ.get("VIGIL_EXPECTATIONS_DIR") or REPO / "expectations")


class OutsideExpectations(ValueError):
    """A suite or snapshot path that leads out of the expectations folder."""


def relative_inside(path: str) -> str:
    """`path` when it stays inside the folder it is relative to, as written: no absolute
    path, no `..` segment, no backslash, no NUL. The spec's own check, at load time."""
    parts = path.replace("\\", "/").split("/")
    if path.startswith(("/", "~")) or "\\" in path or "\0" in path or ".." in parts:
        raise OutsideExpectations(
            f"{path!r} must be a path inside the expectations folder (no leading '/', no "
            "'..', no '\\'), e.g. 'demo/orders.json'"
        )
    return path


def inside_expectations(path: str) -> Path:
    """The file `path` names under the expectations folder, resolved (links followed); a
    path that resolves outside it is refused — at run time too, whatever the spec said."""
    root = expectations_dir().resolve()
    found = (root / relative_inside(path)).resolve()
    if not found.is_relative_to(root):
        raise OutsideExpectations(f"{path!r} resolves to {found}, outside {root}")
    return found


def state_dir() -> Path:
    """VIGIL_STATE_DIR, else <repo>/.state (as `vigil.conclude` reads it)."""
    return Path(os.environ.get("VIGIL_STATE_DIR") or REPO / ".state")


def data_docs_dir(environment: str, dag_id: str, run_id: str) -> Path:
    """One run's Data Docs site; the run report links to its index.html when it exists."""
    return state_dir() / "data_docs" / environment / dag_id / run_id
