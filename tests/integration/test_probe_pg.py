"""PostgreSQL performance probes against real servers: query load and plans on the seeded
demo database, connection capacity, pg_stat_statements (absent, not loaded, loaded on a
cluster of this module's own with shared_preload_libraries, not readable).

Nothing here asserts a duration: latencies are only checked for order and presence."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import pytest

from demo import db
from vigil import pg
from vigil.probes import pg_query
from vigil.probes.measure import Measurement
from vigil.probes.pg_connections import run_connection_probe
from vigil.probes.pg_query import run_query_load
from vigil.probes.pg_stat import NOTE, slowest_statements
from vigil.probes.plan import PlanFacts, check_plan, explain, facts, truncated_plan
from vigil.stack.postgres import LocalPostgres, free_port

pytestmark = pytest.mark.integration

ORDER_HISTORY = (
    "SELECT id, status, total, created_at FROM orders"
    " WHERE tenant_id = %s AND customer_id = %s ORDER BY created_at DESC LIMIT 20"
)
# Tenant 3's customer 1308 has 9 orders in the seed.
CUSTOMER = (3, 1308)
INDEX = "orders_tenant_id_customer_id_idx"


def _install(pg_server: LocalPostgres, prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    pg_server.create_database(name)
    assert db.install(pg_server.dsn(name)) is True
    return pg_server.dsn(name)


@pytest.fixture(scope="module")
def shop(pg: LocalPostgres) -> str:
    """The seeded demo database, shared by the module: nothing here may change it."""
    return _install(pg, "probe_shop")


@pytest.fixture
def own_shop(pg: LocalPostgres) -> str:
    """A seeded demo database of one test's own, for changes to its schema."""
    return _install(pg, "probe_own")


@pytest.fixture
def readonly(shop: str) -> Iterator[psycopg2.extensions.connection]:
    conn = pg.connect(pg.parse(shop), application_name="test-probe")
    try:
        yield conn
    finally:
        conn.close()


def _admin(dsn: str) -> psycopg2.extensions.connection:
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    return conn


def _closed_port() -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": free_port(), "dbname": "shop", "user": "postgres"}


def _load(dsn: str, query: str, params: Any = None, **options: Any) -> Measurement:
    options.setdefault("concurrency", 2)
    options.setdefault("iterations", 10)
    options.setdefault("duration_s", None)
    options.setdefault("timeout_s", 10.0)
    return run_query_load(pg.parse(dsn), query, params, **options)


# --- query load -------------------------------------------------------------------------


def test_order_history_under_load_counts_every_execution(shop: str) -> None:
    m = _load(shop, ORDER_HISTORY, CUSTOMER, concurrency=4, iterations=200, warmup=8)
    assert (m.requests, m.ok, m.error_count) == (200, 200, 0)
    assert m.warmup_requests == 8
    assert m.stopped_because is None
    f = m.figures()
    assert 0 < f["p50"] <= f["p95"] <= f["p99"] <= f["max"]
    assert f["error_rate"] == 0.0 and f["requests"] == 200.0
    assert f["rps"] > 0 and m.elapsed_s > 0


def test_named_parameters_are_bound_too(shop: str) -> None:
    query = "SELECT count(*) FROM orders WHERE tenant_id = %(tenant)s AND status = %(status)s"
    m = _load(shop, query, {"tenant": 1, "status": "x'; DROP TABLE orders; --"})
    assert (m.ok, m.error_count) == (10, 0)  # the quote is data, not SQL


def test_iterations_and_duration_whichever_ends_first(shop: str) -> None:
    by_count = _load(shop, "SELECT 1", iterations=25, duration_s=600)
    assert by_count.requests == 25 and by_count.stopped_because is None
    by_time = _load(shop, "SELECT 1", iterations=None, duration_s=0.2)
    assert by_time.requests > 0 and by_time.error_count == 0
    assert by_time.stopped_because is None


def test_each_execution_is_timed_on_its_own(shop: str) -> None:
    # One sample per execution, each at least the statement's own sleep.
    m = _load(shop, "SELECT pg_sleep(0.02)", iterations=5, concurrency=1)
    assert m.ok == 5 and m.histogram.get_total_count() == 5
    assert m.figures()["min"] >= 20.0


