"""The one masker: every spelling of a secret, longest first, URLs in parts, nested
evidence, many threads at once; and the run context and channel resolver that feed it."""

from __future__ import annotations

import json
import threading
from urllib.parse import quote, quote_plus

import pytest

from vigil.alerts.resolver import Resolver
from vigil.context import ConfigError, ConnectionInfo, RunContext, expand
from vigil.masking import Masker, mask_tree, spellings
from vigil.spec.models import Spec

pytestmark = pytest.mark.unit


def masker(*secrets: str) -> Masker:
    m = Masker()
    for secret in secrets:
        m.remember(secret)
    return m


@pytest.mark.parametrize(
    ("secret", "said"),
    [
        ("tok-123", "Authorization: Bearer tok-123"),
        # repr-escaped, as an exception message quotes a header value it refuses
        ("tok-123\n", "invalid header value: 'tok-123\\n'"),
        # stripped, as a library or a one-line message has it
        ("tok-123\n", "sent tok-123 and failed"),
        # JSON-escaped, as a service echoes it in an error document
        ('p"w\\d-9', json.dumps({"got": 'p"w\\d-9'})),
        # percent-encoded, as a URL or a form body carries it
        ("p@ss/w rd", "GET /login?pw=" + quote("p@ss/w rd", safe="")),
        ("p@ss/w rd", "pw=" + quote_plus("p@ss/w rd")),
        ("p@ss/w rd", "GET /" + quote("p@ss/w rd")),
    ],
)
def test_every_spelling_of_a_secret_is_masked(secret: str, said: str) -> None:
    masked = masker(secret).mask(said)
    assert "***" in masked
    for form in spellings(secret):
        assert form not in masked


def test_short_and_empty_values_are_not_secrets() -> None:
    m = masker("abc", "", "  ab  ")
    assert m.mask("abc ab on") == "abc ab on"
    assert masker("abcd").mask("xabcdx") == "x***x"


def test_the_longest_secret_wins() -> None:
    # Were the short one replaced first, the rest of the long one would stay readable.
    m = masker("abcd", "abcdefgh-long")
    assert m.mask("<abcdefgh-long> <abcd>") == "<***> <***>"


def test_overlapping_secrets_are_hidden_as_one() -> None:
    m = masker("abcdXYZ", "XYZ1234")
    assert m.mask("<abcdXYZ1234> <XYZ1234abcdXYZ>") == "<***> <***>"
    assert masker("aaaa").mask("aaaaaa b aaaa") == "*** b ***"


def test_a_url_is_masked_whole_and_in_parts() -> None:
    m = Masker()
    m.remember_url("https://bot:s3cr%40t@hooks.example/T1/B2/tokentoken?sig=abcd1234")
    assert m.mask("POST /T1/B2/tokentoken?sig=abcd1234 refused") == "POST *** refused"
    assert m.mask("user bot, password s3cr@t or s3cr%40t") == "user bot, password *** or ***"
    assert "hooks.example" not in m.mask(
        "https://bot:s3cr%40t@hooks.example/T1/B2/tokentoken?sig=abcd1234"
    )


def test_a_token_in_the_user_part_of_a_url() -> None:
    m = Masker()
    m.remember_userinfo("http://usr-tok-83Jd@127.0.0.1:8080")
    assert m.mask("GET http://usr-tok-83Jd@127.0.0.1:8080/health") == (
        "GET http://***@127.0.0.1:8080/health"
    )
    m.remember_userinfo("not a url [")  # nothing to take, nothing raised


def test_a_reference_value_that_is_a_url_is_remembered_as_one() -> None:
    m = Masker()
    m.remember_value("https://hooks.example/services/T1/B2/secretpath")
    m.remember_value("plain-token-1")
    assert m.mask("/services/T1/B2/secretpath plain-token-1") == "*** ***"


