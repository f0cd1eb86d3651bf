"""Query latency under load: one read-only statement, run many times by parallel sessions.

A probe answers "how fast does this query answer when N clients ask at once?" on the
database it watches, so it must never change that database. Every session comes from
`vigil.pg` (read-only by default, `statement_timeout`) and every execution runs inside an
explicit `BEGIN READ ONLY` ... `ROLLBACK` of its own. The session default alone is not
enough: in autocommit a single statement can end its own transaction (`DO $$ BEGIN SET
default_transaction_read_only = off; COMMIT; INSERT ... END $$`, or `CALL` of a procedure
that commits) and write in the next one. Inside an explicit transaction block such a
COMMIT fails ("invalid transaction termination", a "query" error), and whatever the
statement did is rolled back. The text must also be ONE statement (a second one,
`COMMIT; BEGIN READ WRITE; ...`, is refused before anything runs). Parameters are bound
by the driver, never formatted into the text.

What is timed is one execution and the fetch of all its rows (the transfer is part of
what a client waits for); opening the sessions, the warm-up, and the BEGIN and ROLLBACK
around each execution are not. Those two round trips are in the measured window, so
`rps` is a little below what a client reading in autocommit would get.

Every run is time-bound: `duration_s` bounds the measured window, and the whole run
(warm-up included) stops at HARD_DURATION_S (300 s) whatever the iterations asked for;
a run cut short by that bound says so in `stopped_because`. Each session is one thread,
which blocks in libpq, so the GIL is not the bottleneck.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extensions

from vigil import pg
from vigil.probes.measure import Measurement
from vigil.probes.models import HARD_DURATION_S
from vigil.probes.pg_connections import open_session

APPLICATION_NAME = "vigil-probe-query"
MAX_CONCURRENCY = 64
MAX_ITERATIONS = 1_000_000
# HARD_DURATION_S (the spec's ceiling on duration_s) bounds a whole run, warm-up included;
# it is read when a run starts, so a test can lower it on this module.
# How often the coordinating thread asks `abort` whether to stop.
ABORT_POLL_S = 0.1
# A `duration_s` window the hard bound (warm-up included) shortens by less than this is
# not reported as cut short.
NOTICEABLE_CUT_S = 0.1

Params = Sequence[Any] | Mapping[str, Any] | None
Abort = Callable[[Measurement, float], str | None]
Connection = psycopg2.extensions.connection

__all__ = [
    "MAX_CONCURRENCY",
    "MAX_ITERATIONS",
    "leading_code",
    "run_query_load",
    "single_statement",
]


def single_statement(query: str) -> str:
    """`query` without a trailing `;`; ValueError if it is empty or holds a second
    statement. Strings, quoted names, dollar quotes and comments are skipped, so a `;`
    inside them is not a separator."""
    end = _top_level_semicolon(query)
    head = query if end is None else query[:end]
    if end is not None and _code_after(query, end + 1):
        raise ValueError("the query must be one SQL statement (found a second after ';')")
    if not _code_after(head, 0):
        raise ValueError("the query is empty")
    return head.rstrip()


def _top_level_semicolon(text: str) -> int | None:
    i = 0
    while i < len(text):
        if text[i] == ";":
            return i
        i = _skip(text, i)
    return None


def _code_after(text: str, start: int) -> bool:
    """Whether anything but whitespace and comments follows `start`."""
    i = start
    while i < len(text):
        if text[i].isspace():
            i += 1
        elif text.startswith("--", i) or text.startswith("/*", i):
            i = _skip(text, i)
        else:
            return True
    return False


def leading_code(text: str) -> str:
    """`text` from its first character that is not whitespace, a comment or an opening
    parenthesis: where the statement's first keyword is."""
    i = 0
    while i < len(text):
        if text[i].isspace() or text[i] == "(":
            i += 1
        elif text.startswith("--", i) or text.startswith("/*", i):
            i = _skip(text, i)
        else:
            break
    return text[i:]


