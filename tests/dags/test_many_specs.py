"""One broken spec among 200, through Airflow's real dag-processor: the broken spec is an
import error naming its file and line, and the other 199 keep their DAGs.

A DagBag test is not enough: one once passed while the running dag-processor hid every DAG
of a file with an import error (ADR 0001). So this runs `airflow dag-processor --num-runs 1`
(every DAG file parsed once, each in a process of its own, results written to the metadata
database as in a running stack) and reads what it wrote. Small specs (one check, one DAG
each) keep it cheap; `benchmarks/bench_many_specs.py` measures the cost of large ones.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dags.conftest import DAGS

pytestmark = pytest.mark.dags

SPECS = 200
BROKEN = "env100.yaml"
GOOD_SPEC = """environment: {env}
targets:
  db: {{kind: postgres, conn_id: {env}_db}}
checks:
  health:
    - {{id: db-up, kind: postgres, target: db}}
schedules:
  weekly: {{cron: 0 7 * * 1, enabled: false}}
  monthly: {{cron: 0 8 1 * *, enabled: false}}
"""
# Line 6, column 47: a misspelt key, which fails the whole spec.
BROKEN_SPEC = """environment: env100
targets:
  db: {kind: postgres, conn_id: x}
checks:
  health:
    - {id: db-up, kind: postgres, target: db, timout_s: 3}
"""


def _write_specs(folder: Path) -> None:
    folder.mkdir()
    for n in range(SPECS):
        (folder / f"env{n:03d}.yaml").write_text(GOOD_SPEC.format(env=f"env{n:03d}"))
    (folder / BROKEN).write_text(BROKEN_SPEC)


def _vigil_dag_files(folder: Path) -> list[str]:
    """Vigil's DAG files only: other DAG files in dags/ are not under test here."""
    folder.mkdir()
    names = [p.name for p in DAGS.glob("vigil_dags*.py")] + ["vigil_broken_specs.py"]
    for name in names:
        shutil.copy(DAGS / name, folder / name)
    return sorted(names)


@pytest.mark.timeout(180)
def test_a_broken_spec_among_200_is_an_import_error_and_the_199_keep_their_dags(
    airflow_db: str, tmp_path: Path
) -> None:
    specs, dags, home = tmp_path / "specs", tmp_path / "dags", tmp_path / "home"
    _write_specs(specs)
    files = _vigil_dag_files(dags)
    assert len(files) > 2, "the good specs are spread over several DAG files"
    # The session's migrated metadata database, copied: no second `airflow db migrate`.
    home.mkdir()
    shutil.copy(Path(airflow_db) / "airflow.db", home / "airflow.db")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "VIGIL_SPECS_DIR": str(specs),
        "VIGIL_STATE_DIR": str(tmp_path / "state"),  # a cold cache of built specs
    }
    result = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "dag-processor", "--num-runs", "1"],
        capture_output=True,
        text=True,
        timeout=170,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    # The copied database may hold the DAGs earlier DAG tests parsed (demo_*): only the
    # generated environments' DAGs are under test.
    with sqlite3.connect(home / "airflow.db") as db:
        errors = dict(db.execute("SELECT filename, stacktrace FROM import_error").fetchall())
        serialised = {
            row[0]
            for row in db.execute("SELECT dag_id FROM serialized_dag WHERE dag_id LIKE 'env%'")
        }
        active = {
            row[0]
            for row in db.execute(
                "SELECT dag_id FROM dag WHERE NOT is_stale AND dag_id LIKE 'env%'"
            )
        }
        sources = {
            Path(row[0]).name
            for row in db.execute(
                "SELECT DISTINCT fileloc FROM dag WHERE NOT is_stale AND dag_id LIKE 'env%'"
            )
        }
    # The broken spec: one import error, of the broken-specs file, naming file, line, key.
    assert [Path(name).name for name in errors] == ["vigil_broken_specs.py"], list(errors)
    (message,) = errors.values()
    assert f"{specs / BROKEN}:6:47: checks.health[0].timout_s" in message, message[-1500:]
    assert "1 spec file(s) failed to load" in message
    # The other 199: their DAGs serialised and active, from every good-DAGs file.
    expected = {f"env{n:03d}_daily" for n in range(SPECS) if f"env{n:03d}.yaml" != BROKEN}
    assert len(expected) == SPECS - 1
    assert serialised == expected, sorted(serialised ^ expected)[:10]
    assert active == expected, sorted(active ^ expected)[:10]
    assert sources == {name for name in files if name.startswith("vigil_dags")}, sources