def test_without_a_duration_the_hard_bound_ends_the_run(
    shop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg_query, "HARD_DURATION_S", 0.5)
    m = _load(shop, "SELECT pg_sleep(0.05)", iterations=1_000_000, warmup=2)
    assert m.warmup_requests == 2 and 0 < m.requests < 1_000_000
    assert m.stopped_because is not None
    assert m.stopped_because.startswith("stopped at the 0.5 s time bound (warm-up included)")
    assert m.stopped_because.endswith(
        f"after {m.requests} executions, before the 1000000 executions asked for"
    )
    assert m.elapsed_s < 10  # not the hours a million 50 ms statements would take


def test_the_warm_up_is_bounded_too(shop: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg_query, "HARD_DURATION_S", 0.5)
    # Without a duration, an endless warm-up uses the whole bound: nothing is measured.
    m = _load(shop, "SELECT pg_sleep(0.05)", iterations=10, warmup=1_000_000)
    assert 0 < m.warmup_requests < 1_000_000 and m.requests == 0
    assert m.stopped_because is not None and "after 0 executions" in m.stopped_because
    # With one, the warm-up stops after duration_s, and the hard bound cuts the window.
    monkeypatch.setattr(pg_query, "HARD_DURATION_S", 1.0)
    m = _load(shop, "SELECT pg_sleep(0.05)", iterations=None, duration_s=0.8, warmup=1_000_000)
    assert 0 < m.warmup_requests < 1_000_000 and m.requests > 0
    assert m.stopped_because is not None
    assert m.stopped_because.startswith("stopped at the 1 s time bound (warm-up included)")
    assert m.stopped_because.endswith("before the 0.8 s window asked for")


def test_a_duration_is_clamped_to_the_hard_bound(
    shop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg_query, "HARD_DURATION_S", 0.3)
    m = _load(shop, "SELECT pg_sleep(0.01)", iterations=None, duration_s=3600)
    assert m.requests > 0 and m.error_count == 0
    assert m.elapsed_s < 10 and m.stopped_because is None  # the window it ran is the bound


def test_abort_stops_the_run_with_its_reason(shop: str) -> None:
    seen: list[float] = []

    def abort(m: Measurement, elapsed_s: float) -> str | None:
        seen.append(elapsed_s)
        return "enough requests" if m.requests >= 20 else None

    m = _load(shop, "SELECT pg_sleep(0.01)", iterations=None, duration_s=120, abort=abort)
    assert m.stopped_because == "enough requests"
    assert m.requests >= 20
    assert seen == sorted(seen)


def test_an_abort_that_raises_stops_the_run_and_propagates(shop: str) -> None:
    def abort(m: Measurement, elapsed_s: float) -> str | None:
        raise RuntimeError("threshold evaluation broke")

    with pytest.raises(RuntimeError, match="threshold evaluation broke"):
        _load(shop, "SELECT pg_sleep(0.01)", iterations=None, duration_s=120, abort=abort)


def test_a_session_that_breaks_is_a_connection_error_and_ends(shop: str) -> None:
    # Each session kills itself on its first execution: one "connection" error each.
    m = _load(shop, "SELECT pg_terminate_backend(pg_backend_pid())", iterations=10)
    assert m.errors == {"connection": 2} and m.ok == 0
    # libpq reports the FATAL, or only that the server closed the connection.
    assert m.samples
    assert all("terminating connection" in s or "server closed" in s for s in m.samples)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("SELECT 1 / (id - id) FROM tenants", "division by zero"),
        ("SELECT * FROM no_such_table", 'relation "no_such_table" does not exist'),
    ],
)
def test_failing_statements_count_as_query_errors(shop: str, query: str, message: str) -> None:
    m = _load(shop, query, iterations=6)
    assert m.errors == {"query": 6} and m.ok == 0
    assert m.samples == [message]
    assert m.figures()["errors_query"] == 6.0 and m.error_rate == 1.0


def test_statement_timeout_is_a_timeout_error(shop: str) -> None:
    m = _load(shop, "SELECT pg_sleep(5)", iterations=2, timeout_s=0.2)
    assert m.errors == {"timeout": 2}
    assert m.samples == ["canceling statement due to statement timeout"]