def _skip(text: str, i: int) -> int:
    """The index after the token starting at `i`: a comment, string, quoted name or
    dollar-quoted body as a whole, anything else one character."""
    if text.startswith("--", i):
        newline = text.find("\n", i)
        return len(text) if newline < 0 else newline + 1
    if text.startswith("/*", i):
        return _skip_block_comment(text, i)
    char = text[i]
    if char == "'":
        escapes = i > 0 and text[i - 1] in "eE" and not _word_char(text, i - 2)
        return _skip_quoted(text, i, "'", backslash=escapes)
    if char == '"':
        return _skip_quoted(text, i, '"', backslash=False)
    if char == "$" and not _word_char(text, i - 1):
        return _skip_dollar_quoted(text, i)
    return i + 1


def _word_char(text: str, i: int) -> bool:
    return i >= 0 and (text[i].isalnum() or text[i] in "_$")


def _skip_block_comment(text: str, i: int) -> int:
    depth, i = 1, i + 2  # PostgreSQL's block comments nest
    while i < len(text) and depth:
        if text.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif text.startswith("*/", i):
            depth, i = depth - 1, i + 2
        else:
            i += 1
    return i


def _skip_quoted(text: str, i: int, quote: str, *, backslash: bool) -> int:
    i += 1
    while i < len(text):
        if backslash and text[i] == "\\":
            i += 2
        elif text[i] == quote:
            if not text.startswith(quote * 2, i):
                return i + 1
            i += 2  # a doubled quote stands for itself
        else:
            i += 1
    return len(text)


def _skip_dollar_quoted(text: str, i: int) -> int:
    j = i + 1
    while j < len(text) and (text[j].isalnum() or text[j] == "_"):
        j += 1
    tag = text[i : j + 1]
    if j >= len(text) or text[j] != "$" or tag[1:2].isdigit():
        return i + 1  # `$1` (a positional parameter) or a lone `$`
    close = text.find(tag, j + 1)
    return len(text) if close < 0 else close + len(tag)


@dataclass
class _Budget:
    """Executions left and when to stop, shared by the sessions of one phase."""

    left: int
    deadline: float = float("inf")
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Whether the deadline (not the count, not `stop`) ended the phase, and whether that
    # deadline was the hard bound rather than the window asked for.
    out_of_time: bool = False
    hard_stop: bool = False

    def take(self) -> bool:
        """One more execution, if the budget, the deadline and `stop` allow it."""
        if self.stop.is_set():
            return False
        if time.perf_counter() >= self.deadline:
            self.out_of_time = True
            return False
        with self.lock:
            if self.left <= 0:
                return False
            self.left -= 1
            return True


@dataclass
class _Run:
    """The statement and where its outcomes go; `lock` guards the Measurement."""

    query: str
    params: Params
    measurement: Measurement
    lock: threading.Lock = field(default_factory=threading.Lock)


def run_query_load(
    connect_kwargs: Mapping[str, Any],
    query: str,
    params: Params,
    *,
    concurrency: int,
    iterations: int | None,
    duration_s: float | None,
    warmup: int = 0,
    timeout_s: float = 30.0,
    abort: Abort | None = None,
) -> Measurement:
    """Run `query` `iterations` times in all, or for `duration_s` (whichever ends first
    when both are given), across `concurrency` read-only sessions.

    Time-bound in any case: `duration_s` (clamped to HARD_DURATION_S) bounds the
    measured window, and the warm-up and the measured window together stop at
    HARD_DURATION_S; the warm-up alone also stops after `duration_s` when it is given.
    A run the hard bound cut short says so in `stopped_because`.

    A failed statement is recorded as error "query" ("timeout" when `statement_timeout`
    cancelled it), a session that cannot open (or breaks) as "connection"; a failed
    session does not use up an iteration. `warmup` executions run first, untimed.
    `abort(measurement, elapsed_s)`, asked about every 0.1 s, stops the run with its
    reason. ValueError for a text that is not one statement, that controls the
    transaction (COMMIT, ROLLBACK, PREPARE TRANSACTION ...), or parameters that do not
    fit it."""
    run = _Run(_probe_statement(query), params, Measurement())
    window = _window(iterations, duration_s)
    left = MAX_ITERATIONS if iterations is None else max(1, min(iterations, MAX_ITERATIONS))
    budget = _Budget(left=left)
    sessions = max(1, min(concurrency, MAX_CONCURRENCY, budget.left))
    with ThreadPoolExecutor(max_workers=sessions, thread_name_prefix="vigil-pg-probe") as pool:
        conns = _open_sessions(pool, connect_kwargs, sessions, timeout_s, run)
        try:
            if conns:
                _check_params(conns[0], run)
                hard_end = time.perf_counter() + HARD_DURATION_S
                warm_s = HARD_DURATION_S if window is None else window
                warm_end = min(hard_end, time.perf_counter() + warm_s)
                _warm_up(pool, conns, run, warmup, warm_end)
                _measure(pool, conns, run, budget, abort, window, hard_end)
        finally:
            for conn in conns:
                conn.close()
    measurement = run.measurement
    if measurement.stopped_because is None:
        measurement.stopped_because = _why_stopped(budget, iterations, window)
    return measurement


