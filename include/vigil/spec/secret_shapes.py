"""What a credential looks like: the names that hold one, and the values that are one.

- names: a key, header or query parameter whose last word is a credential word
  (`password`, `X-Auth-Token`, `clientSecret`, `X-Api-Key`); a name that only mentions one
  (`token_url`, `keyspace`, `max_tokens`, `password_conn_id`) is not a credential;
- values: tokens of well-known issuers by their prefix (`ghp_`, `xoxb-`, `sk_live_`, ...),
  long random-looking strings, and URLs that are credentials themselves (a Slack incoming
  webhook, a Discord webhook, ...).

Rules of our own rather than a general detector: detect-secrets (measured) imports
`requests`, takes 0.6 s to import and 0.3 s per spec, and misses most of the forms here.
"""

from __future__ import annotations

import math
import re
from collections import Counter

# camelCase, snake_case and kebab-case words: "X-Api-Key" -> x, api, key; "apiKey" -> api, key
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")
SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "passphrase",
        "pass",
        "pwd",
        "secret",
        "token",
        "apikey",
        "credential",
        "credentials",
        "cookie",
        "authorization",
        "auth",
        "signature",
    }
)
# "<qualifier> key" is a credential when the qualifier says so (api_key, privateKey), in
# any header but these (Idempotency-Key is a request id, Public-Key is public).
_KEY_QUALIFIERS = frozenset(
    {
        "api",
        "auth",
        "access",
        "secret",
        "private",
        "client",
        "account",
        "master",
        "signing",
        "encryption",
        "subscription",
        "license",
        "app",
        "service",
        "admin",
        "integration",
        "routing",
        "session",
        "ingest",
        "write",
        "sas",
        "storage",
        "shared",
        "functions",
        "consumer",
        "webhook",
    }
)
_HEADER_KEYS_NOT_SECRET = frozenset(
    {"idempotency", "public", "cache", "dedup", "dedupe", "primary", "partition", "sort"}
)
# Query parameters that carry a credential whatever their case (?key= is Google's API key,
# ?sig= an Azure SAS signature); `code` (Azure Functions) only when it is long.
_SECRET_QUERY_NAMES = frozenset({"key", "sig", "signature", "token", "auth", "pass", "pwd"})
_LONG_QUERY_NAMES = frozenset({"code"})
LONG_VALUE = 16

# Tokens of well-known issuers: a literal one anywhere in a spec is a leaked credential. A
# token starts where a run of token characters starts (one try per run: linear on any text).
KNOWN_TOKEN = re.compile(
    r"(?<![\w.\-])(?:"
    r"gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,}|glpat-[A-Za-z0-9_\-]{20,}"
    r"|xox[abposr]-[A-Za-z0-9\-]{10,}|xapp-[A-Za-z0-9\-]{10,}"
    r"|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}|sk-[A-Za-z0-9_\-]{20,}"
    r"|A[KS]IA[0-9A-Z]{16}|AIza[0-9A-Za-z_\-]{35}|SG\.[\w\-]{16,}\.[\w\-]{16,}"
    r"|hf_[A-Za-z0-9]{30,}|npm_[A-Za-z0-9]{36}|pypi-[A-Za-z0-9_\-]{50,}"
    r"|eyJ[\w\-]{10,}\.eyJ[\w\-]{10,}\.[\w\-]*"
    r")"
)
# URLs that are a credential as a whole: whoever has one can post as the integration.
SECRET_URLS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "a Slack webhook URL",
        re.compile(r"hooks\.slack\.com/(?:services|workflows|triggers)/(?:[\w\-]+/)+\w{8}"),
    ),
    ("a Discord webhook URL", re.compile(r"discord(?:app)?\.com/api/webhooks/\d+/[\w\-]{8}")),
    ("a Microsoft Teams webhook URL", re.compile(r"\.webhook\.office\.com/webhookb2/[\w\-]")),
    ("a Telegram bot URL", re.compile(r"api\.telegram\.org/bot\d+:[\w\-]{8}")),
    ("a Zapier webhook URL", re.compile(r"hooks\.zapier\.com/hooks/catch/\d+/\w{4}")),
    ("an IFTTT webhook URL", re.compile(r"maker\.ifttt\.com/(?:use|trigger/.+/with/key)/\w{8}")),
    ("a PagerDuty integration URL", re.compile(r"events\.pagerduty\.com/integration/\w{8}")),
)
# Words that may be written around a reference in a credential: the auth scheme.
SCHEMES = frozenset(
    {
        "bearer",
        "basic",
        "token",
        "digest",
        "negotiate",
        "ntlm",
        "hoba",
        "mutual",
        "oauth",
        "apikey",
        "api-key",
        "key",
        "sso-key",
        "ssws",
        "geniekey",
        "splunk",
        "dsn",
        "bot",
        "deepl-auth-key",
        "klaviyo-api-key",
    }
)
# A credential that is surely not one, for checks that a wrong one is refused (expect 401):
# `Authorization: Bearer ${VIGIL_INVALID_CREDENTIAL}`. A reference, so the secret rules
# accept it like any other; it resolves to this public value, whatever the environment.
INVALID_CREDENTIAL_REF = "VIGIL_INVALID_CREDENTIAL"
INVALID_CREDENTIAL = "vigil-deliberately-invalid-credential"
_RANDOM = re.compile(r"[A-Za-z0-9_\-+/=.~]{32,}")
_HEX_OR_UUID = re.compile(r"[0-9a-f\-]+|[0-9A-F\-]+")


def words(name: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(name)]


