"""One masker for every secret Vigil handles, on every path out: logs, the results store,
reports and notifications.

A secret leaves in more spellings than the one it was given in: an exception message
quotes it with `repr` (a token ending in a newline shows as `tok\\n`), JSON escapes it,
a URL carries it percent-encoded, a library strips the whitespace around it. `Masker`
remembers each secret with all those spellings and replaces every stretch of text any of
them covers with one `***`: a secret that contains another, or overlaps it, is hidden
whole, not left readable around a masked part.

Health checks run in threads and remember secrets while others mask text: `remember`
builds a new tuple of spellings (longest first) under a lock and swaps it in; `mask` reads
whichever tuple is current and never waits.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

# Shorter values would mask ordinary words ("on", "db", "api").
MIN_LENGTH = 4
MASK = "***"

__all__ = ["MASK", "MIN_LENGTH", "Masker", "mask_tree", "spellings"]


def spellings(secret: str) -> set[str]:
    """`secret` as it may appear in text: raw, stripped, repr- and JSON-escaped,
    percent-encoded; only those of at least MIN_LENGTH characters."""
    if len(secret) < MIN_LENGTH:
        return set()
    forms = {
        secret,
        secret.strip(),
        repr(secret)[1:-1],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
    }
    return {form for form in forms if len(form) >= MIN_LENGTH}


class Masker:
    """The secrets of one run (or one alert evaluation), and `mask` to hide them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._forms: tuple[str, ...] = ()  # longest first; replaced whole, never mutated

    def __repr__(self) -> str:  # never the secrets themselves
        return f"Masker({len(self._forms)} spellings)"

    def remember(self, secret: str | None) -> None:
        """Hide `secret` (in every spelling) from now on; short or empty values are ignored."""
        forms = spellings(secret) if secret else set()
        if not forms:
            return
        with self._lock:
            known = set(self._forms)
            if not forms <= known:
                ordered = sorted(known | forms, key=lambda form: (-len(form), form))
                self._forms = tuple(ordered)

    def remember_url(self, url: str) -> None:
        """A URL that is a credential (a Slack webhook): HTTP libraries quote its path and
        query without the host, so those are secrets of their own, as are its user and
        password."""
        self.remember(url)
        try:
            parts = urlsplit(url)
        except ValueError:
            return
        self.remember(parts.path + (f"?{parts.query}" if parts.query else ""))
        self.remember_userinfo(url)

    def remember_userinfo(self, url: str) -> None:
        """The user and password of `url` (`https://user:pass@host`), as given and decoded:
        a token passed as the user name is as much a credential as a password."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return
        for value in (parts.username, parts.password):
            if value:
                self.remember(value)
                self.remember(unquote(value))

    def remember_value(self, value: str) -> None:
        """A value expanded for a secret reference: a URL is remembered as a URL."""
        if value.startswith(("http://", "https://")):
            self.remember_url(value)
        else:
            self.remember(value)

    def mask(self, text: str) -> str:
        """`text` with every stretch covered by a spelling of a remembered secret (where
        spellings overlap or touch, their union) replaced by one ***."""
        spans = _spans(text, self._forms)  # one read: `remember` swaps in a new tuple
        if not spans:
            return text
        out, end = [], 0
        for start, stop in spans:
            out += [text[end:start], MASK]
            end = stop
        out.append(text[end:])
        return "".join(out)

    def mask_value(self, value: Any) -> Any:
        """`value` with every string in it masked (see `mask_tree`)."""
        return mask_tree(value, self.mask)


def _spans(text: str, forms: tuple[str, ...]) -> list[tuple[int, int]]:
    """Where `forms` occur in `text`, overlapping occurrences merged, in order."""
    found = []
    for form in forms:
        start = text.find(form)
        while start != -1:
            found.append((start, start + len(form)))
            start = text.find(form, start + 1)
    found.sort()
    merged: list[tuple[int, int]] = []
    for start, stop in found:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    return merged


def mask_tree(value: Any, mask: Callable[[str], str]) -> Any:
    """`value` with `mask` applied to every string in it, through dicts (keys too), lists
    and tuples (which come back as lists, as JSON has them)."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {mask(k) if isinstance(k, str) else k: mask_tree(v, mask) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_tree(v, mask) for v in value]
    return value
