"""Legitimate YAML is accepted (merges, anchors, CRLF, a byte-order mark) and every problem
points where a person would look: a merged value at its `<<:` line, keys as written, long
lines cut around the caret."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.spec.errors import Problem, SpecError
from vigil.spec.loader import load_spec
from vigil.spec.models import HttpTarget

pytestmark = pytest.mark.unit

HERE = Path(__file__).parent
GOOD = HERE / "specs_good"
SHOP = GOOD / "shop.yaml"


def problems(tmp_path: Path, text: str, newline: str = "\n") -> list[Problem]:
    path = tmp_path / "spec.yaml"
    path.write_bytes(text.replace("\n", newline).encode())
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return caught.value.problems


@pytest.mark.parametrize("name", sorted(p.name for p in GOOD.glob("*.yaml")))
def test_every_good_spec_loads(name: str) -> None:
    assert load_spec(GOOD / name).environment


def test_merges_apply_with_local_overrides() -> None:
    spec = load_spec(GOOD / "merges.yaml")
    checks = {c.id: c for c in spec.checks_of("health")}
    assert list(checks) == ["orders-health", "orders-list", "inventory-health", "inventory-list"]
    assert {c.kind for c in checks.values()} == {"http"}
    assert checks["orders-list"].path == "/v1/orders?limit=5"
    assert checks["orders-list"].target == "orders" and checks["orders-list"].timeout_s == 5
    inventory = checks["inventory-health"]  # the check's own keys, then the first merged
    assert (inventory.target, inventory.severity.value, inventory.timeout_s) == (
        "inventory",
        "warning",
        5,
    )
    inventory_target, orders_target = spec.targets["inventory"], spec.targets["orders"]
    assert isinstance(inventory_target, HttpTarget) and isinstance(orders_target, HttpTarget)
    assert inventory_target.headers == orders_target.headers


@pytest.mark.parametrize(("newline", "bom"), [("\r\n", b""), ("\n", b"\xef\xbb\xbf"), ("\r", b"")])
def test_line_endings_and_a_bom_read_the_same(tmp_path: Path, newline: str, bom: bytes) -> None:
    path = tmp_path / "shop.yaml"
    path.write_bytes(bom + SHOP.read_text().replace("\n", newline).encode())
    assert load_spec(path).model_dump() == load_spec(SHOP).model_dump()


def test_a_crlf_file_reports_lines_without_carriage_returns(tmp_path: Path) -> None:
    text = SHOP.read_text().replace("timeout_s: 5", "timout_s: 5")
    (problem,) = problems(tmp_path, text, newline="\r\n")
    assert (problem.line, problem.path) == (28, "checks.health[0].timout_s")
    assert problem.source_line == "      timout_s: 5"


def test_a_true_duplicate_key_is_still_caught_next_to_a_merge(tmp_path: Path) -> None:
    text = (GOOD / "merges.yaml").read_text()
    again = "      id: orders-list\n      id: orders-again\n"
    text = text.replace("      id: orders-list\n", again)
    (problem,) = problems(tmp_path, text)
    assert (problem.line, problem.path) == (26, "checks.health[1].id")
    assert "duplicate key 'id' (first written on line 25)" in problem.message


def test_a_value_that_came_through_a_merge_points_at_the_merge(tmp_path: Path) -> None:
    text = (GOOD / "merges.yaml").read_text().replace("timeout_s: 5", "timeout_s: 500")
    found = problems(tmp_path, text)
    assert [(p.line, p.path) for p in found] == [
        (22, "checks.health[0].timeout_s"),  # written here
        (24, "checks.health[1].timeout_s"),  # merged in by `- <<: *http-check`
        (27, "checks.health[2].timeout_s"),  # the first of `<<: [*http-check, {...}]` wins
        (30, "checks.health[3].timeout_s"),  # merged in by `{<<: *http-check, ...}`
    ]
    assert found[1].source_line == "    - <<: *http-check"
    assert all("less than or equal to 300" in p.message for p in found)


def test_a_merge_of_an_anchored_scalar_points_at_the_merge(tmp_path: Path) -> None:
    text = SHOP.read_text().replace("timezone: Europe/Paris", "timezone: &tz Europe/Paris")
    text = text.replace("  db:\n    kind: postgres\n", "  db:\n    <<: *tz\n    kind: postgres\n")
    (problem,) = problems(tmp_path, text)
    assert problem.line == 14 and problem.source_line == "    <<: *tz"
    assert "'<<' merges a mapping" in problem.message


def test_keys_are_shown_as_written(tmp_path: Path) -> None:
    text = SHOP.read_text().replace("  broker:\n", "  ~:\n").replace("  cache:\n", "  1:\n")
    found = {p.path: p for p in problems(tmp_path, text)}
    assert set(found) >= {"targets['~']", "targets.1"}
    assert "found the null key '~'" in found["targets['~']"].message


def test_a_long_line_is_cut_around_the_caret(tmp_path: Path) -> None:
    long_path = "/" + "p" * 100_000
    text = SHOP.read_text().replace("path: /health", f"path: {long_path}?x=1 bad: [")
    (problem,) = problems(tmp_path, text)
    rendered = problem.render()
    assert len(rendered) < 1_000
    shown, column, _ = problem.excerpt()
    assert shown.startswith("...") and len(shown) < 200
    assert shown.endswith("?x=1 bad: [") and shown[column - 1 :] == ": ["  # the caret's ':'
    assert problem.column == len(long_path) + 21  # the headline keeps the file's column


def test_a_long_value_in_a_message_is_cut(tmp_path: Path) -> None:
    text = SHOP.read_text().replace("address: 127.0.0.1:15672", "address: " + "h" * 100_000)
    (problem,) = problems(tmp_path, text)
    assert problem.path == "targets.broker.address" and len(problem.message) <= 400
    assert "is not 'host:port'" in problem.message
    assert len(str(SpecError([problem]))) < 1_000