def _probe_statement(query: str) -> str:
    """The one statement to run; ValueError if it is none, several, or one that would
    end (or prepare) the read-only transaction it runs in."""
    statement = single_statement(query)
    if _TRANSACTION_CONTROL.match(leading_code(statement)):
        raise ValueError(
            "the query must not control the transaction (BEGIN, COMMIT, ROLLBACK,"
            " SAVEPOINT, PREPARE TRANSACTION ...): each execution runs in a read-only"
            " transaction of its own"
        )
    return statement


_TRANSACTION_CONTROL = re.compile(
    r"(BEGIN|START|COMMIT|END|ROLLBACK|ABORT|SAVEPOINT|RELEASE|PREPARE\s+TRANSACTION)\b",
    re.IGNORECASE,
)


def _window(iterations: int | None, duration_s: float | None) -> float | None:
    """The measured window's length, clamped to the hard bound; None without one."""
    if iterations is None and duration_s is None:
        raise ValueError("give iterations, duration_s or both")
    return None if duration_s is None else max(0.0, min(duration_s, HARD_DURATION_S))


def _why_stopped(budget: _Budget, iterations: int | None, window: float | None) -> str | None:
    """A sentence when a bound (not the count or window asked for) ended the run."""
    done = MAX_ITERATIONS if iterations is None else min(iterations, MAX_ITERATIONS)
    done -= budget.left
    if budget.out_of_time and budget.hard_stop:
        asked = f"{iterations} executions" if window is None else f"{window:g} s window"
        return (
            f"stopped at the {HARD_DURATION_S:g} s time bound (warm-up included) after"
            f" {done} executions, before the {asked} asked for"
        )
    capped = iterations is None or iterations > MAX_ITERATIONS
    if capped and budget.left == 0:
        return f"reached the cap of {MAX_ITERATIONS} executions"
    return None


def _open_sessions(
    pool: ThreadPoolExecutor,
    connect_kwargs: Mapping[str, Any],
    sessions: int,
    timeout_s: float,
    run: _Run,
) -> list[Connection]:
    """Open the sessions in parallel; a failure is recorded, with the time it took."""

    def open_one(_: int) -> Connection | None:
        conn, took_s, failure = open_session(connect_kwargs, timeout_s, APPLICATION_NAME)
        if conn is None:
            _record(run, took_s, "connection", failure)
            return None
        # The probe sends BEGIN READ ONLY and ROLLBACK itself (see `_execute`); psycopg2
        # must not open transactions of its own around them.
        conn.autocommit = True
        return conn

    return [conn for conn in pool.map(open_one, range(sessions)) if conn is not None]


def _check_params(conn: Connection, run: _Run) -> None:
    """Bind the parameters once, client-side, so a mismatch is the caller's error and
    not a million identical "query" errors."""
    try:
        with conn.cursor() as cur:
            cur.mogrify(run.query, run.params)
    except (TypeError, IndexError, KeyError, ValueError, psycopg2.ProgrammingError) as exc:
        raise ValueError(f"the parameters do not fit the query: {exc}") from exc


