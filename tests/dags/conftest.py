"""Airflow for DAG tests: a migrated SQLite metadata database in the session's home."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """`airflow db migrate` once per session (dag.test() fails on an unmigrated home)."""
    home = os.environ["AIRFLOW_HOME"]
    airflow = Path(sys.executable).parent / "airflow"
    result = subprocess.run([str(airflow), "db", "migrate"], capture_output=True, text=True,
                            timeout=300, env=dict(os.environ))
    assert result.returncode == 0, f"airflow db migrate failed:\n{result.stderr[-3000:]}"
    return home