@pytest.mark.parametrize(
    ("query", "verb"),
    [
        ("INSERT INTO tenants (id, slug, name, plan) VALUES (99, 'x', 'X', 'free')", "INSERT"),
        ("UPDATE orders SET total = total + 1", "UPDATE"),
        ("DELETE FROM payments", "DELETE"),
        ("CREATE TABLE probe_was_here (id int)", "CREATE TABLE"),
    ],
)
def test_writes_are_refused_by_the_database(shop: str, query: str, verb: str) -> None:
    before = db.checksums(shop)
    m = _load(shop, query, iterations=4)
    assert m.errors == {"query": 4} and m.ok == 0
    assert m.samples == [f"cannot execute {verb} in a read-only transaction"]
    assert db.checksums(shop) == before
    admin = _admin(shop)
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT to_regclass('probe_was_here')")
            assert cur.fetchone() == (None,)
    finally:
        admin.close()


@pytest.mark.parametrize(
    "query",
    [
        "COMMIT; BEGIN READ WRITE; DELETE FROM payments",
        "SET default_transaction_read_only = off; DELETE FROM payments",
    ],
)
def test_a_second_statement_is_refused_before_anything_runs(shop: str, query: str) -> None:
    before = db.checksums(shop)
    with pytest.raises(ValueError, match="one SQL statement"):
        _load(shop, query, iterations=2)
    assert db.checksums(shop) == before


# Each of these is ONE statement whose COMMIT, under autocommit, would end the read-only
# transaction and let the next one (read-write, after the SET) insert.
_SNEAKY_INSERT = "INSERT INTO tenants (id, slug, name, plan) VALUES (99, 'sneaky', 'X', 'free')"
_DO_COMMIT = (
    "DO $$ BEGIN SET default_transaction_read_only = off; COMMIT; " + _SNEAKY_INSERT + "; END $$"
)
_COMMITTING_PROCEDURE = (
    "CREATE PROCEDURE sneaky() LANGUAGE plpgsql AS $$ BEGIN"
    " SET default_transaction_read_only = off; COMMIT; " + _SNEAKY_INSERT + "; END $$"
)


@pytest.mark.parametrize("query", [_DO_COMMIT, "CALL sneaky()"])
def test_a_commit_inside_one_statement_cannot_end_the_read_only_transaction(
    own_shop: str, query: str
) -> None:
    admin = _admin(own_shop)
    try:
        with admin.cursor() as cur:
            cur.execute(_COMMITTING_PROCEDURE)
    finally:
        admin.close()
    before = db.checksums(own_shop)
    m = _load(own_shop, query, iterations=4, concurrency=1)
    assert m.errors == {"query": 4} and m.ok == 0
    assert m.samples == ["invalid transaction termination"]
    assert db.checksums(own_shop) == before
    # The sessions' default stayed read-only: a plain write is still refused.
    again = _load(own_shop, _SNEAKY_INSERT, iterations=2, concurrency=1)
    assert again.errors == {"query": 2}
    assert db.checksums(own_shop) == before


@pytest.mark.parametrize(
    "query",
    ["COMMIT", "  /* c */ begin read write", "ROLLBACK", "END", "PREPARE TRANSACTION 'x'"],
)
def test_transaction_control_is_refused_before_anything_runs(shop: str, query: str) -> None:
    with pytest.raises(ValueError, match="must not control the transaction"):
        _load(shop, query, iterations=2)


def test_parameters_that_do_not_fit_are_the_callers_error(shop: str) -> None:
    with pytest.raises(ValueError, match="parameters do not fit"):
        _load(shop, ORDER_HISTORY, (3,))


def test_sessions_that_cannot_open_are_connection_errors() -> None:
    m = run_query_load(
        _closed_port(), "SELECT 1", None, concurrency=3, iterations=10, duration_s=None
    )
    assert m.errors == {"connection": 3} and m.ok == 0
    assert m.samples and "127.0.0.1" in m.samples[0]


def test_bounds_are_clamped(shop: str) -> None:
    m = _load(shop, "SELECT 1", concurrency=0, iterations=3)
    assert m.requests == 3
    with pytest.raises(ValueError, match="iterations, duration_s"):
        _load(shop, "SELECT 1", iterations=None, duration_s=None)


# --- plans ------------------------------------------------------------------------------


def test_order_history_uses_its_index(readonly: psycopg2.extensions.connection) -> None:
    plan = explain(readonly, ORDER_HISTORY, CUSTOMER)
    found = facts(plan)
    assert INDEX in found.indexes_used
    assert found.seq_scans == set() and found.relations == {"orders"}
    verdicts = check_plan(
        found, uses_index=[INDEX], no_seq_scan_on=["orders"], max_estimated_rows=20
    )
    assert all(v.ok for v in verdicts), verdicts
    assert verdicts[0].observed == f"indexes used: {INDEX}"
    assert truncated_plan(plan)["node"] == "Limit"


