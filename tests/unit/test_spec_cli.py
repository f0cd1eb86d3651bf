"""The real `vigil check-spec` console script, run as a user would run it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vigil.cli import build_parser, main

pytestmark = pytest.mark.unit

HERE = Path(__file__).parent
GOOD = HERE / "specs_good" / "shop.yaml"
BAD = HERE / "specs_bad"
VIGIL = Path(sys.executable).parent / "vigil"


def vigil(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert VIGIL.exists(), f"console script missing: {VIGIL}"
    return subprocess.run(
        [str(VIGIL), *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )


def test_good_spec_exits_zero_with_a_summary() -> None:
    done = vigil("check-spec", GOOD)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == "ok: 1 spec, 4 checks\n"


def test_bad_specs_list_every_problem_then_a_summary() -> None:
    three, unknown = BAD / "three_problems.yaml", BAD / "unknown_key.yaml"
    done = vigil("check-spec", GOOD, three, unknown)
    assert done.returncode == 1
    out = done.stdout
    assert f"{three}:8:14: targets.cache.address: address '127.0.0.1:0'" in out
    assert f"{three}:14:7: checks.health[0].timout_s: unknown key 'timout_s'" in out
    assert f"{three}:17:15: checks.health[1].target: unknown target 'cahce'" in out
    assert (
        f"{unknown}:11:7: checks.health[0].timout_s: unknown key 'timout_s' — "
        "did you mean 'timeout_s'?\n  11 |       timout_s: 3\n     |       ^~~~~~~~\n"
    ) in out
    # Both bad files say `environment: bad`: the later one is told so as well.
    assert f"{unknown}:1:14: environment: environment 'bad' is already declared in {three}" in out
    assert out.rstrip().splitlines()[-1] == "5 problems in 2 of 3 spec files"


def test_a_directory_checks_every_spec_in_it(tmp_path: Path) -> None:
    shutil.copy(GOOD, tmp_path / "shop.yaml")
    done = vigil("check-spec", tmp_path)
    assert (done.returncode, done.stdout) == (0, "ok: 1 spec, 4 checks\n")
    shutil.copy(BAD / "bad_cron.yaml", tmp_path / "other.yml")
    done = vigil("check-spec", tmp_path)
    assert done.returncode == 1
    assert f"{tmp_path / 'other.yml'}:8:11: schedules.daily.cron:" in done.stdout
    assert done.stdout.rstrip().endswith("1 problem in 1 of 2 spec files")


def test_missing_path_and_empty_directory_are_problems(tmp_path: Path) -> None:
    done = vigil("check-spec", tmp_path / "nope.yaml", tmp_path)
    assert done.returncode == 1
    assert f"{tmp_path / 'nope.yaml'}: no such file or directory" in done.stdout
    assert f"{tmp_path}: no *.yaml or *.yml spec files in this directory" in done.stdout


def test_duplicate_environment_across_files(tmp_path: Path) -> None:
    shutil.copy(GOOD, tmp_path / "a.yaml")
    shutil.copy(GOOD, tmp_path / "b.yaml")
    done = vigil("check-spec", tmp_path)
    assert done.returncode == 1
    assert f"{tmp_path / 'b.yaml'}:3:14: environment: environment 'shop' is already" in done.stdout


def test_usage_errors_exit_two() -> None:
    assert vigil().returncode == 2
    done = vigil("check-spec")
    assert done.returncode == 2 and "FILE" in done.stderr


def test_main_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-spec", str(GOOD)]) == 0
    assert capsys.readouterr().out == "ok: 1 spec, 4 checks\n"
    assert main(["check-spec", str(BAD / "empty.yaml")]) == 1
    assert "the file is empty" in capsys.readouterr().out


def test_parser_has_subcommands_others_can_extend() -> None:
    parser = build_parser()
    args = parser.parse_args(["check-spec", "x.yaml"])
    assert args.command == "check-spec" and callable(args.func)
