"""The HTTP load engine against real local servers whose truth is known: a latency
distribution (tests/support/latency_server.py, in its own process), an exact count of
500s (and of 404s from a route that went away), a stall, one request hanging past the
window, a closed port, a server slower than the timeout, a self-signed certificate, and
credentials given in the target's URL.

No assertion is on wall time: measured figures are compared with what the server is known
to do (with a stated tolerance), and counts with the server's own counts.
"""

from __future__ import annotations

import base64
import threading
from pathlib import Path

import pytest

from tests.support.http_server import LocalHttpServer, self_signed_tls
from tests.support.latency_server import LatencyServer
from vigil.context import RunContext
from vigil.probes.http_load import Load, Request, run_http_load
from vigil.probes.http_probe import measure_http
from vigil.probes.measure import Measurement
from vigil.probes.models import HttpLoadProbe
from vigil.spec.models import HttpTarget, Spec
from vigil.stack.postgres import free_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(120),
    # No socket, transport or task may be left behind by a run.
    pytest.mark.filterwarnings("error::ResourceWarning"),
    pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning"),
]

OK = frozenset({200})
# Latency tolerance: the server's timers fire up to ~1 ms late (uvloop's clock), plus
# loopback and two event loops on a shared 2-core machine.
TOLERANCE_MS = 3.0


def closed(connections: int, duration_s: float, **kw: float) -> Load:
    settings: dict[str, float] = {"warmup_s": 0.0, "max_requests": 1_000_000, "timeout_s": 5.0}
    settings.update(kw)
    return Load(
        model="closed",
        connections=connections,
        rate=None,
        duration_s=duration_s,
        warmup_s=settings["warmup_s"],
        max_requests=int(settings["max_requests"]),
        timeout_s=settings["timeout_s"],
    )


def test_closed_loop_measures_the_servers_latency_distribution() -> None:
    # 20 ms + uniform 0..10 ms: p50 = 25 ms, p99 = 29.9 ms, nothing under 20 ms.
    with LatencyServer(delay_s=0.020, jitter_s=0.010) as srv:
        m = run_http_load([Request("GET", srv.url("/"))], closed(8, 2.0, warmup_s=0.3), OK)
        served = srv.stats()["requests"]
    figures = m.figures()
    assert m.error_count == 0, m.evidence()
    assert abs(figures["p50"] - 25.0) <= TOLERANCE_MS, figures
    assert figures["p99"] <= 31.0 + TOLERANCE_MS, figures
    assert figures["p99"] >= 29.0, f"jitter up to 10 ms must show at p99: {figures}"
    # The server's timers run on a millisecond clock: an answer may leave up to 1 ms early.
    assert figures["min"] >= 19.0, f"no answer can be faster than the server's delay: {figures}"
    # ~8 connections / 25 ms = 320 req/s over 2 s; warm-up kept out of the figures.
    assert 300 < m.requests < 800, figures
    assert m.warmup_requests > 0
    assert m.requests + m.warmup_requests == served, "every request the server got is counted"
    assert m.elapsed_s > 0 and m.stopped_because is None


def test_status_errors_are_exactly_the_servers_500s() -> None:
    # Every 7th request is a 500, 20 of them in all; a mix of GET and POST with a body
    # (a wrong Content-Length would hang the server's parser and show as timeouts).
    mix = [
        Request("GET", "{base}/items?page=2", headers=(("X-Probe", "1"),), weight=3),
        Request("POST", "{base}/items", body=b'{"name": "probe"}', weight=1),
    ]
    with LatencyServer(delay_s=0.002, error_every=7, error_limit=20) as srv:
        requests = [
            Request(r.method, r.url.format(base=srv.base_url), r.headers, r.body, r.weight)
            for r in mix
        ]
        m = run_http_load(requests, closed(4, 1.5), OK)
        stats = srv.stats()
    assert stats["errors"] == 20, stats
    assert dict(m.errors) == {"status": 20}, m.evidence()
    assert m.statuses[500] == 20 and m.statuses[200] == m.ok, m.evidence()
    assert m.requests == stats["requests"], (m.requests, stats)
    assert m.samples == ["status 500"]


def test_max_requests_caps_what_the_server_receives_warm_up_included() -> None:
    result: list[Measurement] = []
    # From a worker thread, as Airflow's task runner may call it: its own loop, no leftovers.
    threads_before = threading.active_count()
    with LatencyServer(delay_s=0.005) as srv:
        load = closed(8, 30.0, warmup_s=0.1, max_requests=300)
        worker = threading.Thread(
            target=lambda: result.append(run_http_load([Request("GET", srv.url())], load, OK))
        )
        worker.start()
        worker.join(timeout=60)
        served = srv.stats()["requests"]
    [m] = result
    assert served <= 300, f"the server received {served} requests, over the cap of 300"
    assert m.requests + m.warmup_requests == served == 300
    assert m.stopped_because and "max_requests" in m.stopped_because, m.stopped_because
    assert m.warmup_requests > 0
    assert threading.active_count() == threads_before


