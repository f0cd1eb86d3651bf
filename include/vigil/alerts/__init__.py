"""Alerting: rules over the results store's history, stateful and de-duplicated alerts,
one digest per channel per run, silences and maintenance windows.

Entry points: `evaluate(store, run, config)` (the last task of every run), the silence
functions (the `vigil silence add|list|remove` CLI), `AlertsConfig` (the spec's `alerts:`).
"""

from vigil.alerts.channel_config import (
    CHANNEL_KINDS,
    ChannelConfig,
    EmailChannel,
    LogChannel,
    SlackChannel,
    WebhookChannel,
)
from vigil.alerts.channels import SENDERS, build_sender, build_senders, validate_channels
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
from vigil.alerts.delivery import DeliveryResult, Sender
from vigil.alerts.digest import Digest, Notice
from vigil.alerts.evaluate import EvaluationReport, NotificationRecord, evaluate
from vigil.alerts.resolver import Resolver
from vigil.alerts.signals import SIGNALS, Series, Signal
from vigil.alerts.silences import (
    Silence,
    SilenceError,
    add_silence,
    list_silences,
    remove_silence,
)
from vigil.alerts.windows import MaintenanceWindow

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
