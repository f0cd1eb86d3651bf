"""Values a spec must not accept: empty names and ids, suite paths that leave the
expectations folder (refused when the spec loads, and again when a check runs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.config_errors import is_configuration_error
from vigil.context import RunContext
from vigil.quality import run
from vigil.quality.models import SuiteCheck
from vigil.quality.paths import OutsideExpectations, inside_expectations, relative_inside
from vigil.result import Status
from vigil.spec.errors import SpecError
from vigil.spec.loader import load_spec
from vigil.spec.models import Spec

pytestmark = pytest.mark.unit

BAD = Path(__file__).parent / "specs_bad_values"


def problems(name: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(SpecError) as raised:
        load_spec(BAD / name)
    return [(p.line, p.path, p.message) for p in raised.value.problems]


def test_empty_names_and_connection_ids_are_refused_each_at_its_line() -> None:
    assert problems("empty_names.yaml") == [
        (2, "results_conn_id", "must not be empty"),
        (4, "targets.db.conn_id", "must not be empty"),
        (7, "alerts.channels.mail.conn_id", "must not be empty"),  # " " is empty too
        (9, "alerts.silences[0].name", "must not be empty"),
    ]


def test_suite_and_snapshot_paths_must_stay_in_the_expectations_folder() -> None:
    found = problems("suite_path_escapes.yaml")
    assert [(line, path) for line, path, _ in found] == [
        (6, "checks.quality[0].suite"),
        (7, "checks.quality[1].suite"),
        (8, "checks.quality[2].snapshot"),
    ]
    assert all("inside the expectations folder" in message for _, _, message in found)


@pytest.mark.parametrize(
    "path", ["/etc/passwd.json", "~/x.json", "a/../../b.json", "..", "a\\..\\b.json", "a\0.json"]
)
def test_relative_inside_refuses_every_way_out(path: str) -> None:
    with pytest.raises(OutsideExpectations):
        relative_inside(path)


def test_relative_inside_keeps_ordinary_paths() -> None:
    assert relative_inside("demo/orders.json") == "demo/orders.json"
    assert relative_inside("a..b/c.json") == "a..b/c.json"  # dots in a name are no way out


def test_a_link_out_of_the_folder_is_refused_when_the_check_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, outside = tmp_path / "expectations", tmp_path / "secret.json"
    folder.mkdir()
    outside.write_text("{}")
    (folder / "linked.json").symlink_to(outside)
    monkeypatch.setenv("VIGIL_EXPECTATIONS_DIR", str(folder))
    with pytest.raises(OutsideExpectations, match="outside"):
        inside_expectations("linked.json")
    check = SuiteCheck(id="x", kind="suite", target="db", suite="linked.json", table="t")
    spec = Spec.model_validate(
        {"environment": "e", "targets": {"db": {"kind": "postgres", "conn_id": "db"}}}
    )
    (result,) = run.run_checks([check], RunContext(spec, environ={}))
    assert result.status is Status.ERROR and result.check_id == "x"
    assert "outside" in result.message and str(folder.resolve()) in result.message
    assert is_configuration_error(result)  # fails its task without a retry (ADR 0002)


def test_a_missing_suite_or_connection_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "there.json").write_text('{"name": "s", "expectations": []}')
    monkeypatch.setenv("VIGIL_EXPECTATIONS_DIR", str(tmp_path))
    missing = SuiteCheck(id="gone", kind="suite", target="db", suite="gone.json", table="t")
    no_conn = SuiteCheck(id="noconn", kind="suite", target="db", suite="there.json", table="t")
    spec = Spec.model_validate(
        {"environment": "e", "targets": {"db": {"kind": "postgres", "conn_id": "nowhere"}}}
    )
    found = run.run_checks([missing, no_conn], RunContext(spec, environ={}))
    assert [(r.check_id, r.status) for r in found] == [
        ("gone", Status.ERROR),
        ("noconn", Status.ERROR),
    ]
    assert "not found" in found[0].message and "'nowhere'" in found[1].message
    assert all(is_configuration_error(r) for r in found)


@pytest.mark.parametrize(
    ("headers", "words"),
    [
        ({"": "v"}, "header name '' is not a valid HTTP header name"),
        ({"Bad Name": "v"}, "header name 'Bad Name' is not a valid HTTP header name"),
        ({"X-A": "a\r\nSet-Cookie: x"}, "header 'X-A' has a line break in its value"),
    ],
)
def test_header_names_are_http_tokens_and_values_one_line(
    tmp_path: Path, headers: dict[str, str], words: str
) -> None:
    import json

    spec = tmp_path / "h.yaml"
    target = {"kind": "http", "base_url": "http://127.0.0.1:1", "headers": headers}
    spec.write_text(json.dumps({"environment": "h", "targets": {"t": target}}))
    with pytest.raises(SpecError) as raised:
        load_spec(spec)
    (problem,) = raised.value.problems
    assert problem.path == "targets.t.headers" and words in problem.message


@pytest.mark.parametrize("url", ["http://[::1", "http://x:99999", "http://:80", "https://"])
def test_a_base_url_that_does_not_parse_is_refused(tmp_path: Path, url: str) -> None:
    spec = tmp_path / "u.yaml"
    spec.write_text(f'environment: u\ntargets: {{t: {{kind: http, base_url: "{url}"}}}}\n')
    with pytest.raises(SpecError) as raised:
        load_spec(spec)
    (problem,) = raised.value.problems
    assert problem.path == "targets.t.base_url" and "is not an http(s) URL" in problem.message


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/a", "https://[::1]:443/x", "${URL:-http://[::1]:80}", "${URL}"]
)
def test_ordinary_base_urls_load(tmp_path: Path, url: str) -> None:
    spec = tmp_path / "u.yaml"
    spec.write_text(f'environment: u\ntargets: {{t: {{kind: http, base_url: "{url}"}}}}\n')
    assert load_spec(spec).targets["t"].kind == "http"


def test_a_check_points_at_a_target_kind_it_can_read() -> None:
    """A `metrics` check reads an `http` target and `promql` a `prometheus` one (their
    models say so); other health kinds need the target kind of their own name."""
    assert problems("check_reads_wrong_target_kind.yaml") == [
        (9, "checks.health[1].target",
         "a 'metrics' check needs a 'http' target, but 'prom' is a 'prometheus' target"),
        (10, "checks.health[2].target",
         "a 'promql' check needs a 'prometheus' target, but 'api' is a 'http' target"),
        (11, "checks.health[3].kind",
         "a 'http' check needs a 'http' target, but 'cache' is a 'tcp' target"),
    ]  # fmt: skip


def test_the_old_kinds_key_says_it_was_renamed(tmp_path: Path) -> None:
    spec = tmp_path / "k.yaml"
    spec.write_text(
        "environment: x\ntargets: {t: {kind: tcp, address: '127.0.0.1:1'}}\n"
        "schedules:\n  daily: {cron: '0 6 * * *', kinds: [health]}\n"
    )
    with pytest.raises(SpecError) as raised:
        load_spec(spec)
    (problem,) = raised.value.problems
    assert (problem.line, problem.path) == (4, "schedules.daily.kinds")
    assert problem.hint is not None and "renamed to 'families'" in problem.hint


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/a?b=1",
        "https://h/x#frag",
        "https://h/fn?sig=${AZ}",
        "${U:-http://h/?k=1}",
    ],
)
def test_a_base_url_with_a_query_or_fragment_is_refused_at_its_line(
    tmp_path: Path, url: str
) -> None:
    spec = tmp_path / "u.yaml"
    spec.write_text(f'environment: u\ntargets:\n  t: {{kind: http, base_url: "{url}"}}\n')
    with pytest.raises(SpecError) as raised:
        load_spec(spec)
    (problem,) = raised.value.problems
    assert problem.path == "targets.t.base_url" and problem.line == 3
    assert "has a query or fragment" in problem.message


def test_a_webhook_channel_url_may_keep_its_query() -> None:
    from vigil.spec.validators import check_http_url

    assert check_http_url("https://h/hook?code=${CODE}") == "https://h/hook?code=${CODE}"
    with pytest.raises(ValueError, match="query or fragment"):
        check_http_url("https://h/hook?code=${CODE}", base=True)
