"""Conditions on scraped Prometheus metrics, one line each in the spec:
``rate(http_requests_total{status=~"5.."}) / rate(http_requests_total) < 0.01``.

Parsed when the spec loads (a typo fails the spec, saying at which character), evaluated
by the `metrics` check on one scrape, or on two scrapes `rate_interval_s` apart when a
condition uses ``rate``. The grammar, a small piece of PromQL::

    condition := expr ("<" | "<=" | ">" | ">=" | "==" | "!=") number
    expr      := term (("+" | "-") term)*
    term      := unary (("*" | "/") unary)*
    unary     := "-" unary | atom
    atom      := number | "(" expr ")" | "sum" "(" vector ")" | vector
    vector    := "rate" "(" selector ")" | selector
    selector  := metric_name ["{" [matcher ("," matcher)* [","]] "}"]
    matcher   := label_name ("=" | "!=" | "=~" | "!~") "quoted string"

What each part means:
- a selector is the series of that name whose labels match (regexes match the whole
  value, as in PromQL; a missing label reads as "");
- ``rate(selector)`` is each series' increase per second between the two scrapes (a
  counter that went down was reset: its new value is the increase; a series new in the
  second scrape counts from 0); for a gauge, its change per second;
- alone on the left of the comparison, a selector or ``rate`` compares every matching
  series, and at least one must match (``up{job="orders"} == 1``);
- anywhere else (inside ``sum``, in arithmetic) it stands for the sum over its series, 0
  when none matches (``sum(http_requests_total{status=~"5.."}) < 10``);
- a metric name the scrape does not have at all fails the condition (a typo, or a
  service that stopped exporting it), whatever the comparison.

Nothing here imports prometheus_client: parsing stays cheap; the runner turns its
parsed exposition into `Exposition` values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from vigil.spec.errors import did_you_mean

COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")
MATCH_OPS = ("=", "!=", "=~", "!~")
MAX_CONDITION_CHARS = 1000
MAX_DEPTH = 32  # nested parentheses and calls: a bound on the parser's recursion
SHOWN_SERIES = 5  # failing series named in a message; the details list up to 50
LabelKey = tuple[tuple[str, str], ...]

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<name>[A-Za-z_:][A-Za-z0-9_:]*)
    | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
    | (?P<op><=|>=|==|!=|=~|!~|[<>=+\-*/(){},])
    )""",
    re.VERBOSE,
)
_LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}
_EXAMPLES = (
    "e.g. 'up{job=\"orders\"} == 1', 'sum(http_requests_total{status=~\"5..\"}) < 10', "
    "'rate(http_requests_total{status=~\"5..\"}) / rate(http_requests_total) < 0.01'"
)


# --- the parsed expression -------------------------------------------------------------


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str  # one of MATCH_OPS
    value: str
    pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.label, "")
        if self.pattern is not None:
            found = self.pattern.fullmatch(actual) is not None
            return found if self.op == "=~" else not found
        return (actual == self.value) if self.op == "=" else (actual != self.value)

    def __str__(self) -> str:
        return f"{self.label}{self.op}{_quote(self.value)}"


@dataclass(frozen=True)
class Selector:
    name: str
    matchers: tuple[Matcher, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)

    def __str__(self) -> str:
        if not self.matchers:
            return self.name
        return f"{self.name}{{{','.join(str(m) for m in self.matchers)}}}"


@dataclass(frozen=True)
class Rate:
    selector: Selector

    def __str__(self) -> str:
        return f"rate({self.selector})"


@dataclass(frozen=True)
class Sum:
    arg: Selector | Rate

    def __str__(self) -> str:
        return f"sum({self.arg})"


@dataclass(frozen=True)
class Number:
    value: float

    def __str__(self) -> str:
        return fmt(self.value)


@dataclass(frozen=True)
class Neg:
    arg: Expr

    def __str__(self) -> str:
        return f"-{self.arg}"


@dataclass(frozen=True)
class BinOp:
    op: str  # + - * /
    left: Expr
    right: Expr

    def __str__(self) -> str:
        return f"({self.left} {self.op} {self.right})"


Expr = Number | Selector | Rate | Sum | Neg | BinOp


def walk(expr: Expr) -> Iterator[Expr]:
    yield expr
    if isinstance(expr, Rate):
        yield from walk(expr.selector)
    elif isinstance(expr, Sum | Neg):
        yield from walk(expr.arg)
    elif isinstance(expr, BinOp):
        yield from walk(expr.left)
        yield from walk(expr.right)


