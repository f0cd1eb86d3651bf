"""Alerting: rules over the results store's history, stateful and de-duplicated alerts,
one digest per channel per run, silences and maintenance windows.

Entry points: `evaluate(store, run, config)` (the last task of every run), the silence
functions (the `vigil silence add|list|remove` CLI), `AlertsConfig` (the spec's `alerts:`).

The config models import eagerly and cheaply (the spec loads them at DAG-parse time);
everything that talks to a database or a network loads on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from vigil.alerts.channel_config import (
    CHANNEL_KINDS,
    ChannelConfig,
    EmailChannel,
    LogChannel,
    SlackChannel,
    WebhookChannel,
)
from vigil.alerts.config import (
    RULE_KINDS,
    AlertsConfig,
    ConsecutiveFailures,
    Delivery,
    DurationRegression,
    Rule,
    RunFailureRate,
    Select,
    Window,
    WindowFailureRate,
)
from vigil.alerts.windows import MaintenanceWindow

if TYPE_CHECKING:
    from vigil.alerts.channels import SENDERS, build_sender, build_senders, validate_channels
    from vigil.alerts.delivery import DeliveryResult, Sender
    from vigil.alerts.digest import Digest, Notice
    from vigil.alerts.engine import EvaluationReport, NotificationRecord, evaluate
    from vigil.alerts.resolver import Resolver
    from vigil.alerts.signals import SIGNALS, Series, Signal
    from vigil.alerts.silences import (
        Silence,
        SilenceError,
        add_silence,
        list_silences,
        remove_silence,
    )

_LAZY = {
    "vigil.alerts.channels": ("SENDERS", "build_sender", "build_senders", "validate_channels"),
    "vigil.alerts.delivery": ("DeliveryResult", "Sender"),
    "vigil.alerts.digest": ("Digest", "Notice"),
    "vigil.alerts.engine": ("EvaluationReport", "NotificationRecord", "evaluate"),
    "vigil.alerts.resolver": ("Resolver",),
    "vigil.alerts.signals": ("SIGNALS", "Series", "Signal"),
    "vigil.alerts.silences": (
        "Silence", "SilenceError", "add_silence", "list_silences", "remove_silence",
    ),
}  # fmt: skip
_WHERE = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'vigil.alerts' has no attribute {name!r}")
    loaded = importlib.import_module(module)
    for each in _LAZY[module]:
        globals()[each] = getattr(loaded, each)
    return globals()[name]


__all__ = [
    "CHANNEL_KINDS",
    "RULE_KINDS",
    "SENDERS",
    "SIGNALS",
    "AlertsConfig",
    "ChannelConfig",
    "ConsecutiveFailures",
    "Delivery",
    "DeliveryResult",
    "Digest",
    "DurationRegression",
    "EmailChannel",
    "EvaluationReport",
    "LogChannel",
    "MaintenanceWindow",
    "Notice",
    "NotificationRecord",
    "Resolver",
    "Rule",
    "RunFailureRate",
    "Select",
    "Sender",
    "Series",
    "Signal",
    "Silence",
    "SilenceError",
    "SlackChannel",
    "WebhookChannel",
    "Window",
    "WindowFailureRate",
    "add_silence",
    "build_sender",
    "build_senders",
    "evaluate",
    "list_silences",
    "remove_silence",
    "validate_channels",
]
