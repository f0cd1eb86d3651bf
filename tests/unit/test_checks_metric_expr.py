"""What a metric condition means on scraped series: vectors compare every series, sums
and arithmetic read one number, rate() compares two scrapes (resets, new series, gauges),
and what cannot be judged says so instead of passing."""

from __future__ import annotations

import math
import textwrap

import pytest
from prometheus_client.parser import text_string_to_metric_families

from vigil.checks.metric_eval import Exposition, Scrapes
from vigil.checks.metric_expr import MetricCondition
from vigil.checks.metrics import exposition_of

pytestmark = pytest.mark.unit

FIRST = """\
# TYPE http_requests_total counter
http_requests_total{route="/ok",status="200"} 100
http_requests_total{route="/ok",status="500"} 1
# TYPE errors_total counter
# TYPE queue_depth gauge
queue_depth{queue="a"} 10
# TYPE up gauge
up{job="orders",instance="a"} 1
up{job="orders",instance="b"} 1
"""
SECOND = """\
# TYPE http_requests_total counter
http_requests_total{route="/ok",status="200"} 190
http_requests_total{route="/ok",status="500"} 1
http_requests_total{route="/new",status="503"} 10
# TYPE errors_total counter
# TYPE queue_depth gauge
queue_depth{queue="a"} 4
queue_depth{queue="b"} 7
# TYPE up gauge
up{job="orders",instance="a"} 1
up{job="orders",instance="b"} 0
up{job="billing",instance="c"} NaN
"""


def scrape(text: str) -> Exposition:
    return exposition_of(text_string_to_metric_families(textwrap.dedent(text)))


TWO = Scrapes(scrape(SECOND), scrape(FIRST), elapsed_s=10.0)
ONE = Scrapes(scrape(SECOND))


def judge(text: str, scrapes: Scrapes = TWO) -> tuple[bool | None, str, float | None]:
    outcome = MetricCondition.parse(text).evaluate(scrapes)
    return outcome.ok, outcome.text, outcome.value


def test_a_selector_alone_compares_every_matching_series_naming_the_failing_ones() -> None:
    ok, text, _ = judge('up{job="orders"} == 1')
    assert ok is False
    assert text == (
        'up{job="orders"} == 1 does not hold for 1 of 2 series: up{instance="b",job="orders"} = 0'
    )
    assert judge('up{instance="a"} == 1')[:2] == (True, 'up{instance="a"} == 1 holds for 1 series')
    # NaN holds no comparison
    assert judge('up{job="billing"} < 2')[1].endswith('up{instance="c",job="billing"} = NaN')


def test_a_selector_matching_nothing_fails_but_its_sum_is_zero() -> None:
    assert judge('up{job="ghost"} == 1')[:2] == (
        False,
        'up{job="ghost"} == 1 does not hold: no series matches up{job="ghost"}',
    )
    assert judge('sum(up{job="ghost"}) == 0')[0] is True
    # A labelled counter with no series yet declares its name: its sum is 0, not missing.
    assert judge("sum(errors_total) < 1") == (True, "sum(errors_total) < 1 holds: 0", 0.0)


def test_a_metric_the_scrape_does_not_have_fails_whatever_the_comparison() -> None:
    ok, text, _ = judge("sum(http_request_total) >= 0")
    assert ok is False
    assert "no metric named 'http_request_total' in the scrape" in text
    assert "did you mean 'http_requests_total'?" in text


def test_rate_is_the_increase_per_second_between_the_two_scrapes() -> None:
    # 200: +90; 500: +0; /new 503 appeared with 10 (counted from 0): 100 in 10 s.
    ok, text, value = judge("sum(rate(http_requests_total)) == 10")
    assert (ok, value) == (True, 10.0)
    ok, text, value = judge(
        'rate(http_requests_total{status=~"5.."}) / rate(http_requests_total) < 0.01'
    )
    assert ok is False and value == pytest.approx(0.1)
    assert text == (
        'rate(http_requests_total{status=~"5.."}) / rate(http_requests_total) < 0.01 '
        'does not hold: 0.1 (rate(http_requests_total{status=~"5.."}) = 1, '
        "rate(http_requests_total) = 10)"
    )
    ok, text, _ = judge('rate(http_requests_total{status="200"}) > 10')
    assert text.endswith('http_requests_total{route="/ok",status="200"} = 9')


def test_a_counter_that_went_down_was_reset() -> None:
    before = scrape('# TYPE c counter\nc_total{a="x"} 500\n')
    after = scrape('# TYPE c counter\nc_total{a="x"} 30\n')
    outcome = MetricCondition.parse("sum(rate(c_total)) == 3").evaluate(Scrapes(after, before, 10))
    assert outcome.ok is True, outcome.text


def test_a_gauge_rate_is_its_change_and_series_new_to_it_are_left_out() -> None:
    ok, _, value = judge("sum(rate(queue_depth)) == -0.6")
    assert ok is True and value == pytest.approx(-0.6)
    assert judge("rate(queue_depth) != 0")[1] == "rate(queue_depth) != 0 holds for 1 series"


def test_what_cannot_be_judged_is_neither_a_pass_nor_a_failure() -> None:
    ok, text, _ = judge('rate(up{job="orders"}) / rate(errors_total) < 1')
    assert ok is None
    assert text.endswith("cannot be evaluated: division by zero: rate(errors_total) is 0")
    ok, text, _ = judge("sum(rate(http_requests_total)) > 0", ONE)
    assert ok is None and "rate() needs two scrapes" in text


def test_arithmetic_and_unary_minus() -> None:
    assert judge('-sum(up{job="orders"}) + 3 * 2 == 5')[0] is True
    assert judge("(sum(queue_depth) - 1) / 2 == 5")[0] is True
    assert math.isnan(judge('sum(up{job="billing"}) > 0')[2] or 0.0)


def test_the_exposition_keeps_what_the_scrape_declares() -> None:
    exp = scrape(
        "# TYPE lat_seconds histogram\n"
        'lat_seconds_bucket{le="0.1"} 3\nlat_seconds_bucket{le="+Inf"} 4\n'
        "lat_seconds_count 4\nlat_seconds_sum 0.2\n"
        "# TYPE hits counter\n"
    )
    assert {"lat_seconds_bucket", "lat_seconds_count", "hits_total"} <= exp.names
    assert {"lat_seconds_bucket", "lat_seconds_count", "lat_seconds_sum", "hits_total"} <= (
        exp.monotonic
    )
    assert exp.series_count == 4
    assert exp.samples["lat_seconds_bucket"][(("le", "+Inf"),)] == 4.0
