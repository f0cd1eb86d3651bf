"""Nothing crashes or hangs the spec loader: every hostile file is a located problem of that
file, found quickly, and never hides the other files' problems or specs."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from vigil.alerts.durations import MAX_DURATION, parse_duration
from vigil.spec import loader
from vigil.spec.errors import SpecError
from vigil.spec.loader import load_spec, load_specs
from vigil.spec.reading import MAX_BYTES, MAX_NODES

pytestmark = pytest.mark.unit

GOOD = Path(__file__).parent / "specs_good" / "shop.yaml"
HEAD = (
    "environment: {name}\ntargets:\n  orders:\n    kind: http\n"
    "    base_url: http://127.0.0.1:18081\n"
)


def _chain(prefix: str, count: int, body: str) -> str:
    """`a0: &a0 <body with *a-1>` ... : each anchor's body repeats the previous one."""
    lines = [f"{prefix}0: &{prefix}0 1"]
    for i in range(1, count):
        lines.append(f"{prefix}{i}: &{prefix}{i} " + body.format(f"*{prefix}{i - 1}"))
    return "\n".join(lines) + "\n"


RULE = "alerts:\n  rules:\n    - {{id: r, kind: consecutive_failures, repeat_interval: {}}}\n"

# name -> (text after the head, line of the problem or None, fragment of its headline)
CRASHERS: dict[str, tuple[str, int | None, str]] = {
    # billion laughs: 10^9 values from 10 lines; walking them took minutes
    "alias_bomb": (_chain("l", 10, "[" + ", ".join(["{0}"] * 10) + "]"), 15, "alias bomb"),
    # merges multiply too: 2^40 entries
    "merge_bomb": (_chain("m", 40, "{{<<: [{0}, {0}], k: 1}}"), 45, "values once its aliases"),
    # 20 anchors of 60 levels each: 1,200 levels through aliases (RecursionError)
    "alias_depth": (_chain("d", 20, "[" * 60 + "{0}" + "]" * 60), 25, "a spec nests at most 64"),
    # 100,000 levels segfaulted libyaml's composer; 5,000 overflowed Python's stack
    "deep_flow": ("x: " + "[" * 100_000 + "]" * 100_000 + "\n", 6, "nesting deeper than 64"),
    "deep_flow_5k": ("x: " + "{a: " * 5_000 + "1" + "}" * 5_000 + "\n", 6, "nesting deeper"),
    "deep_block": ("x:\n" + "".join("  " * i + "-\n" for i in range(300)), 70, "nesting deeper"),
    "deep_compact": ("x:\n  " + "- " * 100_000 + "a\n", 7, "nesting deeper"),
    # OverflowError in the duration parser
    "huge_duration": (RULE.format("9999999999w"), 8, "out of range"),
    "infinite_duration": (RULE.format(".inf"), 8, "not a finite number"),
    "nan": ("defaults:\n  task_timeout_s: .nan\n", 7, "nan is not a finite number"),
    "inf_text": ('defaults:\n  retry_delay_s: "-Infinity"\n', 7, "is not a finite number"),
    # ValueError inside the YAML constructor
    "huge_int": ("defaults:\n  retries: " + "7" * 5000 + "\n", 7, "cannot read this value"),
    "bad_date": ("description: 2023-02-29\n", 6, "day is out of range"),
    "bad_float_tag": ("description: !!float one\n", 6, "cannot read this value"),
    "python_tag": ("description: !!python/name:os.system ''\n", 6, "could not determine"),
    "unhashable_key": ("? [a, b]\n: 1\n", 6, "unhashable key"),
    "merge_scalar": ("x:\n  <<: 1\n", 7, "'<<' merges a mapping"),
    "nul_character": ('description: "a\x00b"\n', 6, "U+0000 is not allowed"),
    # a 100,000-character value must neither hang a scan nor print 100 KB
    "long_value": (
        "  long:\n    kind: http\n    base_url: " + "a" * 100_000 + "\n",
        8,
        "is not an http(s) URL",
    ),
    "long_ref": ("description: '" + "${A:-" * 20_000 + "'\n", 6, "malformed environment"),
}


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(HEAD.format(name=name.replace("_", "-")) + text, encoding="utf-8")
    return path