def _warm_up(
    pool: ThreadPoolExecutor, conns: list[Connection], run: _Run, warmup: int, deadline: float
) -> None:
    if warmup <= 0:
        return
    budget = _Budget(left=min(warmup, MAX_ITERATIONS), deadline=deadline)
    done = list(pool.map(lambda conn: _work(conn, run, budget, timed=False), _live(conns)))
    run.measurement.warmup_requests = sum(done)


def _live(conns: list[Connection]) -> list[Connection]:
    return [conn for conn in conns if not conn.closed]


def _measure(
    pool: ThreadPoolExecutor,
    conns: list[Connection],
    run: _Run,
    budget: _Budget,
    abort: Abort | None,
    window: float | None,
    hard_end: float,
) -> None:
    """The measured window: from the first execution's start to the last one's end. It
    ends after `window` seconds, and at `hard_end` in any case."""
    start = time.perf_counter()
    budget.deadline = hard_end if window is None else min(start + window, hard_end)
    budget.hard_stop = window is None or hard_end < start + window - NOTICEABLE_CUT_S
    futures = [pool.submit(_work, conn, run, budget, timed=True) for conn in _live(conns)]
    try:
        run.measurement.stopped_because = _watch(futures, run, start, abort)
    finally:  # also when `abort` raises: no session may be closed under a running worker
        budget.stop.set()
        wait(futures)
    run.measurement.elapsed_s = time.perf_counter() - start
    for future in futures:
        future.result()  # a bug in a worker surfaces here, not silently


def _watch(futures: list[Future[int]], run: _Run, start: float, abort: Abort | None) -> str | None:
    """Wait for the workers, asking `abort` on the way; return its reason if it gave one
    (the caller then stops the workers)."""
    pending = set(futures)
    while pending:
        _, pending = wait(pending, timeout=ABORT_POLL_S, return_when=FIRST_EXCEPTION)
        if abort is None or not pending:
            continue
        with run.lock:
            reason = abort(run.measurement, time.perf_counter() - start)
        if reason:
            return reason
    return None


def _work(conn: Connection, run: _Run, budget: _Budget, *, timed: bool) -> int:
    """Execute while the budget allows; the number of executions. A broken session ends
    its worker (recorded once, as "connection")."""
    done = 0
    with conn.cursor() as cur:
        while budget.take():
            latency_s, error, message = _execute(cur, run)
            done += 1
            if timed:
                _record(run, latency_s, error, message)
            if conn.closed:
                return done
    return done


def _execute(cur: Any, run: _Run) -> tuple[float, str | None, str | None]:
    """One execution in a read-only transaction of its own: (seconds, error, message).

    The statement runs between `BEGIN READ ONLY` and `ROLLBACK`, so a COMMIT inside it
    (a DO block, a procedure) is "invalid transaction termination" and nothing it did
    survives. Only the statement and the fetch of its rows are timed: the BEGIN and the
    ROLLBACK are two more round trips per execution, left out of the latency (a client
    reading in autocommit does not make them) but inside the measured window."""
    try:
        cur.execute("BEGIN READ ONLY")
    except psycopg2.Error as exc:
        return 0.0, _error_class(cur, exc), pg.first_line(exc)
    start = time.perf_counter()
    error, message = _statement(cur, run)
    latency_s = time.perf_counter() - start
    try:
        cur.execute("ROLLBACK")
    except psycopg2.Error as exc:
        # The transaction's state is unknown: this session runs nothing more.
        cur.connection.close()
        if error is None:
            error, message = "connection", pg.first_line(exc)
    return latency_s, error, message


def _statement(cur: Any, run: _Run) -> tuple[str | None, str | None]:
    try:
        cur.execute(run.query, run.params)
        if cur.description is not None:
            cur.fetchall()
    except psycopg2.errors.QueryCanceled as exc:
        return "timeout", pg.first_line(exc)
    except psycopg2.Error as exc:
        return _error_class(cur, exc), pg.first_line(exc)
    return None, None


def _error_class(cur: Any, exc: psycopg2.Error) -> str:
    return "connection" if cur.connection.closed else "query"


def _record(run: _Run, latency_s: float, error: str | None, message: str | None) -> None:
    with run.lock:
        run.measurement.record(latency_s * 1_000_000, error=error, message=message)
