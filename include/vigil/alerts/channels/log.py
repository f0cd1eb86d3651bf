"""The log channel: the digest's text through Python logging (the Airflow task log)."""

from __future__ import annotations

import logging

from vigil.alerts.delivery import DeliveryResult
from vigil.alerts.digest import Digest
from vigil.alerts.resolver import Resolver
from vigil.spec.channels import LogChannel

LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class LogSender:
    kind = "log"

    def __init__(self, name: str, config: LogChannel, resolver: Resolver) -> None:
        self.name, self.config, self.resolver = name, config, resolver

    def validate(self, config: object) -> list[str]:
        if not isinstance(config, LogChannel):
            return [f"channel {self.name!r}: the log sender cannot serve {config!r}"]
        return []

    def send(self, digest: Digest, *, timeout_s: float | None = None) -> DeliveryResult:
        logger = logging.getLogger(self.config.logger)
        logger.log(LEVELS[self.config.level], "%s", self.resolver.mask(digest.text()))
        return DeliveryResult.sent()