def test_abort_stops_early_and_says_why() -> None:
    calls: list[float] = []

    def abort(m: Measurement, seconds: float) -> str | None:
        calls.append(seconds)
        return "error rate over 1 % after 250 requests" if m.requests >= 250 else None

    with LatencyServer(delay_s=0.010) as srv:
        # 4 connections / 10 ms = ~400 req/s: 30 s would be ~12,000 requests.
        m = run_http_load([Request("GET", srv.url())], closed(4, 30.0), OK, abort=abort)
        served = srv.stats()["requests"]
    assert m.stopped_because == "error rate over 1 % after 250 requests"
    assert 250 <= m.requests < 2_000, m.figures()
    assert m.requests == served
    assert len(calls) >= 2 and calls == sorted(calls), calls
    assert m.elapsed_s < 30.0 / 2


def test_open_loop_shows_a_stall_that_the_closed_loop_hides() -> None:
    # The server answers in 5 ms, but answers nothing from 1.0 s to 2.0 s after its start.
    stall = {"delay_s": 0.005, "stall_at_s": 1.0, "stall_s": 1.0}
    with LatencyServer(**stall) as srv:
        open_load = Load("open", 16, 200.0, 3.0, 0.0, 1_000_000, 5.0)
        open_m = run_http_load([Request("GET", srv.url())], open_load, OK)
    with LatencyServer(**stall) as srv:
        closed_m = run_http_load([Request("GET", srv.url())], closed(16, 3.0), OK)
    opened, closed_ = open_m.figures(), closed_m.figures()
    assert open_m.error_count == 0 and closed_m.error_count == 0
    # Open loop: ~200 of ~600 requests were intended during the stall and waited for it,
    # up to its whole second, counted from their intended time.
    assert 500 <= open_m.requests <= 700, opened
    assert opened["p99"] >= 900.0, opened
    assert opened["p90"] >= 300.0, opened
    # Closed loop: only the 16 requests in flight waited; thousands of fast ones did not.
    assert closed_["max"] >= 900.0, f"the closed loop did see the stall: {closed_}"
    assert closed_["p99"] < 100.0, closed_
    assert closed_["p99"] * 5 < opened["p99"], (closed_, opened)


def test_refused_connections_are_errors_of_class_connection() -> None:
    url = f"http://127.0.0.1:{free_port()}/"  # nothing listens there
    closed_m = run_http_load([Request("GET", url)], closed(2, 1.0, timeout_s=1.0), OK)
    open_m = run_http_load([Request("GET", url)], Load("open", 2, 50.0, 1.0, 0.0, 1000, 1.0), OK)
    for m in (closed_m, open_m):
        assert m.ok == 0 and m.requests > 0, m.evidence()
        assert set(m.errors) == {"connection"}, m.evidence()
        assert m.samples and "cannot connect" in m.samples[0], m.samples
    # The closed loop backs off (10 ms doubling to 0.5 s): a few attempts, not a busy loop.
    assert closed_m.requests <= 40, closed_m.figures()
    # The open loop fails each intended request (~50 in 1 s) rather than queueing it.
    assert 40 <= open_m.requests <= 60, open_m.figures()


def test_a_server_slower_than_the_timeout_gives_timeouts() -> None:
    with LatencyServer(delay_s=1.0) as srv:
        m = run_http_load([Request("GET", srv.url())], closed(2, 1.0, timeout_s=0.2), OK)
        stats = srv.stats()
    assert m.ok == 0 and m.requests > 0, m.evidence()
    assert set(m.errors) == {"timeout"}, m.evidence()
    assert m.figures()["min"] >= 200.0, "a timeout is counted once timeout_s has passed"
    # Each timed-out request closed its connection: the server saw one request per attempt.
    assert m.requests == stats["requests"], (m.requests, stats)


