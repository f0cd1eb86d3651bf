"""Channel senders, one module per kind, found through one registry.

Every kind in the config union (vigil.spec.channels.CHANNEL_KINDS) has a sender here; a unit
test holds the two lists together.
"""

from __future__ import annotations

from collections.abc import Callable

from vigil.alerts.channels.email import EmailSender
from vigil.alerts.channels.log import LogSender
from vigil.alerts.channels.slack import SlackSender
from vigil.alerts.channels.webhook import WebhookSender
from vigil.alerts.delivery import Sender
from vigil.alerts.resolver import Resolver
from vigil.spec.alerts import AlertsConfig
from vigil.spec.channels import ChannelConfig

SenderFactory = Callable[[str, ChannelConfig, Resolver], Sender]

SENDERS: dict[str, SenderFactory] = {
    "slack": SlackSender,  # type: ignore[dict-item]
    "webhook": WebhookSender,  # type: ignore[dict-item]
    "email": EmailSender,  # type: ignore[dict-item]
    "log": LogSender,  # type: ignore[dict-item]
}


def build_sender(name: str, config: ChannelConfig, resolver: Resolver) -> Sender:
    return SENDERS[config.kind](name, config, resolver)


def build_senders(config: AlertsConfig, resolver: Resolver | None = None) -> dict[str, Sender]:
    """A sender for every configured channel; Airflow passes a Resolver whose `connection`
    is Airflow's own lookup."""
    resolver = resolver or Resolver()
    return {name: build_sender(name, ch, resolver) for name, ch in config.channels.items()}


def validate_channels(config: AlertsConfig, resolver: Resolver | None = None) -> list[str]:
    """Run-time readiness of every channel (variables set, connections defined)."""
    senders = build_senders(config, resolver)
    return [p for name, s in senders.items() for p in s.validate(config.channels[name])]


__all__ = ["SENDERS", "Sender", "build_sender", "build_senders", "validate_channels"]
