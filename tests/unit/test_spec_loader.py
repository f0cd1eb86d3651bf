"""The spec loader against a corpus of malformed specs: each problem at its line and path."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from vigil.checks.models import HttpCheck
from vigil.spec.errors import Problem, SpecError
from vigil.spec.loader import load_spec, load_specs
from vigil.spec.models import Spec, TcpTarget

pytestmark = pytest.mark.unit

HERE = Path(__file__).parent
BAD = HERE / "specs_bad"
GOOD = HERE / "specs_good" / "shop.yaml"

# (file, line, field path, fragment of the message or hint). Line None: no place in the file.
CASES = [
    ("yaml_syntax.yaml", 12, "", "YAML syntax error: expected ',' or ']'"),
    ("yaml_syntax.yaml", 12, "", "flow sequence that starts on line 11"),
    ("yaml_tab.yaml", 4, "", "indent with spaces, not tabs"),
    ("yaml_two_documents.yaml", 6, "", "expected a single document"),
    ("empty.yaml", None, "", "the file is empty"),
    ("not_a_mapping.yaml", 1, "", "expected a mapping (key: value lines), found a list"),
    ("unknown_top_key.yaml", 6, "tag", "unknown key 'tag' — did you mean 'tags'?"),
    ("unknown_key.yaml", 11, "checks.health[0].timout_s", "did you mean 'timeout_s'?"),
    ("misspelt_target_key.yaml", 5, "targets.orders.base_ur", "did you mean 'base_url'?"),
    ("tcp_host_port.yaml", 5, "targets.cache.host", "write address: 'host:port'"),
    ("tcp_host_port.yaml", 4, "targets.cache.address", "missing required field 'address'"),
    ("wrong_type.yaml", 11, "checks.health[0].timeout_s", "should be a valid number"),
    ("missing_required.yaml", 4, "targets.db.conn_id", "missing required field 'conn_id'"),
    ("missing_environment.yaml", 1, "environment", "missing required field 'environment'"),
    ("bad_enum.yaml", 11, "checks.health[0].severity", "expected 'critical' or 'warning'"),
    ("bad_method.yaml", 11, "checks.health[0].method", "did you mean 'GET'?"),
    ("bad_target_kind.yaml", 4, "targets.orders.kind", "unknown kind 'htp'"),
    ("bad_target_kind.yaml", 4, "targets.orders.kind", "did you mean 'http'?"),
    ("bad_check_kind.yaml", 9, "checks.health[0].kind", "unknown kind 'htttp'"),
    ("missing_kind.yaml", 4, "targets.orders.kind", "missing required field 'kind'"),
    ("unknown_target.yaml", 10, "checks.health[0].target", "unknown target 'order'"),
    ("unknown_target.yaml", 10, "checks.health[0].target", "did you mean 'orders'?"),
    ("duplicate_check_id.yaml", 11, "checks.health[1].id", "duplicate check id 'orders-up'"),
    ("kind_mismatch.yaml", 9, "checks.health[0].kind", "a 'tcp' check needs a 'tcp' target"),
    ("bad_cron.yaml", 8, "schedules.daily.cron", "has 4 fields; expected 5"),
    ("cron_out_of_range.yaml", 8, "schedules.weekly.cron", "hour '25' is out of range 0-23"),
    ("bad_timezone.yaml", 2, "timezone", "did you mean 'Europe/Paris'?"),
    ("literal_password_url.yaml", 5, "targets.orders.base_url", "literal password"),
    ("literal_password_url.yaml", 5, "targets.orders.base_url", "'${VAR_NAME}'"),
    (
        "literal_auth_header.yaml",
        8,
        "targets.orders.headers.Authorization",
        "'Authorization' holds a literal secret",
    ),
    ("literal_auth_header.yaml", 8, "targets.orders.headers.Authorization", "conn_id"),
    ("literal_secret_in_body.yaml", 15, "checks.health[0].body.password", "literal secret"),
    ("secret_default.yaml", 12, "checks.health[0].headers.X-Api-Key", "drop the ':-...'"),
    ("query_token.yaml", 11, "checks.health[0].path", "query parameter 'access_token'"),
    ("bad_condition_syntax.yaml", 13, "checks.health[0].conditions[1]", "cannot parse condition"),
    (
        "bad_condition_regex.yaml",
        12,
        "checks.health[0].conditions[0]",
        "invalid regular expression",
    ),
    ("bad_condition_compare.yaml", 12, "checks.health[0].conditions[0]", "compares numbers"),
    ("unknown_depends_on.yaml", 6, "targets.orders.depends_on[0]", "unknown target 'db'"),
    ("unknown_depends_on.yaml", 6, "targets.orders.depends_on[0]", "did you mean 'dbs'?"),
    ("self_depends_on.yaml", 7, "targets.orders.depends_on[0]", "cannot depend on itself"),
    ("dependency_cycle.yaml", 6, "targets.orders.depends_on", "orders -> db -> orders"),
    ("negative_timeout.yaml", 11, "checks.health[0].timeout_s", "greater than 0; found -1"),
    ("bad_port.yaml", 5, "targets.cache.address", "port must be a number from 1 to 65535"),
    ("bad_address.yaml", 5, "targets.cache.address", "'localhost' is not 'host:port'"),
    ("bad_address_default.yaml", 5, "targets.cache.address", "the default of the reference"),
    ("empty_expect_status.yaml", 11, "checks.health[0].expect_status", "found an empty list"),
    ("bad_status_code.yaml", 11, "checks.health[0].expect_status[1]", "less than or equal to 599"),
    ("expect_status_not_list.yaml", 11, "checks.health[0].expect_status", "expected a list"),
    ("bad_base_url.yaml", 5, "targets.orders.base_url", "is not an http(s) URL"),
    ("bad_url_default.yaml", 5, "targets.orders.base_url", "the default 'localhost:18081'"),
    ("bad_name.yaml", 3, "targets.Orders", "invalid name 'Orders'"),
    ("bad_check_id.yaml", 8, "checks.health[0].id", "invalid name 'Orders Up'"),
    ("duplicate_yaml_key.yaml", 6, "targets.orders.base_url", "duplicate key 'base_url'"),
    ("malformed_env_ref.yaml", 5, "targets.orders.base_url", "malformed environment reference"),
    ("targets_not_mapping.yaml", 3, "targets", "expected a mapping"),
    ("check_not_mapping.yaml", 8, "checks.health[0]", "expected a mapping"),
    ("relative_path.yaml", 11, "checks.health[0].path", "path must start with '/'"),
    ("bad_cadence_kind.yaml", 9, "schedules.monthly.families[1]", "unknown check family 'qualty'"),
    ("retries_too_high.yaml", 7, "defaults.retries", "less than or equal to 10"),
    ("recursive_alias.yaml", 2, "", "recursive YAML alias"),
    # Nothing crashes or hangs the loader: each is a located problem.
    ("alias_bomb.yaml", 15, "x9", "stands for 1,111,111,111 values once its aliases"),
    ("deep_nesting.yaml", 12, "", "nesting deeper than 64 levels"),
    ("huge_int.yaml", 7, "", "cannot read this value: a number this long"),
    ("huge_duration.yaml", 10, "alerts.rules[0].repeat_interval", "at most 10 years (3650d)"),
    ("infinite_number.yaml", 7, "defaults.retry_delay_s", "inf is not a finite number"),
    ("bool_for_number.yaml", 10, "alerts.rules[0].count", "a boolean where a number is"),
    ("bad_timestamp.yaml", 2, "", "cannot read this value: day is out of range for month"),
    ("control_character.yaml", 6, "", "the character U+0007 is not allowed in YAML"),
    # Merges point at the `<<:` that brought the value in; keys are shown as written.
    ("merge_duplicate_check_id.yaml", 12, "checks.health[1].id", "duplicate check id 'orders-up'"),
    ("merge_scalar.yaml", 5, "", "'<<' merges a mapping ('<<: *base')"),
    ("null_key.yaml", 3, "targets['~']", "found the null key '~'"),
    # Literal secrets in every form.
    (
        "secret_mixed_reference.yaml",
        7,
        "targets.orders.headers.Authorization",
        "mixes literal text with a reference",
    ),
    ("secret_url_user.yaml", 5, "targets.repo.base_url", "literal token as its user name"),
    ("secret_slack_url.yaml", 10, "alerts.channels.chat.url", "a Slack webhook URL is a"),
    ("secret_token_in_path.yaml", 11, "checks.health[0].path", "the URL path holds a literal"),
    ("secret_query_signature.yaml", 11, "checks.health[0].path", "query parameter 'sig'"),
    ("secret_header_name.yaml", 7, "targets.orders.headers.X-Auth-Key", "holds a literal secret"),
    ("secret_numeric_header.yaml", 7, "targets.orders.headers.X-Api-Key", "holds a literal secret"),
    ("secret_json_body.yaml", 13, "checks.health[0].body", "the JSON in this value has a literal"),
    ("secret_object_body.yaml", 14, "checks.health[0].body.credentials.pass", "literal secret"),
    ("secret_binary.yaml", 14, "checks.health[0].body.password", "(a !!binary value)"),
    ("unknown_secret_key.yaml", 12, "alerts.channels.mail.password", "unknown key 'password'"),
    # Performance probes: consent, ceilings, thresholds parsed at load.
    ("probe_no_allow_load.yaml", 10, "checks.probes[0].target", "does not declare allow_load"),
    ("scenario_unknown_step.yaml", 11, "checks.scenarios[0].steps[0].htp", "did you mean 'http'?"),
    (
        "scenario_undefined_variable.yaml",
        11,
        "checks.scenarios[0].steps[0].http.path",
        "'{{order_id}}' is not defined before this step",
    ),
    (
        "scenario_undefined_variable.yaml",
        16,
        "checks.scenarios[0].steps[2].http.path",
        "did you mean 'order_id'?",
    ),
    (
        "scenario_write_not_allowed.yaml",
        12,
        "checks.scenarios[0].steps[0].http",
        "a POST step writes to it, but target 'api' does not declare allow_writes: true",
    ),
    (
        "scenario_write_not_allowed.yaml",
        14,
        "checks.scenarios[0].steps[1].subscribe.target",
        "sends messages to it, but target 'feed' does not declare allow_writes",
    ),
    (
        "scenario_parallel_no_copies.yaml",
        12,
        "checks.scenarios[0].steps[0].parallel.copies",
        "missing required field 'copies'",
    ),
    ("scenario_wrong_targets.yaml", 10, "checks.scenarios[0].uses[0]", "unknown target"),
    (
        "scenario_wrong_targets.yaml",
        13,
        "checks.scenarios[0].steps[0].sql.target",
        "needs a 'postgres' target, but 'api' is a 'http' target",
    ),
    (
        "scenario_wrong_targets.yaml",
        15,
        "checks.scenarios[0].steps[1].http.target",
        "needs a 'http' target, but 'db' is a 'postgres' target",
    ),
    (
        "scenario_wrong_targets.yaml",
        17,
        "checks.scenarios[0].steps[2].messages.subscription",
        "no earlier step subscribes as 'feed'",
    ),
    ("scenario_bad_pieces.yaml", 13, "checks.scenarios[0].steps[0].capture.first", "JSONPath"),
    (
        "scenario_bad_pieces.yaml",
        15,
        "checks.scenarios[0].steps[1].sql.query",
        "bind values as parameters",
    ),
    ("scenario_bad_pieces.yaml", 16, "checks.scenarios[0].steps[2]", "(it has http, sql)"),
    ("scenario_bad_pieces.yaml", 19, "checks.scenarios[0].steps[3]", "idempotent: true"),
    (
        "scenario_suite_unsafe.yaml",
        10,
        "checks.scenarios[0].uses[0]",
        "a test suite runs against it (and may write, even delete), but target 'db'",
    ),
    (
        "scenario_suite_unsafe.yaml",
        11,
        "checks.scenarios[0].command.env.API_TOKEN",
        "holds a literal secret",
    ),
    ("probe_pg_no_allow_load.yaml", 10, "checks.probes[0].target", "'pg_query' check sends load"),
    ("probe_bad_threshold.yaml", 15, "checks.probes[0].thresholds[1]", "did you mean 'p99'?"),
    ("probe_bad_threshold.yaml", 16, "checks.probes[0].thresholds[2]", "a share; write 1%"),
    ("probe_bad_threshold.yaml", 17, "checks.probes[0].thresholds[3]", "cannot read threshold"),
    (
        "probe_over_ceiling.yaml",
        14,
        "checks.probes[0].load.connections",
        "less than or equal to 256",
    ),
    ("probe_over_ceiling.yaml", 15, "checks.probes[0].load.max_requests", "or equal to 2000000"),
    (
        "probe_over_ceiling.yaml",
        18,
        "checks.probes[0].profiles.heavy.duration_s",
        "less than or equal to 300",
    ),
    ("probe_open_without_rate.yaml", 13, "checks.probes[0].load", "open-loop load needs rate"),
    ("probe_unknown_profile.yaml", 19, "schedules.weekly.probe_profile", "did you mean 'heavy'?"),
    ("probe_wrong_figure.yaml", 12, "checks.probes[0].thresholds", "no figure 'rps'"),
    ("probe_wrong_figure.yaml", 13, "checks.probes[1]", "needs at least one of uses_index"),
    ("probe_wrong_figure.yaml", 19, "checks.probes[2].target", "unknown target 'orders'"),
    (
        "probe_secret_header.yaml",
        17,
        "checks.probes[0].mix[1].headers.Authorization",
        "holds a literal secret",
    ),
    (
        "probe_secret_header.yaml",
        18,
        "checks.probes[0].thresholds[1]",
        "abort_when thresholds only",
    ),
    ("probe_secret_header.yaml", 19, "checks.probes[0].abort_when[0]", "cannot use a baseline"),
]


def problems_of(name: str) -> list[Problem]:
    with pytest.raises(SpecError) as caught:
        load_spec(BAD / name)
    return caught.value.problems


@pytest.mark.parametrize(("name", "line", "path", "fragment"), CASES)
def test_bad_spec_reports_problem_at_its_line(
    name: str, line: int | None, path: str, fragment: str
) -> None:
    problems = problems_of(name)
    here = [p for p in problems if p.line == line and p.path == path]
    shown = "\n".join(p.headline() for p in problems)
    assert here, f"no problem at line {line} path {path!r}; got:\n{shown}"
    assert any(fragment in p.headline() for p in here), shown


def test_every_fixture_has_a_case() -> None:
    fixtures = {p.name for p in BAD.glob("*.yaml")} - {"three_problems.yaml"}
    assert fixtures == {case[0] for case in CASES}
    assert len(fixtures) >= 30


@pytest.mark.parametrize("name", sorted(p.name for p in BAD.glob("*.yaml")))
def test_rendering_points_at_the_line(name: str) -> None:
    """Each problem renders as file:line:col: path: message, the source line and a caret."""
    with pytest.raises(SpecError) as caught:
        load_spec(BAD / name)
    text = str(caught.value)
    for problem in caught.value.problems:
        assert problem.file == str(BAD / name)
        if problem.line is None:
            assert f"{problem.file}: {problem.message}" in text
            continue
        head = f"{problem.file}:{problem.line}:{problem.column}: "
        assert head + (f"{problem.path}: " if problem.path else "") + problem.message in text
        shown, column, _ = problem.excerpt()  # the line, cut around the caret when long
        assert f"  {problem.line} | {shown}" in text
        caret = " " * (len(str(problem.line)) + 2) + " | " + " " * (column - 1) + "^"
        assert caret in text


def test_three_problems_reported_together_on_their_lines() -> None:
    problems = problems_of("three_problems.yaml")
    assert [(p.line, p.path) for p in problems] == [
        (8, "targets.cache.address"),
        (14, "checks.health[0].timout_s"),
        (17, "checks.health[1].target"),
    ]
    assert "port must be a number" in problems[0].message
    assert problems[1].hint == "did you mean 'timeout_s'?"
    assert problems[2].hint == "did you mean 'cache'?"


def test_unknown_key_points_at_the_key_and_hides_the_matching_missing_field() -> None:
    problems = problems_of("misspelt_target_key.yaml")
    assert len(problems) == 1  # not also "missing required field 'base_url'"
    (problem,) = problems
    assert (problem.line, problem.column, problem.end_column) == (5, 5, 12)
    assert problem.source_line == "    base_ur: http://127.0.0.1:18081"


def test_compiler_style_headline() -> None:
    (problem,) = problems_of("unknown_key.yaml")
    assert problem.headline() == (
        f"{BAD / 'unknown_key.yaml'}:11:7: checks.health[0].timout_s: "
        "unknown key 'timout_s' — did you mean 'timeout_s'?"
    )
    assert problem.render().splitlines()[1:] == [
        "  11 |       timout_s: 3",
        "     |       ^~~~~~~~",
    ]


def test_a_multi_line_secret_is_masked_too(tmp_path: Path) -> None:
    path = tmp_path / "folded.yaml"
    path.write_text(
        (BAD / "literal_auth_header.yaml")
        .read_text()
        .replace("Authorization: Bearer abc123", 'Authorization: "Bearer\n        abc123"')
    )
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    (problem,) = caught.value.problems
    assert (problem.line, problem.source_line) == (8, "      Authorization: ***")
    assert "Bearer" not in str(caught.value)


def test_located_references_and_a_secret_are_not_reported_twice() -> None:
    # The model validators refuse the same things; the loader keeps only its located report.
    assert len(problems_of("literal_auth_header.yaml")) == 1
    assert len(problems_of("literal_password_url.yaml")) == 1
    assert len(problems_of("kind_mismatch.yaml")) == 1
    assert len(problems_of("malformed_env_ref.yaml")) == 1


def test_problem_carries_found_and_expected() -> None:
    (problem,) = problems_of("bad_enum.yaml")
    assert problem.found == "'high'"
    assert problem.expected == "'critical' or 'warning'"
    (problem,) = problems_of("unknown_target.yaml")
    assert problem.found == "'order'" and problem.expected == "orders"


def test_good_spec_loads() -> None:
    spec = load_spec(GOOD)
    assert isinstance(spec, Spec)
    assert spec.environment == "shop"
    assert sorted(spec.targets) == ["broker", "cache", "db", "orders"]
    orders = spec.targets["orders"]
    assert orders.kind == "http"
    assert orders.base_url == "${SHOP_ORDERS_URL:-http://127.0.0.1:18081}"
    cache = spec.targets["cache"]
    assert isinstance(cache, TcpTarget) and cache.address == "${SHOP_CACHE_ADDR:-127.0.0.1:16379}"
    check = spec.checks.health[0]
    assert isinstance(check, HttpCheck)
    assert str(check.conditions[0]) == 'status == "ok"'
    assert spec.schedules.weekly.cron == "0 7 * * MON"


def test_load_specs_reports_bad_files_and_keeps_the_good(tmp_path: Path) -> None:
    shutil.copy(GOOD, tmp_path / "shop.yaml")
    shutil.copy(BAD / "unknown_key.yaml", tmp_path / "broken.yml")
    (tmp_path / "notes.txt").write_text("not a spec")
    twin = GOOD.read_text().replace("description: The shop", "description: Again")
    (tmp_path / "twin.yaml").write_text(twin)
    specs, errors = load_specs(tmp_path)
    assert list(specs) == ["shop"]
    assert set(errors) == {tmp_path / "broken.yml", tmp_path / "twin.yaml"}
    (dup,) = errors[tmp_path / "twin.yaml"].problems
    assert (dup.line, dup.path) == (3, "environment")
    assert f"environment 'shop' is already declared in {tmp_path / 'shop.yaml'}" in dup.message


def test_load_specs_on_a_missing_directory_says_so(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError, match="does not exist"):
        load_specs(tmp_path / "nowhere")


def test_unreadable_file_is_a_problem_without_a_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("environment: caf\xe9\n".encode("latin-1"))
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    (problem,) = caught.value.problems
    assert problem.line is None and "cannot read the spec file" in problem.message


def test_no_stale_results_between_loads(tmp_path: Path) -> None:
    path = tmp_path / "shop.yaml"
    path.write_text((BAD / "unknown_key.yaml").read_text())
    with pytest.raises(SpecError):
        load_spec(path)
    path.write_text(GOOD.read_text())
    assert load_spec(path).environment == "shop"
    path.write_text((BAD / "bad_enum.yaml").read_text())
    with pytest.raises(SpecError, match="'high' is not allowed"):
        load_spec(path)


def test_loading_imports_nothing_heavy() -> None:
    """DAG files load specs on every parse: no Airflow, GX, HTTP clients or drivers."""
    code = (
        "import sys; from vigil.spec.loader import load_spec, load_specs; "
        f"load_spec({str(GOOD)!r}); load_specs({str(BAD)!r}); "
        "heavy = ('airflow', 'great_expectations', 'requests', 'aiohttp', 'psycopg2', 'pandas', "
        "'sqlalchemy', 'docker'); print(sorted(m for m in heavy if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


def test_loading_opens_no_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the spec loader opened a socket")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    assert load_spec(GOOD).environment == "shop"
    specs, errors = load_specs(BAD)
    assert not specs and len(errors) == len(list(BAD.glob("*.yaml")))


def test_mangled_specs_never_crash_the_loader(tmp_path: Path) -> None:
    """Random one-character edits of a good spec: a Spec or a SpecError, never a traceback."""
    rng = random.Random(20240601)
    lines = GOOD.read_text().splitlines()
    alphabet = ":-[]{}'\"&*!|>%@`#\t ,?x1${}\\é"
    path = tmp_path / "mangled.yaml"
    outcomes = {"ok": 0, "problems": 0}
    for _ in range(300):
        mangled = list(lines)
        index = rng.randrange(len(mangled))
        line = mangled[index] or " "
        column = rng.randrange(len(line))
        mangled[index] = line[:column] + rng.choice(alphabet) + line[column + 1 :]
        path.write_text("\n".join(mangled) + "\n")
        try:
            load_spec(path)
            outcomes["ok"] += 1
        except SpecError as exc:
            outcomes["problems"] += 1
            assert exc.problems and str(exc)
            assert all(p.line is None or 1 <= p.line <= len(mangled) + 1 for p in exc.problems)
    assert outcomes["problems"] > 100
