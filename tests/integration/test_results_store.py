"""Results store writes: idempotent per (run, check), run counts and state, clear errors."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from vigil.result import MAX_EVIDENCE_STRING, CheckResult, Severity, Status
from vigil.results import ResultStore, RunCounts, RunRef, RunState, StoreError
from vigil.stack.postgres import free_port

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)
RUN = RunRef("demo", "daily", "demo_daily", "scheduled__2025-03-01T06:00:00+00:00")


def result(
    check_id: str,
    status: Status = Status.PASSED,
    *,
    family: str = "http",
    target: str = "api",
    severity: Severity = Severity.CRITICAL,
    **fields: object,
) -> CheckResult:
    return CheckResult(
        check_id=check_id, family=family, target=target, status=status, severity=severity,
        started_at=fields.pop("started_at", T0), **fields,
    )  # fmt: skip


def test_recording_round_trips_every_field(fresh_db: str) -> None:
    store = ResultStore(fresh_db)
    original = result(
        "api_up", Status.FAILED, duration_ms=12.5, observed={"status": 503},
        expected={"status": 200}, message="api answered 503", details={"body": "down"},
    )  # fmt: skip
    store.record(RUN, [original])
    assert store.run_results(RUN) == [original]


def test_evidence_is_stored_truncated(fresh_db: str) -> None:
    store = ResultStore(fresh_db)
    store.record(RUN, [result("big", Status.FAILED, details={"body": "x" * 10_000})])
    [stored] = store.run_results(RUN)
    assert stored.details["body"].startswith("x" * MAX_EVIDENCE_STRING + "…")
    assert len(stored.details["body"]) < 2 * MAX_EVIDENCE_STRING


def test_a_retried_task_replaces_its_results_and_counts_once(fresh_db: str) -> None:
    store = ResultStore(fresh_db)
    store.start_run(RUN, started_at=T0)
    store.record(RUN, [result("api_up"), result("api_body", Status.FAILED, message="first try")])
    store.record(RUN, [result("db_up", family="postgres", target="db")])
    # The api task is retried: the same two checks again, api_body now passing.
    store.record(RUN, [result("api_up"), result("api_body", message="second try")])

    stored = {r.check_id: r for r in store.run_results(RUN)}
    assert sorted(stored) == ["api_body", "api_up", "db_up"]
    assert stored["api_body"].status is Status.PASSED
    assert stored["api_body"].message == "second try"
    summary = store.finish_run(RUN)
    assert summary.counts == RunCounts(total=3, passed=3)
    assert (summary.total, summary.passed, summary.problems) == (3, 3, 0)
    assert summary.state is RunState.SUCCESS


def test_the_last_result_of_a_check_wins_within_one_call(fresh_db: str) -> None:
    store = ResultStore(fresh_db)
    store.record(RUN, [result("api_up", Status.ERROR), result("api_up", Status.PASSED)])
    assert [r.status for r in store.run_results(RUN)] == [Status.PASSED]


def test_record_creates_the_run_when_start_run_was_not_called(fresh_db: str) -> None:
    store = ResultStore(fresh_db)
    store.record(RUN, [result("api_up", Status.FAILED), result("api_body")])
    [run] = store.recent_runs("demo")
    assert run.ref == RUN
    assert run.state is RunState.RUNNING
    assert run.started_at == T0  # the earliest result's start
    assert run.ended_at is None
    assert run.counts == RunCounts(total=2, passed=1, failed=1)


def test_start_run_is_an_idempotent_upsert(fresh_db: str) -> None:
    store = ResultStore(fresh_db)
    store.start_run(RUN, params={"targets": ["api"]}, dry_run=True, started_at=T0)
    store.start_run(RUN, params={"targets": ["api"]}, dry_run=True)
    [run] = store.recent_runs("demo")
    assert (run.started_at, run.dry_run, run.params) == (T0, True, {"targets": ["api"]})
    assert run.state is RunState.RUNNING
    store.start_run(RUN, params={"as_of": T0})  # not JSON by itself: stored as text
    [run] = store.recent_runs("demo")
    assert run.params == {"as_of": str(T0)}


@pytest.mark.parametrize(
    ("outcomes", "state", "counts", "critical_problems"),
    [
        (
            [(Status.PASSED, Severity.CRITICAL), (Status.SKIPPED, Severity.CRITICAL)],
            RunState.SUCCESS, RunCounts(total=2, passed=1, skipped=1), 0,
        ),
        (
            [(Status.FAILED, Severity.WARNING), (Status.ERROR, Severity.WARNING)],
            RunState.SUCCESS, RunCounts(total=2, failed=1, error=1), 0,
        ),
        (
            [(Status.FAILED, Severity.CRITICAL), (Status.FAILED, Severity.WARNING)],
            RunState.FAILED, RunCounts(total=2, failed=2), 1,
        ),
        (
            [(Status.ERROR, Severity.CRITICAL), (Status.PASSED, Severity.WARNING)],
            RunState.FAILED, RunCounts(total=2, passed=1, error=1), 1,
        ),
    ],
)  # fmt: skip
def test_finish_run_derives_state_from_critical_problems(
    fresh_db: str,
    outcomes: list[tuple[Status, Severity]],
    state: RunState,
    counts: RunCounts,
    critical_problems: int,
) -> None:
    store = ResultStore(fresh_db)
    store.start_run(RUN, started_at=T0)
    store.record(RUN, [result(f"c{i}", st, severity=sev) for i, (st, sev) in enumerate(outcomes)])
    ended = T0 + timedelta(minutes=3)
    summary = store.finish_run(RUN, ended_at=ended)
    assert (summary.state, summary.counts, summary.critical_problems) == (
        state, counts, critical_problems,
    )  # fmt: skip
    assert summary.ended_at == ended
    assert store.recent_runs("demo") == [summary]


def test_a_task_rerun_after_the_run_finished_updates_its_state(fresh_db: str) -> None:
    store = ResultStore(fresh_db)
    store.record(RUN, [result("api_up", Status.FAILED)])
    assert store.finish_run(RUN).state is RunState.FAILED
    store.record(RUN, [result("api_up", Status.PASSED)])  # task cleared and re-run
    [run] = store.recent_runs("demo")
    assert (run.state, run.counts) == (RunState.SUCCESS, RunCounts(total=1, passed=1))


def test_parallel_tasks_of_one_run_are_all_counted(fresh_db: str) -> None:
    store = ResultStore(fresh_db)
    store.migrate()
    barrier = threading.Barrier(4, timeout=10)
    errors: list[BaseException] = []

    def task(n: int) -> None:
        barrier.wait()
        try:
            ResultStore(fresh_db).record(RUN, [result(f"t{n}_c{i}") for i in range(5)])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=task, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert store.finish_run(RUN).counts == RunCounts(total=20, passed=20)


def test_results_of_filters_by_kind_and_targets(fresh_db: str) -> None:
    store = ResultStore(fresh_db)
    store.record(
        RUN,
        [
            result("api_up", family="health", target="api"),
            result("db_up", family="health", target="db"),
            result("cache_up", family="health", target="cache"),
            result("orders_rows", family="quality", target="db"),
        ],
    )

    def ids(family: str | None = None, targets: list[str] | None = None) -> list[str]:
        return [r.check_id for r in store.results_of(RUN, family=family, targets=targets)]

    assert ids() == ["api_up", "cache_up", "db_up", "orders_rows"]
    assert ids(family="health") == ["api_up", "cache_up", "db_up"]
    assert ids(family="health", targets=["db", "api"]) == ["api_up", "db_up"]
    assert ids(targets=["db"]) == ["db_up", "orders_rows"]
    assert ids(targets=[]) == []
    other_run = RunRef("demo", "daily", "demo_daily", "never_recorded")
    assert store.results_of(other_run) == []


def test_one_run_id_cannot_be_recorded_under_two_environments(fresh_db: str) -> None:
    store = ResultStore(fresh_db)
    store.record(RUN, [result("api_up")])
    impostor = RunRef("staging", "daily", RUN.dag_id, RUN.run_id)
    with pytest.raises(StoreError, match=r"already stored for environment 'demo'"):
        store.record(impostor, [result("api_up", Status.FAILED)])
    assert [r.status for r in store.run_results(RUN)] == [Status.PASSED]


def test_an_unreachable_store_raises_a_clear_store_error() -> None:
    port = free_port()  # nothing listens here
    store = ResultStore(f"postgresql://vigil@127.0.0.1:{port}/vigil_results")
    with pytest.raises(StoreError) as caught:
        store.record(RUN, [result("api_up")])
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message
    assert "'vigil_results'" in message
    # What was attempted: the first-use migration, on behalf of the write.
    assert "migrate the vigil schema" in message
    assert f"record 1 result(s) for run {RUN.dag_id}/{RUN.run_id}" in message
    assert "refused" in message.lower()
    assert caught.value.__cause__ is None  # no psycopg2 traceback chained in


@pytest.mark.parametrize(
    ("call", "attempted"),
    [
        (lambda s: s.finish_run(RUN), "finish run demo_daily/"),
        (lambda s: s.check_history("demo", "api_up"), "read the history of check 'api_up'"),
        (lambda s: s.migrate(), "migrate the vigil schema"),
    ],
)
def test_every_call_on_a_closed_port_names_the_store_and_the_attempt(
    call: Callable[[ResultStore], object], attempted: str
) -> None:
    port = free_port()
    kwargs = {"host": "127.0.0.1", "port": port, "dbname": "results", "user": "vigil",
              "password": "s3cret-pw"}  # fmt: skip
    with pytest.raises(StoreError) as caught:
        call(ResultStore(kwargs))
    message = str(caught.value)
    assert f"127.0.0.1:{port}, database 'results' as vigil" in message
    assert attempted in message
    assert "s3cret-pw" not in message


def test_a_missing_database_is_a_store_error(fresh_db: str) -> None:
    missing = fresh_db.rsplit("/", 1)[0] + "/no_such_db"
    with pytest.raises(StoreError, match=r"'no_such_db'.*does not exist"):
        ResultStore(missing).latest_results("demo")


def test_nul_bytes_in_evidence_do_not_stop_the_write(fresh_db: str) -> None:
    # A binary error page quoted as evidence: PostgreSQL text and JSONB refuse NUL.
    binary = CheckResult(
        check_id="api",
        family="health",
        target="api",
        status=Status.FAILED,
        message="answered 500: \x00\x01",
        details={"body": "ab\x00cd"},
    )
    store = ResultStore(fresh_db)
    store.record(RUN, [binary])
    [stored] = store.run_results(RUN)
    assert stored.message == "answered 500: \ufffd\x01"
    assert stored.details["body"] == "ab\ufffdcd"


def test_per_family_counts_follow_every_write_and_retry(fresh_db: str) -> None:
    """vigil.run_families (what the UI's overview reads) always equals counting the run's
    stored results per family, through retries that change or drop a family's results."""
    import psycopg2

    store = ResultStore(fresh_db)
    store.start_run(RUN, started_at=T0)
    store.record(RUN, [result("a", Status.FAILED), result("b", severity=Severity.WARNING)])
    store.record(RUN, [result("q", Status.ERROR, family="quality", target="db")])
    # The quality task is retried and now reports under another family only (a rename).
    store.record(RUN, [result("q", family="probes", target="db")], replace=("quality", "db"))
    store.record(RUN, [result("a"), result("b", Status.FAILED, severity=Severity.WARNING)])

    def counts(sql: str) -> set[tuple[object, ...]]:
        with psycopg2.connect(fresh_db) as conn, conn.cursor() as cur:
            cur.execute(sql)
            return set(cur.fetchall())

    rollup = counts(
        "SELECT family, passed, failed, error, skipped, critical_problems FROM vigil.run_families"
    )
    truth = counts(
        "SELECT family, count(*) FILTER (WHERE status = 'passed'),"
        " count(*) FILTER (WHERE status = 'failed'), count(*) FILTER (WHERE status = 'error'),"
        " count(*) FILTER (WHERE status = 'skipped'), count(*) FILTER (WHERE status IN"
        " ('failed', 'error') AND severity = 'critical') FROM vigil.check_results GROUP BY family"
    )
    assert rollup == truth
    assert rollup == {("http", 1, 1, 0, 0, 0), ("probes", 1, 0, 0, 0, 0)}