def is_secret_name(name: str, *, header: bool = False) -> bool:
    """A key (or, with `header`, a header name) whose value is a credential."""
    if name.lower().endswith("conn_id"):
        return False  # names an Airflow connection: a pointer to the secret, not the secret
    parts = words(name)
    if not parts:
        return False
    last = parts[-1]
    if last in SECRET_WORDS:
        return True
    if last != "key" or len(parts) < 2:
        return False
    if header:
        return parts[-2] not in _HEADER_KEYS_NOT_SECRET
    return parts[-2] in _KEY_QUALIFIERS


def is_secret_query(name: str, value: str) -> bool:
    """A query parameter whose value is a credential (`?token=`, `?api_key=`, `?sig=`)."""
    lower = name.lower()
    if lower in _SECRET_QUERY_NAMES or is_secret_name(name, header=True):
        return True
    return lower in _LONG_QUERY_NAMES and len(value) >= LONG_VALUE


def looks_random(text: str) -> bool:
    """A long string of mixed case letters and digits, as random tokens are; not a slug,
    a hex digest or a UUID."""
    if not _RANDOM.fullmatch(text) or _HEX_OR_UUID.fullmatch(text):
        return False
    kinds = (str.isupper, str.islower, str.isdigit)
    if not all(any(test(c) for c in text) for test in kinds):
        return False
    counts = Counter(text)
    entropy = -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())
    return entropy >= 4.0


def token_shaped(text: str) -> bool:
    """A value that is a token: a known issuer's prefix, or long and random-looking."""
    return bool(KNOWN_TOKEN.search(text)) or looks_random(text)


def secret_url_kind(text: str) -> str | None:
    """What credential-bearing URL `text` is ("a Slack webhook URL"), if any."""
    for what, pattern in SECRET_URLS:
        if pattern.search(text):
            return what
    return None


# Words that make an environment variable a secret wherever it is used, beyond SECRET_WORDS.
_SECRET_VARIABLE_WORDS = SECRET_WORDS | {"key", "webhook", "dsn", "sig", "jwt", "bearer"}


def is_secret_variable(name: str) -> bool:
    """An environment variable whose value is masked wherever a spec uses it: its name says
    it is a secret (`API_TOKEN`, `DEMO_TOKEN_ACME`, `DB_PASSWORD`, `SLACK_WEBHOOK_URL`,
    `NL_KEY`). This is how a reference is marked secret; `ORDERS_URL` or `TENANT_ID` stay
    readable unless they sit in a credential field."""
    parts = words(name)
    if parts and parts[-1] in _ADDRESS_WORDS and "webhook" not in parts:
        # `AUTH_API_URL`, `KEY_VAULT_HOST`: an address, readable; the credentials in it
        # (user info, `?access_token=`) are remembered where it is used.
        return False
    return any(word in _SECRET_VARIABLE_WORDS for word in parts)


# The last word of a variable that holds an address rather than a credential.
_ADDRESS_WORDS = frozenset({"url", "uri", "host", "addr", "address", "endpoint", "path"})


# In text an endpoint sent back (an error page, a login answer): a value after a
# credential-named JSON key or form field, or after an auth scheme word.
_FIELD = re.compile(
    r"""(?x)
    (?P<key>["']?(?P<name>[A-Za-z][\w\-]*)["']?\s*[:=]\s*)
    (?P<value>"[^"]{4,}"|'[^']{4,}'|[^\s"',&}]{4,})
    """
)
_SCHEME_VALUE = re.compile(r"(?i)\b(?P<key>(?:bearer|basic|token)\s+)(?P<value>[\w\-.~+/=]{8,})")
# A name that says "authentication" as often as it holds a credential (`{"auth": "down"}`):
# its value is masked only when it looks like a token.
_AMBIGUOUS_NAME = "auth"


def _credential_like(value: str) -> bool:
    """A value after a scheme word that is a credential, not prose: 8+ token characters
    with a digit or mixed case (`Basic dXNlcjpwYXNz`, not `Basic authentication`)."""
    has_digit = any(c.isdigit() for c in value)
    mixed = any(c.isupper() for c in value) and any(c.islower() for c in value)
    return has_digit or mixed or token_shaped(value)


def redact_secret_shapes(text: str, mask: str = "***") -> str:
    """`text` with secret-shaped values replaced: known token formats (GitHub, Slack,
    Stripe, AWS, JWTs ...), values of credential-named fields (`"access_token": "..."`,
    `password=...`) and what follows an auth scheme (`Bearer ...`). For evidence kept from
    a response: Vigil never saw these values, so the run's masker cannot know them."""
    text = KNOWN_TOKEN.sub(mask, text)
    text = _SCHEME_VALUE.sub(
        lambda m: m["key"] + mask if _credential_like(m["value"]) else m[0], text
    )
    return _FIELD.sub(lambda m: _field(m, mask), text)


def _field(match: re.Match[str], mask: str, nested: bool = False) -> str:
    """A `name: value` or `name=value` pair, the value masked when the name is a
    credential's (`access_token`, `password`, `client_secret`; not `token_type`)."""
    if not is_secret_name(match["name"], header=True):
        # A URL's query may hold a field of its own (`Location: /cb?access_token=...`):
        # one level down, no further (linear on any text).
        head, mark, query = match["value"].partition("?")
        if not mark or nested:
            return match[0]
        return match["key"] + head + mark + _FIELD.sub(lambda m: _field(m, mask, True), query)
    if match["name"].lower() == _AMBIGUOUS_NAME:
        bare = match["value"].strip("'\"")
        if not (_credential_like(bare) and len(bare) >= 8):
            return match[0]
    return match["key"] + _quoted(match["value"], mask)


def _quoted(value: str, mask: str) -> str:
    return f"{value[0]}{mask}{value[0]}" if value[:1] in ("'", '"') else mask