def test_nested_evidence_is_masked_keys_included() -> None:
    m = masker("tok-123")
    value = {"headers": {"X": "a tok-123"}, "tok-123": [("tok-123", 1), None, 2.5]}
    assert m.mask_value(value) == {"headers": {"X": "a ***"}, "***": [["***", 1], None, 2.5]}
    assert mask_tree(["tok-123"], str.upper) == ["TOK-123"]


def test_the_masker_never_shows_its_secrets() -> None:
    m = masker("tok-123")
    assert "tok-123" not in repr(m) and "tok-123" not in repr(RunContext(_spec(), environ={}))


def test_remembering_and_masking_from_many_threads_loses_nothing() -> None:
    m = Masker()
    threads, per_thread = 8, 100
    barrier = threading.Barrier(threads, timeout=10)
    problems: list[str] = []

    def work(n: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            secret = f"secret-{n}-{i}-x"
            m.remember(secret)
            said = m.mask(f"[{secret}] {secret!r} {quote(secret)}")
            if secret in said:  # remembered by this thread a moment ago: must be masked
                problems.append(said)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert problems == []
    everything = " ".join(f"secret-{n}-{i}-x" for n in range(threads) for i in range(per_thread))
    assert set(m.mask(everything).split()) == {"***"}


# --- what feeds it: the run context and the channels' resolver ---------------------------


def _spec() -> Spec:
    return Spec.model_validate({"environment": "t", "targets": {}, "checks": {}})


def test_one_expansion_for_run_contexts_and_channels() -> None:
    environ = {"TOKEN": "tok-123", "EMPTY": ""}
    assert expand("a ${TOKEN} ${NONE:-dflt} ${EMPTY}.", environ) == "a tok-123 dflt ."
    with pytest.raises(ConfigError, match="environment variable NONE is not set"):
        expand("${NONE}", environ)
    environ["ORDER"] = "ord-123"
    ctx, resolver = RunContext(_spec(), environ=environ), Resolver(environ=environ)
    assert ctx.resolve("${ORDER}") == resolver.expand("${ORDER}") == "ord-123"
    assert ctx.mask("ord-123") == resolver.mask("ord-123") == "ord-123"  # an ordinary value
    ctx.resolve("Bearer ${ORDER}", secret=True)
    resolver.expand("Bearer ${ORDER}", secret=True)
    assert ctx.mask("ord-123") == resolver.mask("ord-123") == "***"  # in a credential field
    # A variable named as a secret is one wherever it is used, in both.
    ctx, resolver = RunContext(_spec(), environ=environ), Resolver(environ=environ)
    assert ctx.resolve("${TOKEN}") == resolver.expand("${TOKEN}") == "tok-123"
    assert ctx.mask("tok-123") == resolver.mask("tok-123") == "***"


def test_every_connection_a_run_looks_up_has_its_password_masked() -> None:
    info = ConnectionInfo("db", "postgres", "h", 5432, "app", "pw-secret-1", "shop")
    ctx = RunContext(_spec(), connection=lambda conn_id: info, environ={})
    assert ctx.mask("pw-secret-1") == "pw-secret-1"
    assert ctx.connection("db") is info
    assert ctx.mask("FATAL: got pw-secret-1") == "FATAL: got ***"
    env_ctx = RunContext(_spec(), environ={"AIRFLOW_CONN_X": "postgresql://u:p%40ss-99@h/db"})
    env_ctx.connection("x")
    assert env_ctx.mask("p@ss-99 p%40ss-99") == "*** ***"


def test_a_resolver_can_share_the_runs_masker() -> None:
    ctx = RunContext(_spec(), environ={"CHECK_TOKEN": "chk-tok-1"})
    ctx.resolve("${CHECK_TOKEN}", secret=True)
    resolver = Resolver(environ={"HOOK": "hook-tok-1"}, masker=ctx.masker)
    resolver.expand("${HOOK}", secret=True)
    assert ctx.mask("chk-tok-1 hook-tok-1") == resolver.mask("chk-tok-1 hook-tok-1") == "*** ***"
