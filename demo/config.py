"""Demo constants (tokens, ports, fault names) and where to find a running demo.

Everything here is deterministic demo material, not secrets: tokens are fixed so specs,
scenarios and tests can use them verbatim.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

VERSION = "1.0.0"
REPO_ROOT = Path(__file__).resolve().parent.parent

# --- environment variables -------------------------------------------------------------
ENV_DATABASE_URL = "DEMO_DATABASE_URL"
ENV_ORDERS_URL = "DEMO_ORDERS_URL"
ENV_INVENTORY_URL = "DEMO_INVENTORY_URL"
ENV_ADMIN_TOKEN = "DEMO_ADMIN_TOKEN"
ENV_STATE_DIR = "VIGIL_STATE_DIR"  # the `.state` folder; the demo keeps `<it>/demo/`

DEFAULT_ORDERS_PORT = 18081
DEFAULT_INVENTORY_PORT = 18082

# --- tenants and tokens ------------------------------------------------------------------
# Seeded tenants, in id order (acme = 1 ... hooli = 5).
TENANTS = ("acme", "globex", "initech", "umbrella", "hooli")


def tenant_token(slug: str) -> str:
    return f"demo-token-{slug}"


ACME_TOKEN = tenant_token("acme")
GLOBEX_TOKEN = tenant_token("globex")
TENANT_TOKENS: dict[str, str] = {tenant_token(slug): slug for slug in TENANTS}
DEFAULT_ADMIN_TOKEN = "demo-admin-token"
ADMIN_TOKEN = os.environ.get(ENV_ADMIN_TOKEN) or DEFAULT_ADMIN_TOKEN


def admin_token() -> str:
    """The admin token as the environment says now (ADMIN_TOKEN is read at import)."""
    return os.environ.get(ENV_ADMIN_TOKEN) or DEFAULT_ADMIN_TOKEN


# --- faults ------------------------------------------------------------------------------
# Switches the services read from demo_admin.faults (demo/fault_state.py; the table's CHECK
# lists exactly these, and demo.db.install adds rows missing from an older database).
TENANT_LEAK = "tenant-leak"
DUPLICATE_IDS = "duplicate-ids"
STUCK = "stuck"
FEED_DROP = "feed-drop"
FAULTS = ("errors", "latency", "inventory-down", TENANT_LEAK, DUPLICATE_IDS, STUCK, FEED_DROP)
# errors: share of requests answering 500; latency: added delay in ms. A None default means
# the switch takes no value (demo.fault_state.validate refuses one):
#   inventory-down  inventory-api answers 503 and reports itself down
#   tenant-leak     GET /v1/orders/{id} drops its tenant filter (another tenant's order)
#   duplicate-ids   orders-api numbers new orders with a racy max(id) + 1 (demo/orders_api.py)
#   stuck           the worker ticks but advances no order
#   feed-drop       the WebSocket feed silently drops every `paid` status change
FAULT_DEFAULTS: dict[str, float | None] = {
    "errors": 0.5,
    "latency": 300.0,
    "inventory-down": None,
    TENANT_LEAK: None,
    DUPLICATE_IDS: None,
    STUCK: None,
    FEED_DROP: None,
}
# Not a switch but a schema change: drops the order-history index (demo/slow_index.py). It
# is on while the index is missing; the catalog holds that, not demo_admin.faults.
SLOW_INDEX = "slow-index"
ALL_FAULTS = (*FAULTS, SLOW_INDEX)
FAULT_CACHE_SECONDS = 0.5
# duplicate-ids: how long orders-api waits between reading max(id) and inserting with it.
# Long enough that concurrent creates reliably read the same max, short enough not to
# slow a demo down noticeably.
RACE_WINDOW_SECONDS = 0.02

# --- timing ------------------------------------------------------------------------------
WORKER_TICK_SECONDS = 0.5
# A pending order whose stock could not be reserved for this long is cancelled.
PENDING_TIMEOUT_SECONDS = 120.0
HTTP_TIMEOUT_SECONDS = 3.0


class DemoConfigError(RuntimeError):
    """The demo cannot be located: no environment variable and no state file."""


def state_dir() -> Path:
    """Where the launcher keeps PIDs, logs and demo.env: `<VIGIL_STATE_DIR or .state>/demo`."""
    base = os.environ.get(ENV_STATE_DIR)
    return (Path(base) if base else REPO_ROOT / ".state") / "demo"


def env_file() -> Path:
    return state_dir() / "demo.env"


@dataclass(frozen=True)
class Endpoints:
    database_url: str
    orders_url: str
    inventory_url: str


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; blank lines and # comments are ignored."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise DemoConfigError(f"{path}:{number}: expected KEY=VALUE, got {line!r}")
        values[key.strip()] = value.strip()
    return values


def endpoints() -> Endpoints:
    """Environment variables first, then the state file the launcher wrote."""
    path = env_file()
    from_file = read_env_file(path) if path.exists() else {}

    def pick(name: str, default: str = "") -> str:
        return os.environ.get(name) or from_file.get(name) or default

    dsn = pick(ENV_DATABASE_URL)
    if not dsn:
        raise DemoConfigError(
            f"cannot find the demo database: set {ENV_DATABASE_URL} or start the demo "
            f"(`make demo`), which writes {path}"
        )
    return Endpoints(
        database_url=dsn,
        orders_url=pick(ENV_ORDERS_URL, f"http://127.0.0.1:{DEFAULT_ORDERS_PORT}"),
        inventory_url=pick(ENV_INVENTORY_URL, f"http://127.0.0.1:{DEFAULT_INVENTORY_PORT}"),
    )
