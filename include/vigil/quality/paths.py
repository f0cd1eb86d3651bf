"""Where quality files live; cheap to import (the CLI and the linter use it without GX)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def expectations_dir() -> Path:
    """Where suite and snapshot paths in a spec are relative to: VIGIL_EXPECTATIONS_DIR,
    else <repo>/expectations."""
    return Path(os.environ.get("VIGIL_EXPECTATIONS_DIR") or REPO / "expectations")


def state_dir() -> Path:
    """VIGIL_STATE_DIR, else <repo>/.state (as `vigil.conclude` reads it)."""
    return Path(os.environ.get("VIGIL_STATE_DIR") or REPO / ".state")


def data_docs_dir(environment: str, dag_id: str, run_id: str) -> Path:
    """One run's Data Docs site; the run report links to its index.html when it exists."""
    return state_dir() / "data_docs" / environment / dag_id / run_id