def test_a_mix_judges_each_answer_by_the_request_that_was_sent() -> None:
    # /missing is expected to answer 404; /ok to answer 200, until the server loses its
    # routes at its 101st request and /ok answers 404 too. Judged by the union {200, 404},
    # those would pass; judged by /ok's own {200}, each is a "status" error.
    mix = [
        Request("GET", "{base}/ok", expect_status=frozenset({200})),
        Request("GET", "{base}/missing", expect_status=frozenset({404})),
    ]
    with LatencyServer(delay_s=0.002, missing_paths=("/missing",), missing_from=101) as srv:
        requests = [
            Request(r.method, r.url.format(base=srv.base_url), expect_status=r.expect_status)
            for r in mix
        ]
        # The run's own set ({200}) would make every /missing answer an error: it must not
        # apply to requests that carry their own.
        m = run_http_load(requests, closed(4, 1.0), OK)
        stats = srv.stats()
    assert stats["gone"] > 0, stats  # /ok answered 404 at least once
    assert dict(m.errors) == {"status": stats["gone"]}, (m.evidence(), stats)
    assert m.samples == ["status 404"]
    assert m.requests == stats["requests"], (m.requests, stats)
    # /missing's 404s are successes, /ok's are not: more 404s than errors.
    assert m.statuses[404] > stats["gone"] and m.statuses[200] > 0, m.evidence()
    assert m.ok == m.statuses[200] + m.statuses[404] - stats["gone"]


def test_a_request_hanging_past_the_window_does_not_deflate_rps() -> None:
    # The 20th request is answered after 2 s: past the 1 s window, within the 5 s timeout.
    # It is waited for and counted, but the drain's second is not in rps' divisor.
    with LatencyServer(delay_s=0.005, slow_request=20, slow_s=2.0) as srv:
        m = run_http_load([Request("GET", srv.url())], closed(4, 1.0), OK)
        served = srv.stats()["requests"]
    assert m.error_count == 0, m.evidence()
    assert m.requests == served, "the hanging request was awaited and counted"
    assert m.figures()["max"] >= 1900.0, m.figures()
    assert m.elapsed_s < 1.5, f"elapsed_s is the window, not window + drain: {m.elapsed_s}"
    # Requests over the window's length: ~1.0 s, whatever the hang (with it, ~2 s: half).
    assert m.rps == pytest.approx(m.ok / 1.0, rel=0.15), (m.rps, m.ok)


def test_verify_tls_false_accepts_a_self_signed_certificate(tmp_path: Path) -> None:
    with LocalHttpServer(tls=self_signed_tls(tmp_path)) as srv:
        srv.route("/health", json={"status": "ok"})
        request = [Request("GET", srv.url("/health"))]
        load = closed(1, 5.0, max_requests=5)
        verified = run_http_load(request, load, OK)
        unverified = run_http_load(request, load, OK, verify_tls=False)
    assert verified.ok == 0 and set(verified.errors) == {"connection"}, verified.evidence()
    assert "CERTIFICATE_VERIFY_FAILED" in verified.samples[0], verified.samples
    assert unverified.ok == 5 and unverified.error_count == 0, unverified.evidence()


def test_the_engine_refuses_a_url_with_credentials_it_would_not_send() -> None:
    url = f"http://probe:s3cret@127.0.0.1:{free_port()}/"
    with pytest.raises(ValueError, match="user:password@") as raised:
        run_http_load([Request("GET", url)], closed(1, 0.1), OK)
    assert "s3cret" not in str(raised.value), "the message must not carry the credential"


def _probe(**request: object) -> HttpLoadProbe:
    return HttpLoadProbe.model_validate(
        {
            "kind": "http_load",
            "id": "api-load",
            "target": "api",
            "request": {"path": "/items", **request},
            "load": {"connections": 1, "duration_s": 5, "warmup_s": 0, "max_requests": 3},
            "thresholds": ["error_rate < 1%"],
        }
    )


def test_a_probe_sends_the_urls_userinfo_as_basic_credentials() -> None:
    # A token as the URL's user (and a quoted "@" in the password), as the health checks'
    # client (requests) would send it; an explicit Authorization header wins over it.
    with LatencyServer(record_headers=True) as srv:
        target = HttpTarget(kind="http", base_url="${API_URL}", allow_load=True)
        environ = {
            "API_URL": f"http://tok-3f9a:p%40ss@127.0.0.1:{srv.port}",
            "API_TOKEN": "tok-explicit",
        }
        ctx = RunContext(Spec(environment="test", targets={"api": target}), environ=environ)
        probe = _probe()
        from_url = measure_http(probe, probe.load, ctx, None)
        basic = srv.last_headers()
        probe = _probe(headers={"Authorization": "Bearer ${API_TOKEN}"})
        explicit = measure_http(probe, probe.load, ctx, None)
        bearer = srv.last_headers()
    for m in (from_url, explicit):
        assert m.ok == 3 and m.error_count == 0, m.evidence()
    assert basic["Authorization"] == "Basic " + base64.b64encode(b"tok-3f9a:p@ss").decode()
    assert bearer["Authorization"] == "Bearer tok-explicit"
    assert basic["Host"] == f"127.0.0.1:{srv.port}", "the userinfo is not in the Host"
