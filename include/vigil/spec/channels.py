"""Where alerts go: one config model per channel kind, discriminated by `kind`.

Secrets are never literal: a Slack webhook URL is itself a credential, so it is a
`${ENV_VAR}` reference or an Airflow connection id; a webhook's HMAC secret is a reference;
SMTP credentials live in an Airflow SMTP connection.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import ConfigDict, Field, field_validator, model_validator

from vigil.spec.base import NonEmpty, Strict
from vigil.spec.secrets import (
    ENV_REF,
    LiteralSecretError,
    reject_literal_secret_headers,
    reject_literal_secret_in_url,
)
from vigil.spec.validators import check_header_names, check_http_url

_EMAIL = r"^[^@\s]+@[^@\s]+$"


def require_reference(value: str, what: str) -> str:
    """The whole value is one `${VAR}` reference without a default (defaults are literal)."""
    match = ENV_REF.fullmatch(value.strip())
    if match is None or match["default"] is not None:
        # LiteralSecretError: the spec loader then masks the line it quotes.
        raise LiteralSecretError(
            f"{what} is a secret: write it as '${{ENV_VAR}}' (no ':-default') and set the "
            "variable where Vigil runs, or name an Airflow connection instead"
        )
    return value


class SlackChannel(Strict):
    kind: Literal["slack"]
    # Exactly one: the incoming-webhook URL as a reference, or an Airflow connection whose
    # password holds the URL (or the token after hooks.slack.com/services/).
    webhook_url: str | None = None
    conn_id: NonEmpty | None = None
    timeout_s: float = Field(default=5.0, gt=0, le=60)

    @field_validator("webhook_url")
    @classmethod
    def _url_is_reference(cls, url: str | None) -> str | None:
        return None if url is None else require_reference(url, "slack webhook_url")

    @model_validator(mode="after")
    def _one_source(self) -> SlackChannel:
        if (self.webhook_url is None) == (self.conn_id is None):
            raise ValueError("slack channel needs exactly one of webhook_url or conn_id")
        return self


class WebhookChannel(Strict):
    kind: Literal["webhook"]
    url: NonEmpty
    # HMAC-SHA256 key for the X-Vigil-Signature header; None sends unsigned payloads.
    secret: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = Field(default=5.0, gt=0, le=60)

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        return reject_literal_secret_in_url(check_http_url(url))

    @field_validator("secret")
    @classmethod
    def _secret_is_reference(cls, secret: str | None) -> str | None:
        return None if secret is None else require_reference(secret, "webhook secret")

    _header_names = field_validator("headers")(check_header_names)
    _headers = field_validator("headers")(reject_literal_secret_headers)


class EmailChannel(Strict):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )

    kind: Literal["email"]
    # Airflow SMTP connection: host, port, login, password; extra ssl/starttls (or
    # Airflow's disable_ssl/disable_tls) and from_email.
    conn_id: NonEmpty
    to: list[Annotated[str, Field(pattern=_EMAIL)]] = Field(min_length=1)
    from_: Annotated[str, Field(pattern=_EMAIL)] | None = Field(default=None, alias="from")
    subject_prefix: str = "[vigil]"
    timeout_s: float = Field(default=10.0, gt=0, le=60)


class LogChannel(Strict):
    kind: Literal["log"]
    level: Literal["info", "warning", "error"] = "warning"
    logger: NonEmpty = "vigil.alerts.notify"


ChannelConfig = Annotated[
    SlackChannel | WebhookChannel | EmailChannel | LogChannel, Field(discriminator="kind")
]
CHANNEL_MODELS = (SlackChannel, WebhookChannel, EmailChannel, LogChannel)
CHANNEL_KINDS: tuple[str, ...] = tuple(
    get_args(cls.model_fields["kind"].annotation)[0] for cls in CHANNEL_MODELS
)
