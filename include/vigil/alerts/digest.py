"""One message per channel per run: every alert that fired, resolved or is still firing.

The same Digest renders as plain text (log, Slack, email), HTML (email) and a JSON payload
(webhook; its shape is webhook_payload.schema.json). What leaves for a channel is masked,
then cut: a long value (a column value, a response body) is cut to MAX_TEXT characters and
a long list to MAX_ITEMS, the way evidence is cut; the full evidence stays in the store.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from vigil.alerts.folding import describe
from vigil.masking import mask_tree
from vigil.results.models import RunRef

SCHEMA_ID = "vigil.alerts.digest/1"
# Sections in message order, with the heading each one gets.
SECTIONS = (("firing", "FIRING"), ("resolve", "RESOLVED"), ("reminder", "STILL FIRING"))
MAX_TEXT = 240  # characters of one text in a notice (a title, a detail value)
MAX_ITEMS = 20  # items of one list in a notice's detail
CUT_KEYS = ("title", "fired_title", "detail", "folding")  # what checks and rules wrote


@dataclass(frozen=True)
class Notice:
    kind: str  # firing | resolve | reminder
    content: dict[str, Any]  # the alert as it was when the notice was queued

    @property
    def line(self) -> str:
        c = self.content
        text = c["title"]
        if self.kind == "resolve" and c.get("fired_title"):
            text = c["fired_title"]
        return f"[{c['severity']}] {c['rule_id']}: {text}"

    @property
    def extra(self) -> str:
        c = self.content
        parts = []
        if c.get("folding"):
            parts.append(describe(c["folding"]))
        if self.kind == "resolve":
            parts.append(f"now: {c['title']}")
        elif c.get("fired_at"):
            parts.append(f"firing since {c['fired_at'][:16].replace('T', ' ')} UTC")
        return "; ".join(p for p in parts if p)


@dataclass(frozen=True)
class Digest:
    environment: str
    run: RunRef
    channel: str
    notices: list[Notice]
    generated_at: datetime

    @property
    def id(self) -> str:
        """Stable for one channel's digest of one run: receivers may de-duplicate on it."""
        keys = sorted(f"{n.content['fingerprint']}#{n.content['notice_seq']}" for n in self.notices)
        raw = "|".join([self.environment, self.run.dag_id, self.run.run_id, self.channel, *keys])
        return hashlib.sha256(raw.encode()).hexdigest()[:24]

    def masked(self, mask: Callable[[str], str]) -> Digest:
        """This digest with `mask` applied to every text its notices carry (titles,
        scopes, details), then long texts and lists cut: what leaves for a channel. Masking
        comes first, so a cut can never leave part of a secret the masker would not know."""
        notices = [Notice(n.kind, _cut_content(mask_tree(n.content, mask))) for n in self.notices]
        return replace(self, notices=notices)

    def of_kind(self, kind: str) -> list[Notice]:
        return [n for n in self.notices if n.kind == kind]

    def counts(self) -> dict[str, int]:
        return {kind: len(self.of_kind(kind)) for kind, _ in SECTIONS}

    @property
    def subject(self) -> str:
        counts = self.counts()
        said = [
            f"{counts['firing']} firing",
            f"{counts['resolve']} resolved",
            f"{counts['reminder']} still firing",
        ]
        shown = [s for s, n in zip(said, counts.values(), strict=True) if n] or ["no change"]
        return f"{self.environment}: {', '.join(shown)} (run {self.run})"

    def text(self) -> str:
        lines = [self.subject, ""]
        for kind, heading in SECTIONS:
            notices = self.of_kind(kind)
            if not notices:
                continue
            lines.append(f"{heading} ({len(notices)})")
            for notice in notices:
                lines.append(f"  {notice.line}")
                if notice.extra:
                    lines.append(f"      {notice.extra}")
            lines.append("")
        lines.append(f"Environment {self.environment}, {self.run.cadence} run {self.run}.")
        return "\n".join(lines).rstrip() + "\n"

    def html(self) -> str:
        e = html.escape
        out = [f"<h2>{e(self.subject)}</h2>"]
        for kind, heading in SECTIONS:
            notices = self.of_kind(kind)
            if not notices:
                continue
            out.append(f"<h3>{e(heading)} ({len(notices)})</h3><ul>")
            for notice in notices:
                extra = f"<br><small>{e(notice.extra)}</small>" if notice.extra else ""
                out.append(f"<li>{e(notice.line)}{extra}</li>")
            out.append("</ul>")
        out.append(
            f"<p>Environment {e(self.environment)}, {e(self.run.cadence)} run "
            f"<code>{e(str(self.run))}</code>.</p>"
        )
        return "<html><body>" + "".join(out) + "</body></html>"

    def payload(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_ID,
            "id": self.id,
            "environment": self.environment,
            "run": {
                "dag_id": self.run.dag_id,
                "run_id": self.run.run_id,
                "cadence": self.run.cadence,
            },
            "channel": self.channel,
            "generated_at": self.generated_at.isoformat(),
            "counts": self.counts(),
            "summary": self.subject,
            "notices": [_notice_payload(n) for n in self.notices],
        }


def cut(value: Any, *, lists: bool = True) -> Any:
    """Long strings cut, and with `lists` long lists, recursively, saying how much was
    left out."""
    if isinstance(value, str):
        if len(value) <= MAX_TEXT:
            return value
        return value[:MAX_TEXT] + f"… [{len(value) - MAX_TEXT} chars cut]"
    if isinstance(value, dict):
        return {k: cut(v, lists=lists) for k, v in value.items()}
    if isinstance(value, list):
        if not lists or len(value) <= MAX_ITEMS:
            return [cut(v, lists=lists) for v in value]
        more = f"… {len(value) - MAX_ITEMS} more"
        return [cut(v, lists=lists) for v in value[:MAX_ITEMS]] + [more]
    return value


def _cut_content(content: dict[str, Any]) -> dict[str, Any]:
    # Folding keeps its lists whole: the message counts them, and the schema types them.
    return {k: cut(v, lists=k != "folding") if k in CUT_KEYS else v for k, v in content.items()}


def _notice_payload(notice: Notice) -> dict[str, Any]:
    c = notice.content
    return {
        "notice": notice.kind,
        "fingerprint": c["fingerprint"],
        "rule": {"id": c["rule_id"], "kind": c["rule_kind"]},
        "severity": c["severity"],
        "state": c["state"],
        "title": c["title"],
        "fired_title": c.get("fired_title"),
        "scope": c["scope"],
        "target": c.get("target"),
        "family": c.get("family"),
        "first_seen": c.get("first_seen"),
        "fired_at": c.get("fired_at"),
        "resolved_at": c.get("resolved_at"),
        "detail": c.get("detail") or {},
        "folding": c.get("folding"),
        "text": notice.line,
    }
