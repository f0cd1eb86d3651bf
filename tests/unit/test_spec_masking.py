"""check-spec never prints the secret it found: source lines, `found` values and messages
are masked wherever a credential sits (this text reaches Airflow's import-error page)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.spec.errors import Problem, SpecError
from vigil.spec.loader import load_spec
from vigil.spec.masking import redact, secret_spans

pytestmark = pytest.mark.unit

BAD = Path(__file__).parent / "specs_bad"

# What each secret fixture holds literally: no report may show any of it.
SECRETS = {
    "literal_auth_header.yaml": "abc123",
    "literal_secret_in_body.yaml": "hunter2",
    "secret_default.yaml": "abc123",
    "secret_mixed_reference.yaml": "sk_live_abc",
    "secret_url_user.yaml": "ghp_16C7e42F",
    "secret_slack_url.yaml": "AbCdEfGhIjKl",
    "secret_token_in_path.yaml": "Zk3qP9xWm2",
    "secret_query_signature.yaml": "5qtBt0z0",
    "secret_header_name.yaml": "c2VjcmV0LWtleQ",
    "secret_numeric_header.yaml": "8675309123",
    "secret_json_body.yaml": "hunter2",
    "secret_object_body.yaml": "hunter2",
    "secret_binary.yaml": "aHVudGVyMg",
    "unknown_secret_key.yaml": "hunter2",
}

HEAD = "environment: masked\ntargets:\n  orders:\n    kind: http\n    base_url: http://x:1\n"


def report(tmp_path: Path, text: str) -> tuple[list[Problem], str]:
    path = tmp_path / "spec.yaml"
    path.write_text(HEAD + text)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return caught.value.problems, str(caught.value)


def every_field(problems: list[Problem]) -> str:
    return "\n".join(
        " ".join(str(v) for v in (p.message, p.found, p.expected, p.hint, p.source_line))
        for p in problems
    )


def test_an_unknown_password_key_is_reported_masked(tmp_path: Path) -> None:
    problems, text = report(
        tmp_path,
        "alerts:\n  channels:\n    mail:\n      kind: email\n      conn_id: smtp\n"
        "      to: [ops@example.com]\n      password: hunter2\n",
    )
    unknown = next(p for p in problems if "unknown key 'password'" in p.message)
    assert unknown.source_line == "      password: ***"
    assert (unknown.column, unknown.end_column) == (7, 15)  # the key stays underlined
    assert "hunter2" not in text + every_field(problems)


def test_a_numeric_credential_header_is_not_echoed(tmp_path: Path) -> None:
    problems, text = report(tmp_path, "    headers:\n      X-Api-Key: 8675309123\n")
    assert len(problems) == 1  # not also "should be a valid string; found 8675309123"
    assert problems[0].found == "(a literal value)"
    assert "8675309123" not in text + every_field(problems)


def test_a_type_error_under_a_credential_key_hides_the_value(tmp_path: Path) -> None:
    problems, text = report(tmp_path, "    headers:\n      X-Api-Key: {value: s3cr3tv4lue}\n")
    assert problems and "s3cr3tv4lue" not in text + every_field(problems)


def test_other_problems_on_a_line_with_a_secret_mask_it_and_keep_the_caret(
    tmp_path: Path,
) -> None:
    problems, text = report(
        tmp_path,
        "checks:\n  health:\n    - {id: up, kind: http, target: orders, "
        "headers: {X-Auth-Key: s3cr3tv4lue}, bogus: 1}\n",
    )
    bogus = next(p for p in problems if p.path.endswith("bogus"))
    shown, column, width = bogus.excerpt()
    assert shown[column - 1 : column - 1 + width] == "bogus"
    assert "s3cr3tv4lue" not in text + every_field(problems)


def test_a_syntax_error_on_a_secret_line_is_masked(tmp_path: Path) -> None:
    problems, text = report(tmp_path, "    headers:\n      Authorization: 'Bearer s3cr3tv4lue\n")
    assert problems[0].message.startswith("YAML syntax error")
    assert "s3cr3tv4lue" not in text


def test_a_malformed_reference_in_a_credential_is_not_quoted(tmp_path: Path) -> None:
    problems, text = report(
        tmp_path, "    headers:\n      Authorization: Bearer ${TOKEN s3cr3tv4lue\n"
    )
    assert any("malformed environment reference in this value" in p.message for p in problems)
    assert "s3cr3tv4lue" not in text + every_field(problems)


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        ("      Authorization: Bearer abc123", "      Authorization: ***"),
        ('  body: \'{"password": "hunter2", "a": 1}\'', '  body: \'{"password": ***, "a": 1}\''),
        ("    base_url: https://u:hunter2@h/x?api_key=k1&page=2", None),
        ("  password: hunter2  # comment", "  password: ***  # comment"),
        ("  token_url: https://x/oauth/token", "  token_url: https://x/oauth/token"),
        ("  - {X-Api-Key: 42, Accept: json}", "  - {X-Api-Key: ***, Accept: json}"),
        (
            '  api: {timout: 1, headers: {X-Api-Key: "k1,SecretTailPart99"}}',
            "  api: {timout: 1, headers: {X-Api-Key: ***}}",
        ),
        (
            "  a: {X-Api-Key: 'it''s,SecretTailPart99', b: 1}",
            "  a: {X-Api-Key: ***, b: 1}",
        ),
        ("  a: {client_secret: [Abc1234xx, Def5678yy], b: 1}", "  a: {client_secret: ***, b: 1}"),
        ("  - {auth: {user: probe, pw: hunter3zz}, b: 1}", "  - {auth: ***, b: 1}"),
        ("  client_secret: [Abc1234xx, Def5678yy]", "  client_secret: ***"),
        ('  password: "a # b"  # comment', "  password: ***  # comment"),
    ],
)
def test_the_line_net(line: str, masked: str | None) -> None:
    shown, _, _ = redact(line, secret_spans(line), 1, None)
    if masked is None:
        assert "hunter2" not in shown and "k1" not in shown and "page=2" in shown
    else:
        assert shown == masked


def test_redact_moves_the_caret_and_underlines_the_mask() -> None:
    line = "  a: {password: hunter2, bad: 1}"
    spans = secret_spans(line)
    shown, column, end = redact(line, spans, line.index("bad") + 1, line.index("bad") + 4)
    assert shown == "  a: {password: ***, bad: 1}"
    assert end is not None and shown[column - 1 : end - 1] == "bad"
    value = line.index("hunter2") + 1
    shown, column, end = redact(line, spans, value, value + 7)  # the secret itself
    assert end is not None and shown[column - 1 : end - 1] == "***"


def test_a_target_named_like_a_credential_is_not_masked(tmp_path: Path) -> None:
    problems, _ = report(tmp_path, "  auth:\n    kind: http\n    base_url: localhost:80\n")
    (problem,) = problems
    assert problem.path == "targets.auth.base_url"
    assert problem.source_line == "    base_url: localhost:80"


@pytest.mark.parametrize(("name", "secret"), sorted(SECRETS.items()))
def test_literal_secrets_are_masked_in_the_report(name: str, secret: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(BAD / name)
    problems = caught.value.problems
    text = str(SpecError(problems))
    assert secret not in text, text
    assert "***" in text
    for problem in problems:  # nor in what a caller may print field by field
        fields = (problem.found, problem.source_line, problem.message, problem.hint)
        assert not any(secret in (value or "") for value in fields), problem


def test_check_spec_shows_no_part_of_a_secret_in_a_flow_mapping(tmp_path: Path) -> None:
    problems, text = report(
        tmp_path,
        "checks:\n  health:\n    - {id: up, kind: http, target: orders, timout: 1, "
        'headers: {X-Api-Key: "k1,SecretTailPart99"}}\n'
        "    - {id: up2, kind: http, target: orders, timout: 1, "
        "body: {client_secret: [Abc1234xx, Def5678yy]}}\n",
    )
    shown = text + every_field(problems)
    assert any(p.path.endswith("timout") for p in problems)
    for secret in ("SecretTailPart99", "Abc1234xx", "Def5678yy"):
        assert secret not in shown
