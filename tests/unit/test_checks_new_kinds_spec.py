"""The redis, mongodb and websocket kinds in the spec: malformed specs fail closed, each
problem at its line and field path; secrets only by reference; parsing stays cheap."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vigil.checks import HEALTH
from vigil.checks.models import MongoCheck, RedisCheck, WebsocketCheck
from vigil.spec.errors import Problem, SpecError
from vigil.spec.loader import load_spec
from vigil.spec.models import TARGET_KINDS, MongoTarget, RedisTarget, WebsocketTarget

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]

GOOD = """\
environment: shop
targets:
  cache:
    kind: redis
    conn_id: shop_cache
  sessions:
    kind: redis
    url: redis://:${SESSIONS_PASSWORD}@${SESSIONS_HOST:-127.0.0.1}:6380/2
  catalog-db:
    kind: mongodb
    url: mongodb://catalog:${CATALOG_DB_PASSWORD}@db1:27017,db2:27017/catalog?replicaSet=rs0
  orders-db:
    kind: mongodb
    conn_id: orders_mongo
  feed:
    kind: websocket
    url: ${ORDERS_URL:-http://127.0.0.1:18081}/v1/orders/feed?access_token=${FEED_TOKEN}
    headers:
      X-Api-Key: ${FEED_KEY}
checks:
  health:
    - id: cache-up
      kind: redis
      target: cache
      expect_role: master
      max_clients: 500
      max_client_usage: 0.8
      max_memory_usage: 0.9
      max_rejected_connections: 0
      max_replication_lag_s: 30
      expect_keys: ["feature:flags"]
    - id: sessions-up
      kind: redis
      target: sessions
      expect_role: replica
    - id: catalog-db-up
      kind: mongodb
      target: catalog-db
      min_version: "6.0"
      require_replica_set: true
      max_replication_lag_s: 10
      max_connection_usage: 0.8
    - id: orders-db-up
      kind: mongodb
      target: orders-db
    - id: feed-hello
      kind: websocket
      target: feed
      send: {op: subscribe, channel: orders}
      conditions:
        - type == "hello"
        - header:Upgrade == websocket
      timeout_s: 5
"""


def _load(tmp_path: Path, text: str) -> list[Problem]:
    path = tmp_path / "shop.yaml"
    path.write_text(textwrap.dedent(text))
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return caught.value.problems


def _spec(targets: str, checks: str = "") -> str:
    return f"environment: shop\ntargets:\n{targets}checks:\n  health:\n{checks}"


# (targets, checks, line, field path, fragment of the headline)
CASES = [
    # Unknown keys, with the nearest known one.
    (
        "  cache:\n    kind: redis\n    conn_id: c\n",
        "    - id: c\n      kind: redis\n      target: cache\n      expect_rol: master\n",
        11,
        "checks.health[0].expect_rol",
        "did you mean 'expect_role'?",
    ),
    (
        "  db:\n    kind: mongodb\n    uri: mongodb://db:27017/\n",
        "",
        5,
        "targets.db.uri",
        "did you mean 'url'?",
    ),
    (
        "  feed:\n    kind: websocket\n    url: ws://feed:80/\n",
        "    - id: f\n      kind: websocket\n      target: feed\n      expect_mesage: false\n",
        11,
        "checks.health[0].expect_mesage",
        "did you mean 'expect_message'?",
    ),
    # Literal secrets: a password in a URL, a token in a query, a header, a message.
    (
        "  cache:\n    kind: redis\n    url: redis://:hunter2-pass@cache:6379/0\n",
        "",
        5,
        "targets.cache.url",
        "the URL holds a literal password",
    ),
    (
        "  db:\n    kind: mongodb\n    url: mongodb://app:hunter2-pass@db1:27017,db2:27017/\n",
        "",
        5,
        "targets.db.url",
        "the URL holds a literal password",
    ),
    (
        "  cache:\n    kind: redis\n    url: ${CACHE_URL:-redis://:hunter2-pass@cache:6379}\n",
        "",
        5,
        "targets.cache.url",
        "literal password",
    ),
    (
        "  feed:\n    kind: websocket\n    url: ws://feed:80/stream?access_token=abc123def456\n",
        "",
        5,
        "targets.feed.url",
        "query parameter 'access_token'",
    ),
    (
        "  feed:\n    kind: websocket\n    url: ws://feed:80/\n"
        "    headers:\n      Authorization: Bearer abc123def456\n",
        "",
        7,
        "targets.feed.headers.Authorization",
        "'Authorization' holds a literal secret",
    ),
    (
        "  feed:\n    kind: websocket\n    url: ws://feed:80/\n",
        "    - id: f\n      kind: websocket\n      target: feed\n"
        "      send:\n        password: hunter2-pass\n",
        12,
        "checks.health[0].send.password",
        "literal secret",
    ),
    # Where the server is: one way, and a URL that is one.
    (
        "  cache:\n    kind: redis\n    conn_id: c\n    url: redis://cache:6379\n",
        "",
        4,
        "targets.cache",
        "give exactly one of conn_id",
    ),
    ("  cache:\n    kind: redis\n", "", 4, "targets.cache", "give exactly one of conn_id"),
    (
        "  cache:\n    kind: redis\n    conn_id: ' '\n",
        "",
        5,
        "targets.cache.conn_id",
        "must not be empty",
    ),
    (
        "  cache:\n    kind: redis\n    url: redis://cache:99999\n",
        "",
        5,
        "targets.cache.url",
        "port '99999' is not a number from 1 to 65535",
    ),
    (
        "  cache:\n    kind: redis\n    url: cache.internal:6379\n",
        "",
        5,
        "targets.cache.url",
        "is not a redis:// or rediss:// URL (no scheme://)",
    ),
    (
        "  cache:\n    kind: redis\n    url: ${CACHE_URL:-localhost:6379}\n",
        "",
        5,
        "targets.cache.url",
        "the default 'localhost:6379' is not a redis://",
    ),
    (
        "  db:\n    kind: mongodb\n    url: mongodb://db1:27017,db2:port/\n",
        "",
        5,
        "targets.db.url",
        "port 'port' is not a number",
    ),
    (
        "  feed:\n    kind: websocket\n    url: ftp://feed/\n",
        "",
        5,
        "targets.feed.url",
        "scheme 'ftp'",
    ),
    (
        "  feed:\n    kind: websocket\n    url: ws://feed:80,other:80/\n",
        "",
        5,
        "targets.feed.url",
        "one host only",
    ),
    # Check settings.
    (
        "  cache:\n    kind: redis\n    conn_id: c\n",
        "    - id: c\n      kind: redis\n      target: cache\n      expect_role: primary\n",
        11,
        "checks.health[0].expect_role",
        "'master' or 'replica'",
    ),
    (
        "  cache:\n    kind: redis\n    conn_id: c\n",
        "    - id: c\n      kind: redis\n      target: cache\n      max_memory_usage: 1.5\n",
        11,
        "checks.health[0].max_memory_usage",
        "less than or equal to 1",
    ),
    (
        "  db:\n    kind: mongodb\n    conn_id: d\n",
        "    - id: d\n      kind: mongodb\n      target: db\n      min_version: seven\n",
        11,
        "checks.health[0].min_version",
        "should match the pattern",
    ),
    (
        "  feed:\n    kind: websocket\n    url: ws://feed:80/\n",
        "    - id: f\n      kind: websocket\n      target: feed\n"
        "      conditions: ['type = hello']\n",
        11,
        "checks.health[0].conditions[0]",
        "cannot parse condition",
    ),
    (
        "  feed:\n    kind: websocket\n    url: ws://feed:80/\n",
        "    - id: f\n      kind: websocket\n      target: feed\n"
        "      expect_message: false\n      conditions: ['type == hello']\n",
        8,
        "checks.health[0]",
        "expect_message: false, but conditions read a message",
    ),
    (
        "  feed:\n    kind: websocket\n    url: ws://feed:80/\n",
        "    - id: f\n      kind: redis\n      target: feed\n",
        9,
        "checks.health[0].kind",
        "a 'redis' check needs a 'redis' target",
    ),
]


@pytest.mark.parametrize(("targets", "checks", "line", "path", "fragment"), CASES)
def test_malformed_spec_is_located(
    tmp_path: Path, targets: str, checks: str, line: int, path: str, fragment: str
) -> None:
    problems = _load(tmp_path, _spec(targets, checks))
    shown = "\n".join(p.headline() for p in problems)
    here = [p for p in problems if p.line == line and p.path == path]
    assert here, f"no problem at line {line} path {path!r}; got:\n{shown}"
    assert any(fragment in p.headline() for p in here), shown


def test_a_literal_password_is_not_shown_back(tmp_path: Path) -> None:
    path = tmp_path / "shop.yaml"
    path.write_text(_spec("  cache:\n    kind: redis\n    url: redis://:hunter2-pass@cache:6379\n"))
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert "hunter2-pass" not in str(caught.value)


def test_a_good_spec_with_every_new_kind_loads(tmp_path: Path) -> None:
    path = tmp_path / "shop.yaml"
    path.write_text(GOOD)
    spec = load_spec(path)
    kinds = {c.id: type(c) for c in spec.checks_of("health")}
    assert kinds["cache-up"] is RedisCheck and kinds["catalog-db-up"] is MongoCheck
    assert kinds["feed-hello"] is WebsocketCheck
    assert isinstance(spec.targets["sessions"], RedisTarget)
    assert isinstance(spec.targets["orders-db"], MongoTarget)
    assert isinstance(spec.targets["feed"], WebsocketTarget)
    assert {"redis", "mongodb", "websocket"} <= set(TARGET_KINDS)
    assert {"redis", "mongodb", "websocket"} <= set(HEALTH.kinds)


def test_every_health_kind_has_a_runner() -> None:
    from vigil.checks import runners

    assert set(HEALTH.kinds) <= set(runners())


def test_parsing_imports_no_client_library(tmp_path: Path) -> None:
    """Airflow parses DAG files every few seconds: loading a spec with these kinds imports
    neither redis, pymongo (bson) nor websockets; only running a check does."""
    path = tmp_path / "shop.yaml"
    path.write_text(GOOD)
    code = (
        "import sys\n"
        "from vigil.spec.loader import load_spec\n"
        "import vigil.checks, vigil.checks.models\n"
        f"load_spec({str(path)!r})\n"
        "print(sorted({'redis', 'pymongo', 'bson', 'websockets'} & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