def test_explain_runs_nothing(readonly: psycopg2.extensions.connection, shop: str) -> None:
    before = db.checksums(shop)
    with readonly.cursor() as cur:
        plan = explain(cur, "UPDATE orders SET total = total + %s", (1,))
    readonly.rollback()
    assert plan["Node Type"] == "ModifyTable"
    assert facts(plan).seq_scans == {"orders"}
    assert db.checksums(shop) == before


def test_a_limit_does_not_hide_a_large_scan(readonly: psycopg2.extensions.connection) -> None:
    found = facts(explain(readonly, "SELECT * FROM orders LIMIT 5", None))
    assert found.estimated_rows == 5 and found.max_node_rows > 100
    [rows] = check_plan(found, max_estimated_rows=100)
    assert (rows.ok, rows.asserted) == (False, "largest row estimate <= 100")
    assert rows.observed == f"largest row estimate {found.max_node_rows:.0f} (Seq Scan on orders)"


def test_explain_runs_in_a_read_only_transaction(shop: str) -> None:
    # Even on a read-write session: a connection gets a transaction of its own, rolled
    # back, and is left as it was found; a cursor's (the caller's) is made read-only.
    admin = psycopg2.connect(shop)
    try:
        explain(admin, ORDER_HISTORY, CUSTOMER)
        assert admin.autocommit is False
        assert admin.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE
        with admin.cursor() as cur:
            explain(cur, ORDER_HISTORY, CUSTOMER)
            cur.execute("SHOW transaction_read_only")
            assert cur.fetchone() == ("on",)
        admin.rollback()
        admin.autocommit = True
        with admin.cursor() as cur:
            explain(cur, ORDER_HISTORY, CUSTOMER)
            assert admin.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE
    finally:
        admin.close()


def test_dropping_the_index_fails_the_assertion(own_shop: str) -> None:
    admin = _admin(own_shop)
    try:
        with admin.cursor() as cur:
            cur.execute(f"DROP INDEX {INDEX}")
        # The planner falls back to the next index on tenant_id.
        [uses] = check_plan(_facts_of(own_shop), uses_index=[INDEX])
        assert not uses.ok and uses.asserted == f"uses index {INDEX}"
        assert uses.observed.startswith("indexes used: ") and INDEX not in uses.observed
        # Without any index on tenant_id, the table is read whole.
        with admin.cursor() as cur:
            cur.execute("ALTER TABLE orders DROP CONSTRAINT orders_tenant_id_idempotency_key_key")
        found = _facts_of(own_shop)
        uses, no_scan = check_plan(found, uses_index=[INDEX], no_seq_scan_on=["orders"])
        assert found.seq_scans == {"orders"}
        assert (uses.ok, uses.observed) == (False, "Seq Scan on orders; indexes used: none")
        assert (no_scan.ok, no_scan.observed) == (False, "Seq Scan on orders")
    finally:
        with admin.cursor() as cur:
            cur.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON orders (tenant_id, customer_id)")
            cur.execute(
                "ALTER TABLE orders DROP CONSTRAINT IF EXISTS orders_tenant_id_idempotency_key_key"
            )
            cur.execute(
                "ALTER TABLE orders ADD CONSTRAINT orders_tenant_id_idempotency_key_key"
                " UNIQUE (tenant_id, idempotency_key)"
            )
        admin.close()
    assert INDEX in _facts_of(own_shop).indexes_used


def _facts_of(dsn: str) -> PlanFacts:
    """Facts of the order-history plan, from a read-only session that closes at once
    (an open transaction would hold a lock the admin's DDL waits for)."""
    conn = pg.connect(pg.parse(dsn), application_name="test-probe")
    try:
        return facts(explain(conn, ORDER_HISTORY, CUSTOMER))
    finally:
        conn.close()


def test_a_join_is_walked_to_every_relation(readonly: psycopg2.extensions.connection) -> None:
    query = (
        "SELECT c.email, o.id, sum(i.quantity * i.unit_price)"
        " FROM customers c"
        " JOIN orders o ON o.tenant_id = c.tenant_id AND o.customer_id = c.id"
        " JOIN order_items i ON i.order_id = o.id"
        " LEFT JOIN payments p ON p.order_id = o.id"
        " WHERE c.tenant_id = %s GROUP BY c.email, o.id"
    )
    plan = explain(readonly, query, (2,))
    found = facts(plan)
    assert found.relations == {"customers", "orders", "order_items", "payments"}
    assert (
        sum(n for kind, n in found.node_types.items() if "Join" in kind or kind == "Nested Loop")
        >= 3
    )
    assert found.max_node_rows >= found.estimated_rows > 0
    tree = truncated_plan(plan, max_nodes=3)
    assert tree["note"].startswith("plan cut: 3 of ")


