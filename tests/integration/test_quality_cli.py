"""`vigil snapshot-schema` and `vigil check-spec`'s deep suite checks, as the console
script a user runs: the committed demo snapshot is what a fresh demo database yields."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import demo.db
from vigil.cli import main
from vigil.stack.postgres import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
VIGIL = Path(sys.executable).parent / "vigil"
SPEC = REPO / "include" / "specs" / "demo.yaml"
COMMITTED = REPO / "expectations" / "demo" / "schema.yaml"


def vigil(*args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert VIGIL.exists(), f"console script missing: {VIGIL}"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "VIGIL_"))}
    return subprocess.run(
        [str(VIGIL), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**clean, **env},
    )


def without_database(snap: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in snap.items() if k != "database"}


def test_snapshot_of_a_fresh_demo_database_equals_the_committed_one(
    fresh_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    demo.db.install(fresh_db)
    env = {"AIRFLOW_CONN_VIGIL_DEMO_DB": fresh_db}
    out = tmp_path / "schema.yaml"
    done = vigil("snapshot-schema", "--target", "demo-db", "--spec", SPEC, "--out", out, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == f"wrote {out}"
    written = yaml.safe_load(out.read_text())
    committed = yaml.safe_load(COMMITTED.read_text())
    assert written["database"] == fresh_db.rsplit("/", 1)[1]
    # dicts compare without regard to order: equal modulo ordering.
    assert without_database(written) == without_database(committed)
    assert list(written["schemas"]) == ["public"]  # the check's schemas: not demo_admin

    # In process from here on (same code, without a Python start-up each).
    # Default destination: the spec's schema_drift snapshot, under the expectations folder.
    monkeypatch.setenv("AIRFLOW_CONN_VIGIL_DEMO_DB", fresh_db)
    monkeypatch.setenv("VIGIL_EXPECTATIONS_DIR", str(tmp_path / "exp"))
    assert main(["snapshot-schema", "--target", "demo-db", "--spec", str(SPEC)]) == 0
    assert (tmp_path / "exp" / "demo" / "schema.yaml").read_text() == out.read_text()
    # `--out -` and `--out x.json`: stdout (YAML) and JSON.
    capsys.readouterr()
    assert main(["snapshot-schema", "--target", "demo-db", "--spec", str(SPEC), "--out", "-"]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == written
    as_json = tmp_path / "schema.json"
    argv = ["snapshot-schema", "--target", "demo-db", "--spec", str(SPEC), "--out", str(as_json)]
    assert main(argv) == 0
    assert json.loads(as_json.read_text()) == written


def test_snapshot_problems_are_one_line_and_exit_one(tmp_path: Path) -> None:
    # A state folder of its own: a `make demo` stack running here would have the connection.
    nowhere = {"VIGIL_STATE_DIR": str(tmp_path / "state")}
    done = vigil("snapshot-schema", "--target", "demo-db", "--spec", SPEC, env=nowhere)
    assert done.returncode == 1
    assert done.stderr.startswith(
        "vigil snapshot-schema: connection 'vigil_demo_db' is not defined (looked in: "
        "AIRFLOW_CONN_VIGIL_DEMO_DB; Airflow: "
    )
    assert "): set AIRFLOW_CONN_VIGIL_DEMO_DB (a URI such as" in done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    down = {
        "AIRFLOW_CONN_VIGIL_DEMO_DB": f"postgresql://postgres:s3cret@127.0.0.1:{free_port()}/demo"
    }
    done = vigil("snapshot-schema", "--target", "demo-db", "--spec", SPEC, env=down)
    assert done.returncode == 1
    assert done.stderr.startswith("vigil snapshot-schema: cannot read 127.0.0.1:")
    assert "s3cret" not in done.stderr
    done = vigil("snapshot-schema", "--target", "orders-api", "--spec", SPEC, env=down)
    assert (done.returncode, done.stderr) == (
        1,
        "vigil snapshot-schema: target orders-api is a http target, not postgres\n",
    )


def test_check_spec_reports_a_broken_suite_with_its_file_and_reason(tmp_path: Path) -> None:
    expectations = tmp_path / "expectations"
    shutil.copytree(REPO / "expectations", expectations)
    orders = expectations / "demo" / "orders.json"
    orders.write_text(
        orders.read_text().replace(
            '"expect_column_values_to_be_in_set"', '"expect_column_values_to_be_in_sett"', 1
        )
    )
    customers = expectations / "demo" / "customers.json"
    customers.write_text(
        customers.read_text().replace('"column": "country"}', '"column": "countri"}', 1)
    )
    (expectations / "demo" / "payments.json").write_text(
        '{"name": "payments",\n  "expectations": [,]}\n'
    )
    env = {"VIGIL_EXPECTATIONS_DIR": str(expectations)}
    done = vigil("check-spec", SPEC, env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert f"{orders}:" in out
    assert (
        "unknown expectation type 'expect_column_values_to_be_in_sett'; "
        "did you mean 'expect_column_values_to_be_in_set'?"
    ) in out
    assert f"{expectations / 'demo' / 'payments.json'}:2:20: not valid JSON: Expecting value" in out
    assert f"{customers}:" in out
    assert (
        "column 'countri' is not in table public.customers of schema snapshot demo/schema.yaml"
        in out
    )
    assert "did you mean 'country'?" in out
    assert out.rstrip().splitlines()[-1] == "3 problems in 1 of 1 spec file"