# --- the parser --------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # number, name, string, op, end
    text: str
    pos: int  # 0-based offset in the condition


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.lastgroup is None:
            start = len(text) - len(text[pos:].lstrip())
            if text[start] in "\"'":
                raise ExprError(text, start, "this quoted string is not closed")
            raise ExprError(text, start, f"unexpected character {text[start]!r}")
        tokens.append(Token(match.lastgroup, match[match.lastgroup], match.start(match.lastgroup)))
        pos = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


class ExprError(ValueError):
    """A malformed condition: what is wrong, at which character (1-based)."""

    def __init__(self, text: str, pos: int, problem: str) -> None:
        self.text, self.pos, self.problem = text, pos, problem
        near = text[pos : pos + 20].strip()
        where = f"at character {pos + 1}" + (f" ({near!r})" if near else " (the end)")
        super().__init__(f"metric condition {text!r}: {where}: {problem}")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def fail(self, problem: str, token: Token | None = None) -> ExprError:
        return ExprError(self.text, (token or self.tok).pos, problem)

    def take(self, text: str | None = None, kind: str | None = None) -> Token | None:
        tok = self.tok
        if (text is None or tok.text == text) and (kind is None or tok.kind == kind):
            if tok.kind != "end":
                self.i += 1
            return tok
        return None

    def expect(self, text: str, problem: str) -> Token:
        tok = self.take(text, "op")
        if tok is None:
            raise self.fail(problem)
        return tok

    def condition(self) -> tuple[Expr, str, float]:
        expr = self.expr()
        op = self.tok
        if op.kind != "op" or op.text not in COMPARISONS:
            raise self.fail(
                f"expected a comparison ({' '.join(COMPARISONS)}) followed by a number; "
                + _EXAMPLES
            )
        self.i += 1
        negative = self.take("-", "op") is not None
        number = self.take(kind="number")
        if number is None:
            raise self.fail(f"a comparison is with a number, e.g. '{op.text} 0.01'")
        if self.tok.kind != "end":
            raise self.fail("unexpected text after the comparison's number")
        value = float(number.text)
        return expr, op.text, -value if negative else value

    def expr(self) -> Expr:
        left = self.term()
        while (op := self.take("+", "op") or self.take("-", "op")) is not None:
            left = BinOp(op.text, left, self.term())
        return left

    def term(self) -> Expr:
        left = self.unary()
        while (op := self.take("*", "op") or self.take("/", "op")) is not None:
            left = BinOp(op.text, left, self.unary())
        return left

    def unary(self) -> Expr:
        if self.take("-", "op") is not None:
            return Neg(self.nested(self.unary))
        return self.atom()

    def nested(self, parse: Any) -> Any:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"nested more than {MAX_DEPTH} deep")
        try:
            return parse()
        finally:
            self.depth -= 1

    def atom(self) -> Expr:
        tok = self.tok
        if tok.kind == "number":
            self.i += 1
            return Number(float(tok.text))
        if self.take("(", "op") is not None:
            inner: Expr = self.nested(self.expr)
            self.expect(")", "expected ')' to close the '('")
            return inner
        if tok.kind == "name" and tok.text == "sum" and self._next_is("("):
            self.i += 2
            arg = self.nested(self.vector)
            self.expect(")", "expected ')' to close sum(; sum() adds up one selector or rate()")
            return Sum(arg)
        if tok.kind == "name":
            vector: Expr = self.vector()
            return vector
        if tok.kind == "end":
            raise self.fail("the condition ends early: expected a metric, a number or '('")
        raise self.fail(
            f"expected a metric, a number, sum(...), rate(...) or '(', got {tok.text!r}"
        )

    def vector(self) -> Selector | Rate:
        tok = self.tok
        if tok.kind == "name" and tok.text == "rate" and self._next_is("("):
            self.i += 2
            if self.tok.kind != "name" or self.tok.text in ("sum", "rate"):
                raise self.fail("rate() takes a metric selector, e.g. rate(http_requests_total)")
            selector = self.selector()
            self.expect(")", "expected ')' to close rate(; rate() takes one metric selector")
            return Rate(selector)
        if tok.kind != "name" or (tok.text == "sum" and self._next_is("(")):
            raise self.fail(
                "expected a metric selector or rate(selector) here "
                "(sum() adds up the series of one selector)"
            )
        return self.selector()

    def selector(self) -> Selector:
        name = self.take(kind="name")
        if name is None:
            raise self.fail("expected a metric name")
        if self.take("{", "op") is None:
            return Selector(name.text)
        matchers: list[Matcher] = []
        while self.take("}", "op") is None:
            matchers.append(self.matcher())
            if self.take(",", "op") is None:
                self.expect("}", "expected ',' or '}' after a label matcher")
                break
        return Selector(name.text, tuple(matchers))

    def matcher(self) -> Matcher:
        label = self.tok
        if label.kind != "name" or not _LABEL.fullmatch(label.text):
            raise self.fail('expected a label name, e.g. {status="200"}')
        self.i += 1
        op = self.tok
        if op.kind != "op" or op.text not in MATCH_OPS:
            raise self.fail(
                f"expected a label matcher ({' '.join(MATCH_OPS)}) after {label.text!r}"
            )
        self.i += 1
        raw = self.take(kind="string")
        if raw is None:
            raise self.fail('label values are quoted strings, e.g. status="200"')
        value = _unquote(raw.text)
        pattern = None
        if op.text in ("=~", "!~"):
            try:
                pattern = re.compile(value)
            except re.error as exc:
                raise self.fail(f"invalid regular expression: {exc}", raw) from None
        return Matcher(label.text, op.text, value, pattern)

    def _next_is(self, text: str) -> bool:
        after = self.tokens[self.i + 1]
        return after.kind == "op" and after.text == text