def test_ctes_and_subplans_are_walked(readonly: psycopg2.extensions.connection) -> None:
    query = (
        "WITH recent AS MATERIALIZED (SELECT * FROM orders ORDER BY id DESC LIMIT 100)"
        " SELECT r.id FROM recent r"
        " WHERE r.total > (SELECT avg(amount) FROM payments)"
        " AND EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = r.id)"
    )
    found = facts(explain(readonly, query, None))
    assert found.relations == {"orders", "payments", "order_items"}
    assert found.node_types["CTE Scan"] == 1
    assert "orders_pkey" in found.indexes_used


# --- connections ------------------------------------------------------------------------


def test_ten_connections_open_together(shop: str) -> None:
    probe = run_connection_probe(pg.parse(shop), connections=10, hold_s=0.1)
    assert (probe.opened, probe.failed) == (10, 0)
    assert probe.measurement.ok == 10 and probe.measurement.error_count == 0
    assert probe.max_connections == 200  # LocalPostgres's setting
    assert probe.reserved is not None and probe.reserved >= 3  # superuser default
    assert probe.in_use_at_peak is not None and probe.in_use_at_peak >= 10
    assert probe.headroom == probe.max_connections - probe.reserved - probe.in_use_at_peak
    figures = probe.figures()
    assert figures["opened"] == 10 and figures["failed"] == 0
    assert figures["headroom"] == probe.headroom and figures["max_connections"] == 200
    assert figures["p50"] <= figures["max"]


def test_connections_to_a_closed_port_all_fail_without_raising() -> None:
    probe = run_connection_probe(_closed_port(), connections=4, hold_s=0, timeout_s=2)
    assert (probe.opened, probe.failed) == (0, 4)
    assert probe.measurement.errors == {"connection": 4}
    assert probe.max_connections is None and probe.headroom is None
    assert probe.measurement.samples and "127.0.0.1" in probe.measurement.samples[0]
    figures = probe.figures()
    assert figures["failed"] == 4 and "headroom" not in figures


# --- pg_stat_statements -----------------------------------------------------------------


def test_not_installed_is_none(readonly: psycopg2.extensions.connection) -> None:
    with readonly.cursor() as cur:
        assert slowest_statements(cur) is None


def test_installed_but_not_loaded_is_unavailable(fresh_db: str) -> None:
    admin = _admin(fresh_db)
    try:
        with admin.cursor() as cur:
            cur.execute("CREATE EXTENSION pg_stat_statements")
    finally:
        admin.close()
    conn = pg.connect(pg.parse(fresh_db), application_name="test-probe")
    try:
        with conn.cursor() as cur:
            found = slowest_statements(cur)
            assert found == {
                "unavailable": "pg_stat_statements must be loaded via shared_preload_libraries",
                "note": NOTE,
            }
            cur.execute("SELECT 1")  # the transaction survived (a savepoint took the error)
            assert cur.fetchone() == (1,)
    finally:
        conn.close()


@pytest.fixture(scope="module")
def stat_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    """A cluster of this module's own with pg_stat_statements preloaded (the session
    cluster cannot be restarted with it)."""
    server = LocalPostgres(tmp_path_factory.mktemp("pg_stat") / "data", free_port()).start()
    server.stop()
    with (server.datadir / "postgresql.conf").open("a") as conf:
        conf.write("\nshared_preload_libraries = 'pg_stat_statements'\n")
    yield server.start()
    server.stop()


@pytest.fixture
def stat_db(stat_server: LocalPostgres) -> str:
    name = "stat_" + uuid.uuid4().hex[:8]
    stat_server.create_database(name)
    admin = _admin(stat_server.dsn(name))
    try:
        with admin.cursor() as cur:
            cur.execute("CREATE EXTENSION pg_stat_statements")
            cur.execute("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 1000) g")
    finally:
        admin.close()
    return stat_server.dsn(name)


