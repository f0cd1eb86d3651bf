"""Email over SMTP: one multipart/alternative message (plain text + HTML) per digest.

Host, port, login and password come from a connection (an Airflow SMTP connection in
Airflow, a ConnectionInfo in tests). Its extra may say `ssl` (SMTP over TLS; the default
on port 465) or `starttls` (the default otherwise); Airflow's SMTP provider spelling
`disable_ssl` / `disable_tls` is read too, and `from_email` when the channel gives no
`from`. A password is never sent over a connection without TLS unless the extra says
`"allow_insecure_auth": true` (a relay on loopback, a test server).
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

from vigil.alerts.delivery import DeliveryResult
from vigil.alerts.digest import Digest
from vigil.alerts.resolver import Resolver
from vigil.context import ConfigError, ConnectionInfo
from vigil.spec.channels import EmailChannel

DEFAULT_PORT = 25


class EmailSender:
    kind = "email"

    def __init__(self, name: str, config: EmailChannel, resolver: Resolver) -> None:
        self.name, self.config, self.resolver = name, config, resolver

    def validate(self, config: object) -> list[str]:
        if not isinstance(config, EmailChannel):
            return [f"channel {self.name!r}: the email sender cannot serve {config!r}"]
        try:
            info = self.resolver.conn(config.conn_id)
        except ConfigError as exc:
            return [f"channel {self.name!r} (email): {exc}"]
        if not info.host:
            return [f"channel {self.name!r} (email): connection {config.conn_id!r} has no host"]
        refusal = insecure_login(info)
        return [f"channel {self.name!r} (email): {refusal}"] if refusal else []

    def send(self, digest: Digest, *, timeout_s: float | None = None) -> DeliveryResult:
        try:
            info = self.resolver.conn(self.config.conn_id)
        except ConfigError as exc:
            return DeliveryResult.failed(str(exc), retryable=False)
        refusal = insecure_login(info)
        if refusal:
            return DeliveryResult.failed(refusal, retryable=False)
        timeout = min(self.config.timeout_s, timeout_s or self.config.timeout_s)
        try:
            _transmit(info, build_message(self.config, info, digest), timeout)
        except (
            smtplib.SMTPAuthenticationError,
            smtplib.SMTPRecipientsRefused,
            smtplib.SMTPSenderRefused,
        ) as exc:
            return DeliveryResult.failed(self._describe(exc, info), retryable=False)
        except (OSError, smtplib.SMTPException) as exc:
            return DeliveryResult.failed(self._describe(exc, info))
        return DeliveryResult.sent()

    def _describe(self, exc: BaseException, info: ConnectionInfo) -> str:
        where = f"{info.host}:{info.port or DEFAULT_PORT}"
        return self.resolver.mask(f"SMTP {where}: {type(exc).__name__}: {exc}")


def build_message(config: EmailChannel, info: ConnectionInfo, digest: Digest) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = f"{config.subject_prefix} {digest.subject}".strip()
    msg["From"] = config.from_ or info.extra.get("from_email") or _default_from(info)
    msg["To"] = ", ".join(config.to)
    msg["X-Vigil-Digest"] = digest.id
    msg.set_content(digest.text())
    msg.add_alternative(digest.html(), subtype="html")
    return msg


def _default_from(info: ConnectionInfo) -> str:
    return info.login if "@" in info.login else f"vigil@{info.host or 'localhost'}"


def _true(value: Any) -> bool:
    return str(value).lower() in ("1", "true", "yes", "on")


def _flag(extra: dict[str, Any], name: str, disable_name: str, default: bool) -> bool:
    if name in extra:
        return _true(extra[name])
    if disable_name in extra:
        return not _true(extra[disable_name])
    return default


def security(info: ConnectionInfo) -> tuple[bool, bool]:
    """(SMTP over TLS, STARTTLS): TLS one way or the other unless the extra turns it off."""
    use_ssl = _flag(info.extra, "ssl", "disable_ssl", default=(info.port or DEFAULT_PORT) == 465)
    starttls = not use_ssl and _flag(info.extra, "starttls", "disable_tls", default=True)
    return use_ssl, starttls


def insecure_login(info: ConnectionInfo) -> str | None:
    """Why this connection would send its password in clear text, or None."""
    if not info.login or any(security(info)) or _true(info.extra.get("allow_insecure_auth")):
        return None
    return (
        f"connection {info.conn_id!r} turns TLS off (ssl/starttls) but has a login: refusing "
        "to send the SMTP password in clear text; turn TLS back on, or set "
        '"allow_insecure_auth": true in its extra for a trusted relay'
    )


def _transmit(info: ConnectionInfo, msg: EmailMessage, timeout: float) -> None:
    port = info.port or DEFAULT_PORT
    use_ssl, starttls = security(info)
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if use_ssl:
        smtp = smtplib.SMTP_SSL(info.host, port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(info.host, port, timeout=timeout)
    with smtp:
        if starttls:
            smtp.starttls(context=context)
        if info.login:
            smtp.login(info.login, info.password)
        smtp.send_message(msg)