def _unquote(literal: str) -> str:
    body = literal[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], "\\" + m[1]), body)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


# --- what a condition is evaluated on ----------------------------------------------------


@dataclass(frozen=True)
class Exposition:
    """One scrape: every sample by name and labels, and what the scrape declares."""

    samples: Mapping[str, Mapping[LabelKey, float]]
    # Every metric name the scrape has: its samples' and its TYPE lines' (a labelled
    # counter with no series yet declares `x_total`, with no sample).
    names: frozenset[str]
    # Samples that only go up (counters, histogram and summary counts and sums): a drop
    # between scrapes is a reset.
    monotonic: frozenset[str] = frozenset()

    @property
    def series_count(self) -> int:
        return sum(len(by_labels) for by_labels in self.samples.values())


@dataclass(frozen=True)
class Scrapes:
    last: Exposition
    first: Exposition | None = None  # taken only when a condition uses rate()
    elapsed_s: float | None = None  # between the two


class UnknownMetric(Exception):
    """A selector names a metric the scrape does not have (the condition fails)."""


class Undefined(Exception):
    """The expression has no value (division by zero): the condition cannot be judged."""


@dataclass(frozen=True)
class Series:
    name: str  # 'http_requests_total{status="500"}'
    value: float


@dataclass(frozen=True)
class MetricOutcome:
    ok: bool | None  # None: could not be evaluated (Undefined)
    text: str  # for the message: "... does not hold: ..."
    value: float | None = None  # a scalar expression's value
    series: tuple[Series, ...] = ()  # a vector comparison's series (the failing first)
    terms: tuple[tuple[str, float], ...] = ()  # each selector's part in a scalar

    def as_json(self, limit: int = 50) -> dict[str, Any]:
        shown: dict[str, Any] = {"ok": self.ok, "text": self.text}
        if self.value is not None:
            shown["value"] = _json_number(self.value)
        if self.series:
            shown["series"] = [
                {"series": s.name, "value": _json_number(s.value)} for s in self.series[:limit]
            ]
            shown["series_count"] = len(self.series)
        if self.terms:
            shown["terms"] = {name: _json_number(v) for name, v in self.terms}
        return shown


def series_name(name: str, labels: LabelKey) -> str:
    if not labels:
        return name
    return name + "{" + ",".join(f"{k}={_quote(v)}" for k, v in labels) + "}"


