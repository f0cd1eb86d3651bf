"""The `checks.scenarios` section: journeys across services, and existing test suites.

A `journey` is an ordered list of steps, each doing exactly one thing:

- `http`: one request to an `http` target, judged by `expect` (status, conditions on the
  JSON body or headers, a latency budget), with values `capture`d for later steps;
- `wait_for`: an `http` request or a `sql` query repeated until its `until` conditions
  hold, every `interval_s`, for at most its `timeout_s`;
- `sql`: a read-only query on a `postgres` target, parameters bound from variables; the
  document its conditions read is `{row_count: N, rows: [{column: value}, ...]}`;
- `subscribe`: a WebSocket subscription opened now and read in the background, so that
  later steps cause the messages it receives;
- `messages`: what a subscription received so far (waiting up to `within_s`): a
  sequence of messages in order or in any order, the values seen at a path including
  some, or no message at all matching `where`;
- `parallel`: a list of steps run `copies` times at `concurrency`, each copy with its own
  variables (`{{copy}}`, `{{uuid}}`); then the share that passed and the values captured
  distinct; afterwards each captured name holds the list of the copies' values.

`cleanup` steps always run, after a failure or a timeout too, and see every value
captured before. A `suite` runs an existing test suite (a command, or an image through
Airflow's DockerOperator) and ingests its JUnit XML, one result per test case.

Writes are opt-in: a step that writes (a method other than GET/HEAD/OPTIONS, a message
sent on a WebSocket) needs its target's `allow_writes: true`, and so does every target a
suite uses; `vigil check-spec` names the line otherwise (`vigil.scenarios.references`).
Nothing is written through a `postgres` target by a journey: its queries run in a
read-only transaction.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from vigil.checks.models import BodyFormat, body_format_of, body_problem
from vigil.scenarios import templating
from vigil.spec.base import CheckBase, HttpStatus, Name, NonEmpty, Strict
from vigil.spec.conditions import Condition
from vigil.spec.secrets import (
    LiteralSecretError,
    find_literal_secrets,
    reject_literal_secret_headers,
    reject_literal_secret_in_url,
)
from vigil.spec.validators import check_header_names, check_single_sql

# Ceilings no spec can raise: every wait and every step is bounded.
HARD_JOURNEY_S = 3600.0
HARD_STEP_S = 600.0
HARD_COPIES = 1000
HARD_CONCURRENCY = 64
HARD_STEPS = 200
HARD_ROWS = 1000
HARD_MESSAGES = 10_000
HARD_SUITE_S = 3600.0

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# A variable or a step name: what templates and `observed` keys can hold.
VarName = Name


def _no_malformed_templates(value: Any) -> Any:
    bad = templating.malformed_in(value)
    if bad:
        raise ValueError(
            f"malformed template in {bad[0][:80]!r}; write '{{{{name}}}}' (a variable, a "
            "captured value or a built-in such as '{{run.marker}}')"
        )
    return value


def _no_literal_secrets(value: Any, what: str) -> Any:
    for finding in find_literal_secrets(value, (what,)):
        raise LiteralSecretError(finding.message)
    return value


class Auth(Strict):
    """Who a request (or a subscription) is sent as, instead of the target's own
    credential headers: a bearer token or a user and password, each a `${VAR}` or a
    captured `{{variable}}`. `none: true` sends no credential at all."""

    bearer: str | None = None
    username: str | None = None
    password: str | None = None
    none: bool = False

    @model_validator(mode="after")
    def _one_way(self) -> Auth:
        ways = [self.bearer is not None, self.username is not None, self.none]
        if sum(ways) != 1:
            raise ValueError("give exactly one of bearer, username (with password), or none: true")
        if (self.username is None) != (self.password is None):
            raise ValueError("basic auth needs both username and password")
        for name in ("bearer", "password"):
            _no_literal_secrets({name: getattr(self, name)}, "auth")
        return self


class HttpRequest(Strict):
    """One HTTP request; path, query, headers and body may hold `{{variables}}` and
    `${ENV}` references."""

    # An `http` target; unset: the journey's own `target`.
    target: str | None = None
    method: Method = "GET"
    path: str = "/"
    query: dict[str, Any] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    # json (any value), form (a mapping, url-encoded: an OAuth2 password login) or text;
    # unset: as the Content-Type header says, else json.
    body_format: BodyFormat | None = None
    auth: Auth | None = None
    verify_tls: bool | None = None

    _header_names = field_validator("headers")(check_header_names)
    _headers = field_validator("headers")(reject_literal_secret_headers)
    _templates = field_validator("path", "query", "headers", "body")(_no_malformed_templates)

    @field_validator("path")
    @classmethod
    def _relative(cls, path: str) -> str:
        if not path.startswith(("/", "${", "{{")):
            raise ValueError(f"path must start with '/', got {path!r}")
        return reject_literal_secret_in_url(path)

    @model_validator(mode="after")
    def _body_fits(self) -> HttpRequest:
        problem = body_problem(body_format_of(self.body_format, self.headers), self.body)
        if problem:
            raise ValueError(f"body does not fit its format: {problem}")
        return self

    @property
    def writes(self) -> bool:
        return self.method in WRITE_METHODS


class SqlQuery(Strict):
    """A read-only query; `params` are bound by name (`%(order_id)s`), never formatted in."""

    target: NonEmpty
    query: NonEmpty
    params: dict[str, Any] = Field(default_factory=dict)
    max_rows: int = Field(default=100, ge=1, le=HARD_ROWS)

    _templates = field_validator("params")(_no_malformed_templates)

    @field_validator("query")
    @classmethod
    def _one_statement(cls, query: str) -> str:
        if templating.names_in(query):
            raise ValueError(
                "the query holds a {{template}}: bind values as parameters instead "
                "(query: '... WHERE id = %(order_id)s', params: {order_id: '{{order_id}}'})"
            )
        return check_single_sql(query, "query")


class Expect(Strict):
    """What a response (or a query's result) must show."""

    # Unset: any 2xx for an http step.
    status: list[HttpStatus] | None = Field(default=None, min_length=1)
    # The health checks' condition language, on the JSON body or a header
    # (`status == "reserved"`, `header:Idempotent-Replayed == "true"`); a value may be a
    # `{{variable}}` (`id == {{order_id}}`).
    conditions: list[Condition] = Field(default_factory=list)
    # The step's own latency budget: "session creation < 2 s" is `max_ms: 2000`.
    max_ms: float | None = Field(default=None, gt=0, le=HARD_STEP_S * 1000)


class Capture(Strict):
    """A value for later steps: an RFC 9535 JSONPath into the body (or the query's
    document), or a response header. `secret: true` masks it everywhere from then on."""

    jsonpath: str | None = None
    header: str | None = None
    # Every match as a list, rather than the first.
    all: bool = False
    secret: bool = False

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # `order_id: $.id` is `order_id: {jsonpath: $.id}`.
        return {"jsonpath": data} if isinstance(data, str) else data

    @field_validator("jsonpath")
    @classmethod
    def _compiles(cls, path: str | None) -> str | None:
        if path is None:
            return None
        import jsonpath  # RFC 9535; imported when a spec with captures loads

        try:
            jsonpath.compile(path)
        except jsonpath.JSONPathError as exc:
            raise ValueError(f"invalid JSONPath {path!r}: {exc}") from None
        return path

    @model_validator(mode="after")
    def _one_source(self) -> Capture:
        if (self.jsonpath is None) == (self.header is None):
            raise ValueError("give exactly one of jsonpath ('$.id') or header ('Location')")
        return self


class WaitFor(Strict):
    """Repeat a request (or a query) until every `until` condition holds."""

    http: HttpRequest | None = None
    sql: SqlQuery | None = None
    until: list[Condition] = Field(min_length=1)
    # For `http`: statuses that mean "not yet" rather than a failure are any not listed
    # here; unset: 2xx.
    status: list[HttpStatus] | None = Field(default=None, min_length=1)
    interval_s: float = Field(default=1.0, ge=0.05, le=60)
    timeout_s: float = Field(default=30.0, gt=0, le=HARD_STEP_S)

    @model_validator(mode="after")
    def _one_request(self) -> WaitFor:
        if (self.http is None) == (self.sql is None):
            raise ValueError("give exactly one of http or sql to repeat")
        if self.http is not None and self.http.writes:
            raise ValueError("wait_for repeats its request: it must not write (use GET)")
        return self


class Subscribe(Strict):
    """Open a WebSocket subscription, read in the background until the journey ends."""

    # The name later `messages` steps read it by.
    name: VarName
    # A `websocket` target, or an `http` target (its base URL, upgraded, plus `path`).
    target: NonEmpty
    path: str | None = None
    query: dict[str, Any] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    auth: Auth | None = None
    # Sent once connected, in order: strings as they are, other values as JSON.
    send: list[Any] = Field(default_factory=list)
    # Wait (up to the step's timeout) for a first message meeting these before going on:
    # the server's "subscribed" greeting, so no later event can be missed.
    ready: list[Condition] = Field(default_factory=list)
    max_messages: int = Field(default=1000, ge=1, le=HARD_MESSAGES)

    _header_names = field_validator("headers")(check_header_names)
    _headers = field_validator("headers")(reject_literal_secret_headers)
    _templates = field_validator("path", "query", "headers", "send")(_no_malformed_templates)

    @field_validator("send")
    @classmethod
    def _send_holds_no_secret(cls, send: list[Any]) -> list[Any]:
        return list(_no_literal_secrets(send, "send"))

    @property
    def writes(self) -> bool:
        return bool(self.send)


class SeenValues(Strict):
    """The values at `path` of the messages received include every one of `values`."""

    path: NonEmpty
    values: list[Any] = Field(min_length=1)


class Messages(Strict):
    """What subscription `subscription` received, waiting up to `within_s` for it."""

    subscription: VarName
    # Only messages meeting all of these count (`id == {{order_id}}`).
    where: list[Condition] = Field(default_factory=list)
    # Exactly one of: messages meeting these, one each (in order, or in any order);
    sequence: list[Condition] | None = Field(default=None, min_length=1)
    order: Literal["in_order", "any_order"] = "in_order"
    # the values seen at a path include these;
    include: SeenValues | None = None
    # no message (meeting `where`) at all: "no other tenant's event arrives within 3 s".
    none: bool = False
    within_s: float = Field(default=10.0, gt=0, le=HARD_STEP_S)

    @model_validator(mode="after")
    def _one_expectation(self) -> Messages:
        if sum([self.sequence is not None, self.include is not None, self.none]) != 1:
            raise ValueError("give exactly one of sequence, include or none: true")
        return self


class ParallelExpect(Strict):
    # The share of copies that must pass all their steps (1: all of them).
    min_passed: float = Field(default=1.0, ge=0, le=1)
    # Captured names whose values must all differ across copies (count = copies):
    # "50 concurrent creates give 50 distinct ids".
    distinct: list[VarName] = Field(default_factory=list)


class Parallel(Strict):
    copies: int = Field(ge=1, le=HARD_COPIES)
    concurrency: int = Field(default=10, ge=1, le=HARD_CONCURRENCY)
    steps: list[Step] = Field(min_length=1, max_length=HARD_STEPS)
    expect: ParallelExpect = Field(default_factory=ParallelExpect)

    @field_validator("steps")
    @classmethod
    def _flat(cls, steps: list[Step]) -> list[Step]:
        for step in steps:
            if step.action in ("parallel", "subscribe", "messages"):
                raise ValueError(
                    f"step {step.name!r}: a {step.action} step cannot run inside parallel "
                    "(copies run http, wait_for and sql steps)"
                )
        return steps


ACTIONS = ("http", "wait_for", "sql", "subscribe", "messages", "parallel")


class Step(Strict):
    name: VarName
    http: HttpRequest | None = None
    wait_for: WaitFor | None = None
    sql: SqlQuery | None = None
    subscribe: Subscribe | None = None
    messages: Messages | None = None
    parallel: Parallel | None = None
    expect: Expect = Field(default_factory=Expect)
    capture: dict[VarName, Capture] = Field(default_factory=dict)
    # Every step is bounded (a wait_for by its own timeout_s).
    timeout_s: float = Field(default=30.0, gt=0, le=HARD_STEP_S)
    # Retried (on an error: no answer, a 5xx) only when repeating it is harmless: reads
    # always are; a write only when marked `idempotent: true` (an Idempotency-Key).
    retries: int = Field(default=0, ge=0, le=5)
    idempotent: bool | None = None

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        chosen = [a for a in ACTIONS if getattr(self, a) is not None]
        if len(chosen) != 1:
            raise ValueError(
                f"a step does exactly one thing: give one of {', '.join(ACTIONS)}"
                + (f" (it has {', '.join(chosen)})" if chosen else "")
            )
        action = chosen[0]
        if self.expect.status is not None and action != "http":
            raise ValueError("expect.status is for http steps (wait_for has its own status)")
        if action in ("subscribe", "messages", "parallel") and (
            self.expect.conditions or self.expect.max_ms
        ):
            raise ValueError(f"a {action} step has its own expectations; drop 'expect'")
        if self.capture and action not in ("http", "sql", "wait_for"):
            raise ValueError(f"a {action} step captures nothing; drop 'capture'")
        if action != "http" and any(c.header for c in self.capture.values()):
            raise ValueError("a header can be captured from an http step only")
        if self.retries and not self.may_retry:
            raise ValueError(
                "retries on a step that writes: mark it `idempotent: true` if repeating it is "
                "harmless (an Idempotency-Key header), or drop retries"
            )
        return self

    @property
    def action(self) -> str:
        return next(a for a in ACTIONS if getattr(self, a) is not None)

    @property
    def writes(self) -> bool:
        if self.http is not None:
            return self.http.writes
        if self.subscribe is not None:
            return self.subscribe.writes
        return False

    @property
    def may_retry(self) -> bool:
        return self.idempotent if self.idempotent is not None else not self.writes


Parallel.model_rebuild()


class _ScenarioBase(CheckBase):
    # Targets whose health gates this scenario besides those its steps name (a service
    # behind the API: inventory-api behind orders-api).
    uses: list[str] = Field(default_factory=list)
    # Runs alone among scenarios (it takes every slot of the scenarios pool): a journey
    # that switches a shared dependency off and on must not share the time with others.
    exclusive: bool = False

    def used_targets(self) -> list[str]:
        """Every target this scenario touches, its own first: the health it waits for."""
        return list(dict.fromkeys([self.target, *self.uses, *self.step_targets()]))

    def step_targets(self) -> list[str]:
        return []


def _targets_of(steps: list[Step], default: str) -> list[str]:
    found: list[str] = []
    for step in steps:
        if step.http is not None:
            found.append(step.http.target or default)
        elif step.wait_for is not None:
            request = step.wait_for.http or step.wait_for.sql
            found.append(getattr(request, "target", None) or default)
        elif step.sql is not None:
            found.append(step.sql.target)
        elif step.subscribe is not None:
            found.append(step.subscribe.target)
        elif step.parallel is not None:
            found += _targets_of(step.parallel.steps, default)
    return found


class JourneyCheck(_ScenarioBase):
    kind: Literal["journey"]
    # The whole journey's bound, cleanup excluded (which has its own, `cleanup_timeout_s`).
    timeout_s: float = Field(default=120.0, gt=0, le=HARD_JOURNEY_S)
    cleanup_timeout_s: float = Field(default=60.0, gt=0, le=HARD_STEP_S)
    variables: dict[VarName, Any] = Field(default_factory=dict)
    steps: list[Step] = Field(min_length=1, max_length=HARD_STEPS)
    cleanup: list[Step] = Field(default_factory=list, max_length=HARD_STEPS)

    _templates = field_validator("variables")(_no_malformed_templates)

    def step_targets(self) -> list[str]:
        return _targets_of([*self.steps, *self.cleanup], self.target)

    @field_validator("cleanup")
    @classmethod
    def _cleanup_acts(cls, steps: list[Step]) -> list[Step]:
        for step in steps:
            if step.action not in ("http", "sql"):
                raise ValueError(
                    f"cleanup step {step.name!r}: cleanup runs http or sql steps "
                    f"(not {step.action})"
                )
        return steps

    @model_validator(mode="after")
    def _unique_names(self) -> JourneyCheck:
        seen: set[str] = set()
        for step in [*self.steps, *self.cleanup]:
            if step.name in seen:
                raise ValueError(f"two steps are named {step.name!r}; step names are unique")
            seen.add(step.name)
        return self


class CommandSuite(Strict):
    """A test suite run as a command. `{{junit_xml}}` in argv (or the environment variable
    VIGIL_JUNIT_XML) is the path where it must write its JUnit XML; `{{python}}` is the
    interpreter Vigil runs in (`[{{python}}, -m, pytest, ...]`)."""

    argv: list[NonEmpty] = Field(min_length=1)
    # Relative to the spec's folder; unset: the spec's folder.
    cwd: str | None = None
    # Values are `${VAR}` references or plain settings; the command sees only these, PATH
    # and VIGIL_JUNIT_XML (not the worker's whole environment and its secrets).
    env: dict[NonEmpty, str] = Field(default_factory=dict)

    _env = field_validator("env")(reject_literal_secret_headers)


class ContainerSuite(Strict):
    """A test suite run in a container by Airflow's DockerOperator; the results folder
    is mounted at `results_dir` and `{{junit_xml}}` is the file inside it."""

    image: NonEmpty
    command: list[NonEmpty] = Field(min_length=1)
    env: dict[NonEmpty, str] = Field(default_factory=dict)
    results_dir: str = Field(default="/vigil-results", pattern=r"^/[\w./-]*$")
    docker_url: str = "unix://var/run/docker.sock"
    network_mode: str = "host"

    _env = field_validator("env")(reject_literal_secret_headers)


class SuiteCheck(_ScenarioBase):
    kind: Literal["suite"]
    timeout_s: float = Field(default=600.0, gt=0, le=HARD_SUITE_S)
    command: CommandSuite | None = None
    container: ContainerSuite | None = None
    # At most this much of the output's tail is kept as evidence.
    output_tail_chars: int = Field(default=4000, ge=100, le=100_000)

    @model_validator(mode="after")
    def _one_runner(self) -> SuiteCheck:
        if (self.command is None) == (self.container is None):
            raise ValueError("give exactly one of command (argv) or container (image)")
        return self


SCENARIO_MODELS: tuple[type[CheckBase], ...] = (JourneyCheck, SuiteCheck)