def test_loaded_extension_reports_means_not_percentiles(stat_db: str) -> None:
    # The sleep makes it the slowest statement by far, whatever the machine's speed.
    slow = "SELECT pg_sleep(0.2), count(*) FROM t"
    assert _load(stat_db, slow, iterations=3, concurrency=3).ok == 3
    wide = "SELECT " + ", ".join(f"{i} AS column_number_{i}" for i in range(40))
    assert _load(stat_db, wide, iterations=2).ok == 2
    found = _slowest(stat_db, limit=3)
    assert found is not None and found["note"] == NOTE
    statements = found["statements"]
    assert 0 < len(statements) <= 3
    top = statements[0]
    assert set(top) == {
        "calls",
        "mean_exec_time_ms",
        "stddev_exec_time_ms",
        "max_exec_time_ms",
        "rows",
        "query",
    }
    assert top["query"] == "SELECT pg_sleep($1), count(*) FROM t"  # normalized by the server
    assert (top["calls"], top["rows"]) == (3, 3)
    assert top["stddev_exec_time_ms"] >= 0 and top["mean_exec_time_ms"] <= top["max_exec_time_ms"]
    means = [s["mean_exec_time_ms"] for s in statements]
    assert means == sorted(means, reverse=True)
    everything = _slowest(stat_db, limit=100)
    assert everything is not None
    [cut] = [s["query"] for s in everything["statements"] if "column_number_" in s["query"]]
    assert len(cut) == 300 and cut.endswith("…") and cut.startswith("SELECT $1 AS column_number_0")


def test_utility_statements_are_left_out(stat_db: str) -> None:
    # Before PostgreSQL 16 a utility statement keeps its literals: a password would leak.
    role = "probe_" + uuid.uuid4().hex[:8]
    admin = _admin(stat_db)
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE ROLE {role} LOGIN")
            cur.execute(f"ALTER ROLE {role} PASSWORD 'hunter2-secret'")
            cur.execute(f"/* rotate */ ALTER ROLE {role} PASSWORD 'hunter3-secret'")
            # The server-side regex sees "SELECT" after the inner "*/"; Python knows better.
            cur.execute(f"/* a /* b */ SELECT */ ALTER ROLE {role} PASSWORD 'hunter4-secret'")
            cur.execute("/* report */ -- kept\n (SELECT count(*) FROM t WHERE id > 7)")
            cur.execute("WITH x AS (SELECT 1) SELECT * FROM x")
            # The planted statements are in the server's statistics, literals and all.
            cur.execute("SELECT count(*) FROM pg_stat_statements WHERE query LIKE '%secret%'")
            assert cur.fetchone() == (3,)
    finally:
        admin.close()
    found = _slowest(stat_db, limit=100)
    assert found is not None
    queries = [s["query"] for s in found["statements"]]
    assert not [q for q in queries if "secret" in q or "ALTER" in q.upper()]
    assert not [q for q in queries if q.upper().startswith("CREATE")]
    assert "/* report */ -- kept (SELECT count(*) FROM t WHERE id > $1)" in queries
    assert "WITH x AS (SELECT $1) SELECT * FROM x" in queries


def test_any_refusal_is_unavailable(readonly: psycopg2.extensions.connection) -> None:
    # Not one of the expected refusals: the caller's transaction is already aborted.
    with readonly.cursor() as cur:
        with pytest.raises(psycopg2.errors.DivisionByZero):
            cur.execute("SELECT 1 / 0")
        found = slowest_statements(cur)
    readonly.rollback()
    assert found == {
        "unavailable": "current transaction is aborted, commands ignored until end of"
        " transaction block",
        "note": NOTE,
    }


def _slowest(dsn: str, limit: int) -> dict[str, Any] | None:
    conn = pg.connect(pg.parse(dsn), application_name="test-probe")
    conn.autocommit = True  # no savepoint needed outside a transaction
    try:
        with conn.cursor() as cur:
            return slowest_statements(cur, limit=limit)
    finally:
        conn.close()


def test_unreadable_extension_is_unavailable_not_an_error(stat_db: str) -> None:
    role = "probe_" + uuid.uuid4().hex[:8]
    admin = _admin(stat_db)
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE ROLE {role} LOGIN")
            cur.execute("REVOKE ALL ON pg_stat_statements FROM PUBLIC")
    finally:
        admin.close()
    params = {**pg.parse(stat_db), "user": role}
    conn = pg.connect(params, application_name="test-probe")
    try:
        with conn.cursor() as cur:
            found = slowest_statements(cur)
    finally:
        conn.close()
    assert found == {
        "unavailable": "permission denied for view pg_stat_statements",
        "note": NOTE,
    }