def fmt(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def _json_number(value: float) -> float | str:
    return value if math.isfinite(value) else fmt(value)


# --- evaluation --------------------------------------------------------------------------


class _Evaluator:
    def __init__(self, scrapes: Scrapes) -> None:
        self.scrapes = scrapes
        self.terms: dict[str, float] = {}

    def vector(self, node: Selector | Rate) -> list[Series]:
        selector = node.selector if isinstance(node, Rate) else node
        last = self.scrapes.last
        if selector.name not in last.names:
            hint = did_you_mean(selector.name, last.names)
            raise UnknownMetric(
                f"no metric named {selector.name!r} in the scrape" + (f" ({hint})" if hint else "")
            )
        current = {
            labels: value
            for labels, value in last.samples.get(selector.name, {}).items()
            if selector.matches(dict(labels))
        }
        if isinstance(node, Selector):
            return [Series(series_name(node.name, k), v) for k, v in sorted(current.items())]
        return self._rates(selector.name, current)

    def _rates(self, name: str, current: dict[LabelKey, float]) -> list[Series]:
        first, elapsed = self.scrapes.first, self.scrapes.elapsed_s
        if first is None or not elapsed or elapsed <= 0:
            raise Undefined("rate() needs two scrapes, and only one was taken")
        before = first.samples.get(name, {})
        counter = name in self.scrapes.last.monotonic
        rates = []
        for labels, value in sorted(current.items()):
            previous = before.get(labels)
            if previous is None and not counter:
                continue  # a gauge new in the second scrape has no change to speak of
            previous = previous or 0.0
            increase = value if counter and value < previous else value - previous
            rates.append(Series(series_name(name, labels), increase / elapsed))
        return rates

    def scalar(self, node: Expr) -> float:
        if isinstance(node, Number):
            return node.value
        if isinstance(node, Neg):
            return -self.scalar(node.arg)
        if isinstance(node, BinOp):
            return self._arith(node)
        vector_node = node.arg if isinstance(node, Sum) else node
        total = math.fsum(s.value for s in self.vector(vector_node))
        self.terms[str(vector_node)] = total
        return total

    def _arith(self, node: BinOp) -> float:
        left, right = self.scalar(node.left), self.scalar(node.right)
        if node.op == "+":
            return left + right
        if node.op == "-":
            return left - right
        if node.op == "*":
            return left * right
        if right == 0:
            raise Undefined(f"division by zero: {_bare(node.right)} is 0")
        return left / right


def compare(op: str, actual: float, threshold: float) -> bool:
    if op == "<":
        return actual < threshold
    if op == "<=":
        return actual <= threshold
    if op == ">":
        return actual > threshold
    if op == ">=":
        return actual >= threshold
    if op == "==":
        return actual == threshold
    return actual != threshold


def _bare(node: Expr) -> str:
    text = str(node)
    return text[1:-1] if isinstance(node, BinOp) else text


# --- the condition -------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricCondition:
    text: str  # as written, trimmed
    expr: Expr
    op: str
    threshold: float

    @classmethod
    def parse(cls, text: str) -> MetricCondition:
        text = text.strip()
        if not text:
            raise ValueError(f"a metric condition must not be empty; {_EXAMPLES}")
        if len(text) > MAX_CONDITION_CHARS:
            raise ValueError(f"a metric condition is at most {MAX_CONDITION_CHARS} characters")
        expr, op, threshold = _Parser(text).condition()
        return cls(text, expr, op, threshold)

    @property
    def uses_rate(self) -> bool:
        return any(isinstance(node, Rate) for node in walk(self.expr))

    @property
    def is_vector(self) -> bool:
        """Compares every series of one selector (or rate), not one number."""
        return isinstance(self.expr, Selector | Rate)

    def __str__(self) -> str:
        return self.text

    def evaluate(self, scrapes: Scrapes) -> MetricOutcome:
        evaluator = _Evaluator(scrapes)
        try:
            if isinstance(self.expr, Selector | Rate):
                return self._vector_outcome(evaluator.vector(self.expr))
            value = evaluator.scalar(self.expr)
        except UnknownMetric as exc:
            return MetricOutcome(False, f"{self.text} does not hold: {exc}")
        except Undefined as exc:
            return MetricOutcome(None, f"{self.text} cannot be evaluated: {exc}")
        terms = tuple(evaluator.terms.items())
        ok = compare(self.op, value, self.threshold)
        shown = fmt(value)
        if terms and not isinstance(self.expr, Sum):
            shown += " (" + ", ".join(f"{name} = {fmt(v)}" for name, v in terms) + ")"
        verdict = "holds" if ok else "does not hold"
        return MetricOutcome(ok, f"{self.text} {verdict}: {shown}", value, (), terms)

    def _vector_outcome(self, series: list[Series]) -> MetricOutcome:
        if not series:
            return MetricOutcome(False, f"{self.text} does not hold: no series matches {self.expr}")
        bad = [s for s in series if not compare(self.op, s.value, self.threshold)]
        ordered = tuple(bad + [s for s in series if s not in bad])
        if not bad:
            return MetricOutcome(True, f"{self.text} holds for {len(series)} series", None, ordered)
        named = ", ".join(f"{s.name} = {fmt(s.value)}" for s in bad[:SHOWN_SERIES])
        more = f" and {len(bad) - SHOWN_SERIES} more" if len(bad) > SHOWN_SERIES else ""
        text = f"{self.text} does not hold for {len(bad)} of {len(series)} series: {named}{more}"
        return MetricOutcome(False, text, None, ordered)

    # Let pydantic accept the one-line string form and keep the parsed condition.
    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return core_schema.no_info_plain_validator_function(
            _validate, serialization=core_schema.to_string_ser_schema()
        )


def _validate(value: Any) -> MetricCondition:
    if isinstance(value, MetricCondition):
        return value
    if not isinstance(value, str):
        raise ValueError(f"a metric condition is a string, {_EXAMPLES}; got {value!r}")
    return MetricCondition.parse(value)
