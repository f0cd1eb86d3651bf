"""The `metrics` and `promql` kinds and the `prometheus` target in a spec: malformed ones
are refused when the spec loads, each problem at its line and field (and, inside a metric
condition, at its character); well-formed ones load without importing prometheus_client."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vigil.checks.metric_expr import BinOp, MetricCondition, Rate, Selector, Sum
from vigil.checks.models import MetricsCheck, PromqlCheck
from vigil.checks.promql_conditions import ResultCondition, query_problem
from vigil.spec.errors import SpecError
from vigil.spec.loader import load_spec

pytestmark = pytest.mark.unit

HEAD = """\
environment: shop
targets:
  api:
    kind: http
    base_url: http://127.0.0.1:18081
  prom:
    kind: prometheus
    base_url: ${PROMETHEUS_URL:-http://127.0.0.1:9090}
    headers:
      Authorization: Bearer ${PROM_TOKEN}
checks:
  health:
"""
FIRST_CHECK_LINE = HEAD.count("\n") + 1  # the line of the first check's first key


def write(tmp_path: Path, checks: str, head: str = HEAD) -> Path:
    path = tmp_path / "shop.yaml"
    path.write_text(head + textwrap.indent(textwrap.dedent(checks), "    "))
    return path


def problems(path: Path) -> list[tuple[int | None, str, str]]:
    with pytest.raises(SpecError) as raised:
        load_spec(path)
    return [
        (p.line, p.path, p.message + (f" — {p.hint}" if p.hint else ""))
        for p in raised.value.problems
    ]


def test_well_formed_checks_load(tmp_path: Path) -> None:
    spec = load_spec(
        write(
            tmp_path,
            """\
            - id: api-metrics
              kind: metrics
              target: api
              rate_interval_s: 2
              conditions:
                - up{job="orders"} == 1
                - rate(http_requests_total{status=~"5.."}) / rate(http_requests_total) < 0.01
            - id: orders-scraped
              kind: promql
              target: prom
              query: up{job="orders"}
              conditions: [value == 1, count >= 1]
            """,
        )
    )
    metrics, promql = spec.checks_of("health")
    assert isinstance(metrics, MetricsCheck) and metrics.path == "/metrics"
    assert metrics.uses_rate and str(metrics.conditions[0]) == 'up{job="orders"} == 1'
    assert isinstance(promql, PromqlCheck) and not promql.allow_empty
    assert [str(c) for c in promql.conditions] == ["value == 1", "count >= 1"]
    assert spec.targets["prom"].kind == "prometheus"


# Each malformed check: (checks YAML, line offset from the first check, field path, words).
MALFORMED = [
    pytest.param(
        """\
        - id: m
          kind: metrics
          target: api
          conditions:
            - up == 1
            - rate(x{status=~"5..") < 1
        """,
        5,
        "checks.health[0].conditions[1]",
        "at character 21 (') < 1'): expected ',' or '}' after a label matcher",
        id="selector-not-closed",
    ),
    pytest.param(
        """\
        - id: m
          kind: metrics
          target: api
          conditions: ['x{status=500} > 0']
        """,
        3,
        "checks.health[0].conditions[0]",
        "at character 10 ('500} > 0'): label values are quoted strings",
        id="label-value-unquoted",
    ),
    pytest.param(
        """\
        - id: m
          kind: metrics
          target: api
          conditions: ['x{path=~"(unclosed"} > 0']
        """,
        3,
        "checks.health[0].conditions[0]",
        "at character 9 ('\"(unclosed\"} > 0'): invalid regular expression",
        id="regex-invalid",
    ),
    pytest.param(
        """\
        - id: m
          kind: metrics
          target: api
          conditions: ['sum(http_requests_total)']
        """,
        3,
        "checks.health[0].conditions[0]",
        "expected a comparison (< <= > >= == !=) followed by a number",
        id="no-comparison",
    ),
    pytest.param(
        """\
        - id: m
          kind: metrics
          target: api
          conditions: ['x > y']
        """,
        3,
        "checks.health[0].conditions[0]",
        "a comparison is with a number",
        id="compared-with-a-metric",
    ),
    pytest.param(
        """\
        - id: m
          kind: metrics
          target: api
          conditions: ['rate(sum(x)) > 0']
        """,
        3,
        "checks.health[0].conditions[0]",
        "rate() takes a metric selector",
        id="rate-of-a-sum",
    ),
    pytest.param(
        """\
        - id: m
          kind: metrics
          target: api
          conditions: [7]
        """,
        3,
        "checks.health[0].conditions[0]",
        "a metric condition is a string",
        id="not-a-string",
    ),
    pytest.param(
        """\
        - id: m
          kind: metrics
          target: api
          timeout_s: 3
          conditions: ['rate(x) > 0']
        """,
        0,
        "checks.health[0]",
        "raise timeout_s to at least 6 or lower rate_interval_s",
        id="rate-does-not-fit-the-timeout",
    ),
    pytest.param(
        """\
        - id: m
          kind: metrics
          target: api
          path: metrics
        """,
        3,
        "checks.health[0].path",
        "path must start with '/'",
        id="path-not-absolute",
    ),
    pytest.param(
        """\
        - id: m
          kind: metrics
          target: api
          headers: {Authorization: Bearer abc123def456}
        """,
        3,
        "checks.health[0].headers.Authorization",
        "${",
        id="literal-secret-header",
    ),
    pytest.param(
        """\
        - id: m
          kind: metrics
          target: api
          rate_intervall_s: 2
        """,
        3,
        "checks.health[0].rate_intervall_s",
        "did you mean 'rate_interval_s'?",
        id="unknown-key",
    ),
    pytest.param(
        """\
        - id: q
          kind: promql
          target: prom
          query: sum(rate(http_requests_total{job="orders"}[5m])
        """,
        3,
        "checks.health[0].query",
        "query is not PromQL: '(' at character 4 is not closed",
        id="query-unbalanced",
    ),
    pytest.param(
        """\
        - id: q
          kind: promql
          target: prom
          query: up{job="orders}
        """,
        3,
        "checks.health[0].query",
        "the string opened at character 8 is not closed",
        id="query-string-open",
    ),
    pytest.param(
        """\
        - id: q
          kind: promql
          target: prom
          query: "  "
        """,
        3,
        "checks.health[0].query",
        "",
        id="query-blank",
    ),
    pytest.param(
        """\
        - id: q
          kind: promql
          target: prom
          query: up
          conditions: [valu == 1]
        """,
        4,
        "checks.health[0].conditions[0]",
        "unknown subject 'valu'; one of value, count, min, max, sum, avg (did you mean 'value'?)",
        id="result-condition-subject",
    ),
    pytest.param(
        """\
        - id: q
          kind: promql
          target: prom
          query: up
          conditions: [value is 1]
        """,
        4,
        "checks.health[0].conditions[0]",
        "cannot parse result condition 'value is 1'",
        id="result-condition-syntax",
    ),
    pytest.param(
        """\
        - id: q
          kind: promql
          target: prom
          query: up
          alow_empty: true
        """,
        4,
        "checks.health[0].alow_empty",
        "did you mean 'allow_empty'?",
        id="promql-unknown-key",
    ),
]


@pytest.mark.parametrize(("checks", "offset", "field", "words"), MALFORMED)
def test_malformed_checks_are_refused_at_their_line(
    tmp_path: Path, checks: str, offset: int, field: str, words: str
) -> None:
    [(line, path, message)] = problems(write(tmp_path, checks))
    assert (line, path) == (FIRST_CHECK_LINE + offset, field), message
    assert words in message


@pytest.mark.parametrize(
    ("target", "field", "words"),
    [
        ("base_url: ftp://prom:9090", "targets.prom.base_url", "http"),
        (
            "base_url: http://prom:9090\n    headers: {Authorization: Bearer abc123def456}",
            "targets.prom.headers.Authorization",
            "${",
        ),
        ("base_url: http://admin:hunter2@prom:9090", "targets.prom.base_url", "${"),
        ("base_url: http://prom:9090\n    url: http://prom", "targets.prom.url", "unknown key"),
    ],
    ids=["not-http", "literal-secret-header", "literal-password-in-url", "unknown-key"],
)
def test_a_prometheus_target_has_the_rules_of_an_http_target(
    tmp_path: Path, target: str, field: str, words: str
) -> None:
    head = f"environment: shop\ntargets:\n  prom:\n    kind: prometheus\n    {target}\n"
    found = problems(write(tmp_path, "", head))
    assert [(path, words in message) for _, path, message in found] == [(field, True)], found


def test_every_problem_of_a_file_is_listed_at_once(tmp_path: Path) -> None:
    found = problems(
        write(
            tmp_path,
            """\
            - id: m
              kind: metrics
              target: api
              conditions: ['x{a="b"} >', 'rate(x) / > 1']
            - id: q
              kind: promql
              target: prom
              query: up)
            """,
        )
    )
    assert [path for _, path, _ in found] == [
        "checks.health[0].conditions[0]",
        "checks.health[0].conditions[1]",
        "checks.health[1].query",
    ]


# --- the grammar ----------------------------------------------------------------------


def test_the_grammar_reads_precedence_sum_rate_and_matchers() -> None:
    c = MetricCondition.parse('rate(a{s=~"5.."}) / rate(a) * 100 + 1 >= -2.5e0')
    assert (c.op, c.threshold, c.uses_rate) == (">=", -2.5, True)
    assert str(c.expr) == '(((rate(a{s=~"5.."}) / rate(a)) * 100) + 1)'
    assert isinstance(c.expr, BinOp) and isinstance(c.expr.left, BinOp)
    d = MetricCondition.parse("sum(rate(x_total{a!='b', c!~\"d|e\",})) != 0")
    assert isinstance(d.expr, Sum) and isinstance(d.expr.arg, Rate)
    assert str(d.expr.arg.selector) == 'x_total{a!="b",c!~"d|e"}'
    e = MetricCondition.parse("  ns:up:sum  ==  1  ")
    assert e.expr == Selector("ns:up:sum") and e.is_vector and str(e) == "ns:up:sum  ==  1"
    # `sum` and `rate` not followed by '(' are metric names
    assert MetricCondition.parse("rate > 1").expr == Selector("rate")


def test_regex_matchers_match_the_whole_value_and_a_missing_label_reads_empty() -> None:
    [matcher] = MetricCondition.parse('x{status=~"5.."} > 0').expr.matchers  # type: ignore[union-attr]
    assert matcher.matches({"status": "503"})
    assert not matcher.matches({"status": "5030"})
    assert not matcher.matches({})
    [absent] = MetricCondition.parse('x{env=""} > 0').expr.matchers  # type: ignore[union-attr]
    assert absent.matches({}) and not absent.matches({"env": "prod"})


@pytest.mark.parametrize(
    ("text", "at", "words"),
    [
        ("", None, "must not be empty"),
        ("x $ 1", 3, "unexpected character '$'"),
        ('x{a="b} > 1', 5, "not closed"),
        ("x > 1 2", 7, "unexpected text after"),
        ("(x > 1", 4, "expected ')' to close the '('"),
        ("sum(x + y) > 1", 7, "expected ')' to close sum("),
        ('{a="b"} > 1', 1, "expected a metric"),
        ('x{1a="b"} > 1', 3, "expected a label name"),
        ('x{a>"b"} > 1', 4, "expected a label matcher"),
        ("(" * 40 + "x" + ")" * 40 + " > 1", 34, "nested more than 32 deep"),
        ("x" * 1001 + " > 1", None, "at most 1000 characters"),
    ],
)
def test_a_malformed_condition_says_what_and_at_which_character(
    text: str, at: int | None, words: str
) -> None:
    with pytest.raises(ValueError) as raised:
        MetricCondition.parse(text)
    message = str(raised.value)
    assert words in message
    if at is not None:
        assert f"at character {at} " in message


def test_result_conditions_and_the_query_look() -> None:
    assert str(ResultCondition.parse(" max<=0.5 ")) == "max <= 0.5"
    assert ResultCondition.parse("count > -1").threshold == -1
    assert query_problem('sum by (job) (rate(x{a="(", b=`]`}[5m])) # (comment') is None
    assert query_problem("x]") == "']' at character 2 closes nothing that is open"
    assert query_problem("(x]") == "']' at character 3 closes nothing that is open"


# --- parse time stays cheap -------------------------------------------------------------


def test_loading_a_spec_with_these_kinds_does_not_import_prometheus_client(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        """\
        - id: m
          kind: metrics
          target: api
          conditions: ['rate(x) > 0']
        - id: q
          kind: promql
          target: prom
          query: up
        """,
    )
    code = (
        "import sys; from vigil.spec.loader import load_spec; import vigil.checks; "
        f"load_spec({str(path)!r}); "
        "print(sorted(m for m in sys.modules if m.startswith(('prometheus_client', 'requests'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert done.stdout.strip() == "[]", done.stderr
