"""Generic webhooks: the digest as JSON, signed with HMAC-SHA256.

Body: webhook_payload.schema.json. Header `X-Vigil-Signature: sha256=<hex>` is the
HMAC-SHA256 of the exact body bytes under the channel's secret; `X-Vigil-Digest` carries
the digest id, stable across retries, for receivers that de-duplicate.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from requests.structures import CaseInsensitiveDict

from vigil.alerts.delivery import DeliveryResult, http_outcome
from vigil.alerts.digest import Digest
from vigil.alerts.resolver import Resolver
from vigil.context import ConfigError
from vigil.http_client import SEND_ERRORS, Request, send
from vigil.spec.channels import WebhookChannel
from vigil.spec.secrets import SECRET_HEADERS

SIGNATURE_HEADER = "X-Vigil-Signature"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encode(digest: Digest) -> bytes:
    return json.dumps(digest.payload(), sort_keys=True, separators=(",", ":")).encode()


class WebhookSender:
    kind = "webhook"

    def __init__(self, name: str, config: WebhookChannel, resolver: Resolver) -> None:
        self.name, self.config, self.resolver = name, config, resolver

    def validate(self, config: object) -> list[str]:
        if not isinstance(config, WebhookChannel):
            return [f"channel {self.name!r}: the webhook sender cannot serve {config!r}"]
        try:
            self._request_parts(config, b"")
        except ConfigError as exc:
            return [f"channel {self.name!r} (webhook): {exc}"]
        return []

    def _request_parts(self, config: WebhookChannel, body: bytes) -> tuple[str, dict[str, str]]:
        url = self.resolver.expand(config.url, secret=True)
        headers = {
            name: self.resolver.expand(value, secret=bool(SECRET_HEADERS.search(name)))
            for name, value in config.headers.items()
        }
        headers["Content-Type"] = "application/json"
        headers["User-Agent"] = "vigil-alerts/1"
        if config.secret is not None:
            headers[SIGNATURE_HEADER] = signature(
                self.resolver.expand(config.secret, secret=True), body
            )
        return url, headers

    def send(self, digest: Digest, *, timeout_s: float | None = None) -> DeliveryResult:
        body = encode(digest)
        try:
            url, headers = self._request_parts(self.config, body)
        except ConfigError as exc:
            return DeliveryResult.failed(str(exc), retryable=False)
        headers["X-Vigil-Digest"] = digest.id
        timeout = min(self.config.timeout_s, timeout_s or self.config.timeout_s)
        request = Request("POST", url, CaseInsensitiveDict(headers), data=body)
        try:
            response = send(request, timeout)
        except SEND_ERRORS as exc:
            return DeliveryResult.failed(self.resolver.mask(f"{type(exc).__name__}: {exc}"))
        return http_outcome(response.status, self.resolver.mask(response.text))
