"""Slack incoming webhooks: one JSON POST per digest, its text in Slack's mrkdwn."""

from __future__ import annotations

from typing import Any

from vigil.alerts.delivery import DeliveryResult, http_outcome
from vigil.alerts.digest import SECTIONS, Digest
from vigil.alerts.resolver import Resolver
from vigil.context import ConfigError
from vigil.http_client import SEND_ERRORS, Request, send
from vigil.spec.channels import SlackChannel

SLACK_HOOKS = "https://hooks.slack.com/services"
MAX_TEXT = 35_000  # Slack truncates messages past ~40k characters


class SlackSender:
    kind = "slack"

    def __init__(self, name: str, config: SlackChannel, resolver: Resolver) -> None:
        self.name, self.config, self.resolver = name, config, resolver

    def validate(self, config: object) -> list[str]:
        if not isinstance(config, SlackChannel):
            return [f"channel {self.name!r}: the slack sender cannot serve {config!r}"]
        try:
            self._url(config)
        except ConfigError as exc:
            return [f"channel {self.name!r} (slack): {exc}"]
        return []

    def _url(self, config: SlackChannel) -> str:
        url = self._find_url(config)
        self.resolver.remember_url(url)
        return url

    def _find_url(self, config: SlackChannel) -> str:
        if config.webhook_url is not None:
            return self.resolver.expand(config.webhook_url, secret=True)
        assert config.conn_id is not None
        info = self.resolver.conn(config.conn_id)
        token = info.password or str(info.extra.get("webhook_token", ""))
        if not token:
            raise ConfigError(f"connection {config.conn_id!r} has no password (webhook URL)")
        if token.startswith(("http://", "https://")):
            return token
        base = info.host if info.host.startswith(("http://", "https://")) else SLACK_HOOKS
        return f"{base.rstrip('/')}/{token.lstrip('/')}"

    def send(self, digest: Digest, *, timeout_s: float | None = None) -> DeliveryResult:
        try:
            url = self._url(self.config)
        except ConfigError as exc:
            return DeliveryResult.failed(str(exc), retryable=False)
        timeout = min(self.config.timeout_s, timeout_s or self.config.timeout_s)
        try:
            response = send(Request("POST", url, json=message(digest)), timeout)
        except SEND_ERRORS as exc:
            return DeliveryResult.failed(self.resolver.mask(f"{type(exc).__name__}: {exc}"))
        return http_outcome(response.status, self.resolver.mask(response.text))


def message(digest: Digest) -> dict[str, Any]:
    lines = [f"*{_escape(digest.subject)}*"]
    for kind, heading in SECTIONS:
        notices = digest.of_kind(kind)
        if notices:
            lines.append(f"\n*{heading}* ({len(notices)})")
            lines += [
                f"• {_escape(n.line)}" + (f"\n    _{_escape(n.extra)}_" if n.extra else "")
                for n in notices
            ]
    text = "\n".join(lines)
    return {"text": text[:MAX_TEXT]}


def _escape(text: str) -> str:
    # Slack's only required escapes: these three characters are control characters there.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
