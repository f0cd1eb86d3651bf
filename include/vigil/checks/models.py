"""The health family's check models: one per check kind, discriminated by `kind`.

Each kind's runner is the module of the same name in this package (`http.py` runs
`HttpCheck`); the family record (`vigil.checks.FAMILY_RECORD`) lists them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from vigil.spec.base import CheckBase, HttpStatus
from vigil.spec.conditions import Condition
from vigil.spec.secret_shapes import is_secret_name
from vigil.spec.secrets import reject_literal_secret_headers, reject_literal_secret_in_url
from vigil.spec.validators import check_header_names

BodyFormat = Literal["json", "form", "text"]
FORM_TYPE = "application/x-www-form-urlencoded"
_SCALARS = (str, int, float, bool)


def is_credential_header(name: str) -> bool:
    """A header that carries a credential (what `credentials: none|invalid` replaces): the
    ones the spec allows only as references (`Authorization`, `X-Api-Key`, `Cookie`)."""
    return is_secret_name(name, header=True)


def body_format_of(explicit: BodyFormat | None, headers: Mapping[str, str]) -> BodyFormat:
    """How a body is sent: as `body_format` says, else as its Content-Type header says
    (form-urlencoded: form; JSON or none: json; anything else: text)."""
    if explicit is not None:
        return explicit
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media == FORM_TYPE:
        return "form"
    if not media or media == "application/json" or media.endswith("+json"):
        return "json"
    return "text"


def body_problem(body_format: BodyFormat, body: Any) -> str | None:
    """Why `body` cannot be sent as `body_format` (a form is a flat mapping, text a string)."""
    if body is None or body_format == "json":
        return None
    if body_format == "text":
        if isinstance(body, str):
            return None
        return f"a text body is a string sent as is, got {type(body).__name__}"
    if not isinstance(body, dict):
        return (
            "a form body is a mapping of fields to values ({username: ..., password: "
            f"'${{PASSWORD}}'}}), sent url-encoded; got {type(body).__name__}"
        )
    for name, value in body.items():
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, _SCALARS) for v in values):
            return (
                f"form field {name!r} must be a string, number, boolean or a list of them "
                "(sent as repeated fields)"
            )
    return None


class HttpCheck(CheckBase):
    kind: Literal["http"]
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    path: str = "/"
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    # How `body` goes out: json (any value, as JSON), form (a mapping, url-encoded: an
    # OAuth2 password login) or text (a string, as is). Unset: as the Content-Type header
    # says, else json. A Content-Type header is added when none is set.
    body_format: BodyFormat | None = None
    # Which credential headers (target's and check's) go out: as configured; none (dropped);
    # or invalid (each reference in them replaced by ${VIGIL_INVALID_CREDENTIAL}, scheme
    # words kept): for checks that a wrong or missing token is refused (expect_status: [401]).
    credentials: Literal["configured", "none", "invalid"] = "configured"
    expect_status: list[HttpStatus] = Field(default_factory=lambda: [200], min_length=1)
    latency_budget_ms: float | None = Field(default=None, gt=0, le=300_000)
    # Conditions on the JSON body, parsed when the spec loads: "status == ok".
    conditions: list[Condition] = Field(default_factory=list)
    # Read the target's own dependency report ({"dependencies": {name: {"status": ...}}})
    # and fail naming every dependency that is not ok.
    check_dependencies: bool = False
    verify_tls: bool | None = None  # None: the target's setting

    _header_names = field_validator("headers")(check_header_names)
    _headers = field_validator("headers")(reject_literal_secret_headers)

    @field_validator("path")
    @classmethod
    def _path_is_relative(cls, path: str) -> str:
        if not path.startswith(("/", "${")):
            raise ValueError(
                f"path must start with '/' (or be a '${{VAR}}' reference), got {path!r}"
            )
        return reject_literal_secret_in_url(path)

    @model_validator(mode="after")
    def _body_fits_its_format(self) -> HttpCheck:
        body_format = body_format_of(self.body_format, self.headers)
        problem = body_problem(body_format, self.body)
        if problem:
            how = "body_format" if self.body_format else "the Content-Type header"
            raise ValueError(f"body does not fit {how} ({body_format}): {problem}")
        if self.credentials == "none":
            sent = [name for name in self.headers if is_credential_header(name)]
            if sent:
                raise ValueError(
                    f"credentials: none, but the check sets credential header {sent[0]!r}; "
                    "drop the header or the 'credentials' setting"
                )
        return self


class PostgresCheck(CheckBase):
    kind: Literal["postgres"]
    expect_databases: list[str] = Field(default_factory=list)
    expect_schemas: list[str] = Field(default_factory=list)
    # Fail when more than this share of max_connections is in use.
    max_connection_usage: float | None = Field(default=None, gt=0, le=1)
    latency_budget_ms: float | None = Field(default=None, gt=0, le=300_000)


class TcpCheck(CheckBase):
    kind: Literal["tcp"]


class ContainerCheck(CheckBase):
    kind: Literal["container"]
    expect_state: str = "running"
    require_healthy: bool = True
    max_restarts: int | None = Field(default=None, ge=0, le=10_000)