@pytest.mark.timeout(20)
def test_each_crashing_file_is_a_problem_and_the_good_one_loads(tmp_path: Path) -> None:
    shutil.copy(GOOD, tmp_path / "shop.yaml")
    for name, (text, _, _) in CRASHERS.items():
        _write(tmp_path, name, text)
    (tmp_path / "huge.yaml").write_text("environment: huge\n# " + "x" * MAX_BYTES + "\n")

    specs, errors = load_specs(tmp_path)

    assert list(specs) == ["shop"]
    assert set(errors) == {tmp_path / f"{n}.yaml" for n in [*CRASHERS, "huge"]}
    for name, (_, line, fragment) in CRASHERS.items():
        problems = errors[tmp_path / f"{name}.yaml"].problems
        shown = "\n".join(p.headline()[:300] for p in problems)
        assert problems, name
        if line is not None:
            assert any(p.line == line and fragment in p.headline() for p in problems), (
                f"{name}: nothing at line {line} with {fragment!r}:\n{shown}"
            )
        assert not any("internal error" in p.message for p in problems), shown
        assert len(str(errors[tmp_path / f"{name}.yaml"])) < 5_000, name  # no 100 KB lines
    (huge,) = errors[tmp_path / "huge.yaml"].problems
    assert huge.line is None and f"a spec is at most {MAX_BYTES:,}" in huge.message


@pytest.mark.timeout(20)
def test_an_unexpected_exception_is_a_problem_of_that_file_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(GOOD, tmp_path / "shop.yaml")
    _write(tmp_path, "boom", "")
    real = loader.check_data

    def crash_on_boom(parsed: Any) -> None:
        if parsed.path.name == "boom.yaml":
            raise RuntimeError("the checker fell over (password: hunter2)")
        real(parsed)

    monkeypatch.setattr(loader, "check_data", crash_on_boom)
    specs, errors = load_specs(tmp_path)
    assert list(specs) == ["shop"]
    (problem,) = errors[tmp_path / "boom.yaml"].problems
    assert problem.message.startswith("internal error while loading: RuntimeError: the checker")
    assert "hunter2" not in problem.message  # an exception's text is masked too
    with pytest.raises(SpecError, match="internal error while loading"):
        load_spec(tmp_path / "boom.yaml")


def test_a_bomb_is_pointed_at_where_the_aliases_multiply(tmp_path: Path) -> None:
    path = _write(tmp_path, "bomb", CRASHERS["alias_bomb"][0])
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    (problem,) = caught.value.problems
    assert (problem.line, problem.column, problem.path) == (15, 5, "l9")
    assert "stands for 1,111,111,111 values once its aliases are expanded" in problem.message
    assert f"at most {MAX_NODES:,}" in problem.message


def test_nesting_through_aliases_points_at_the_alias(tmp_path: Path) -> None:
    path = _write(tmp_path, "depth", CRASHERS["alias_depth"][0])
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    (problem,) = caught.value.problems
    assert problem.line == 25 and problem.path.startswith("d19[0][0]")
    shown, column, _ = problem.excerpt()
    assert shown[column - 1 :].startswith("[*d18]")  # the list that holds the alias


@pytest.mark.timeout(20)
def test_many_values_without_aliases_are_refused_before_composing(tmp_path: Path) -> None:
    path = _write(tmp_path, "wide", "tags: [" + "a, " * 150_000 + "a]\n")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    (problem,) = caught.value.problems
    assert problem.line == 6 and f"more than {MAX_NODES:,} values" in problem.message
    assert len(problem.render()) < 1_000


def test_a_file_over_the_size_cap_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * (MAX_BYTES + 1))
    with pytest.raises(SpecError, match="the spec file is 1,048,577 bytes"):
        load_spec(path)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("3650d", 3650 * 86400), ("521w", 521 * 604800), (MAX_DURATION, 3650 * 86400), (0.5, 0.5)],
)
def test_durations_up_to_ten_years(value: Any, seconds: float) -> None:
    assert parse_duration(value).total_seconds() == seconds


@pytest.mark.parametrize(
    "value",
    [
        "9999999999w",
        "3651d",
        "1" * 400 + "s",
        10**30,
        10**5000,
        float("inf"),
        float("nan"),
        timedelta(days=4000),
    ],
    ids=["weeks", "days", "digits", "int", "int-5000-digits", "inf", "nan", "timedelta"],
)
def test_durations_past_ten_years_name_the_range(value: Any) -> None:
    with pytest.raises(ValueError, match=r"out of range; a duration is above zero and at most 10"):
        parse_duration(value)
