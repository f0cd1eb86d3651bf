"""Shared fixtures: a real throwaway PostgreSQL, and one marker per test, enforced."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Airflow reads its home and settings when first imported: give the test session its own
# throwaway home (SQLite metadata) before any test module imports Airflow, so tests never
# touch a developer's `make demo` state.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="vigil-test-airflow-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parent.parent / "dags")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)

from vigil.stack.postgres import LocalPostgres, free_port  # noqa: E402 (after the env setup)

LAYERS = ("unit", "integration", "dags", "e2e")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test carries exactly one layer marker; collection fails otherwise."""
    wrong = []
    for item in items:
        layers = [m.name for m in item.iter_markers() if m.name in LAYERS]
        if len(layers) != 1:
            wrong.append(f"{item.nodeid}: markers {layers or 'none'}")
    if wrong:
        raise pytest.UsageError(
            "each test needs exactly one of the markers "
            + ", ".join(LAYERS)
            + ":\n  "
            + "\n  ".join(wrong)
        )


@pytest.fixture(scope="session")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    """One real PostgreSQL cluster for the whole session, on a free loopback port."""
    server = LocalPostgres(tmp_path_factory.mktemp("pg") / "data", free_port()).start()
    yield server
    server.stop()


@pytest.fixture
def fresh_db(pg: LocalPostgres) -> str:
    """A new, empty database for one test; returns its DSN."""
    name = "t_" + uuid.uuid4().hex[:12]
    pg.create_database(name)
    return pg.dsn(name)


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