def test_the_broken_specs_file_builds_only_specs_not_built_in_that_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spec built by a good-DAGs file is not built again by the broken-specs file; once
    its text changes it is, and a failure to build is reported."""
    from vigil.airflow import factory

    monkeypatch.setenv("VIGIL_STATE_DIR", str(tmp_path / "state"))
    specs = tmp_path / "specs"
    specs.mkdir()
    spec = specs / "env000.yaml"
    spec.write_text(GOOD_SPEC.format(env="env000"))
    namespace: dict[str, object] = {}
    factory.build_dags(namespace, specs)
    assert set(namespace) == {"env000_daily"}

    def explodes(*_args: object) -> object:
        raise OverflowError("date value out of range")

    monkeypatch.setattr(factory, "build_dag", explodes)
    factory.raise_broken_specs(specs)  # built before, in this exact text: not built again
    spec.write_text(GOOD_SPEC.format(env="env000") + "tags: [changed]\n")
    with pytest.raises(factory.SpecLoadError, match=r"env000\.yaml: could not build its DAGs"):
        factory.raise_broken_specs(specs)


def test_each_spec_belongs_to_exactly_one_good_dags_file(tmp_path: Path) -> None:
    from vigil.airflow import factory

    files = sorted(p.name for p in DAGS.glob("vigil_dags*.py"))
    shards = [factory.dag_file_shard(str(DAGS / name)) for name in files]
    assert shards == [(index, len(files)) for index in range(len(files))]
    names = [Path(f"env{n:03d}.yaml") for n in range(SPECS)]
    owners = [factory.spec_shard(name, len(files)) for name in names]
    assert set(owners) == set(range(len(files))), "every file gets a share of 200 specs"
    # A copy of one DAG file on its own (a test, a benchmark) builds every spec.
    shutil.copy(DAGS / "vigil_dags.py", tmp_path / "vigil_dags.py")
    assert factory.dag_file_shard(str(tmp_path / "vigil_dags.py")) is None


def test_specs_left_unchecked_for_want_of_time_are_an_error_not_an_all_clear(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vigil.airflow import factory

    monkeypatch.setenv("VIGIL_STATE_DIR", str(tmp_path / "state"))
    specs = tmp_path / "specs"
    specs.mkdir()
    for n in range(2):
        (specs / f"env{n:03d}.yaml").write_text(GOOD_SPEC.format(env=f"env{n:03d}"))
    monkeypatch.setattr(factory, "BROKEN_SPECS_BUDGET_S", 0.0)  # no spec built before
    with pytest.raises(factory.SpecLoadError, match=r"2 spec file\(s\) not checked yet"):
        factory.raise_broken_specs(specs)
    factory.build_dags({}, specs)  # a good-DAGs file builds them: nothing left to check
    factory.raise_broken_specs(specs)


def test_an_environment_declared_twice_is_built_by_one_dag_file_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two spec files for one environment, hashed to different DAG files: the first file
    (by name, as the loader keeps it) builds the DAGs, the other DAG file leaves them."""
    from vigil.airflow import factory

    monkeypatch.setenv("VIGIL_STATE_DIR", str(tmp_path / "state"))
    count = 16
    first = "a-shop.yaml"
    others = (f"b-shop-{n}.yaml" for n in range(1000))
    second = next(
        n
        for n in others
        if factory.spec_shard(Path(n), count) != factory.spec_shard(Path(first), count)
    )
    specs = tmp_path / "specs"
    specs.mkdir()
    for name in (first, second):
        (specs / name).write_text(GOOD_SPEC.format(env="shop"))
    assert specs / first < specs / second
    shard_of = {n: (factory.spec_shard(Path(n), count), count) for n in (first, second)}
    dags, _ = factory.load_and_build(specs, shard_of[first])
    assert [d.dag_id for d in dags] == ["shop_daily"]
    dags, _ = factory.load_and_build(specs, shard_of[second])
    assert dags == [], "the second file's DAG file built the environment again"
    with pytest.raises(factory.SpecLoadError, match=second):
        factory.raise_broken_specs(specs)


def test_a_spec_rewritten_while_it_is_built_is_not_remembered_as_built(tmp_path: Path) -> None:
    from vigil.airflow import factory

    spec = tmp_path / "env000.yaml"
    spec.write_text(GOOD_SPEC.format(env="env000"))
    key = factory.build_key(spec)
    spec.write_text(BROKEN_SPEC)  # what an editor or a checkout may do mid-parse
    factory._remember_if_unchanged(spec, key, "env000")
    assert key is not None and factory.built_environment(key) is None
