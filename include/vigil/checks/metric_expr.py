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
from typing import TYPE_CHECKING, Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

if TYPE_CHECKING:
    from vigil.checks.metric_eval import MetricOutcome, Scrapes

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
        return f"{self.label}{self.op}{quote_label(self.value)}"


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


def fmt(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


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


def quote_label(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


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
        """Whether the condition holds on `scrapes` (see `metric_eval`)."""
        from vigil.checks.metric_eval import evaluate

        return evaluate(self, scrapes)

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
