"""Fault switches and data defects, from the command line or from Python.

    python -m demo.faults errors on [--value 0.3]     share of /v1 requests answering 500
    python -m demo.faults latency on [--value 800]    added delay in ms (/v1 and /health)
    python -m demo.faults inventory-down on|off       inventory-api answers 503, /health down
    python -m demo.faults tenant-leak on|off          GET /v1/orders/{id} answers any tenant's
                                                      order (its tenant filter is dropped)
    python -m demo.faults duplicate-ids on|off        concurrent creates can answer the same
                                                      order id (racy max(id) + 1 allocator)
    python -m demo.faults stuck on|off                the worker ticks but advances no order
    python -m demo.faults feed-drop on|off            the WebSocket feed drops `paid` events
    python -m demo.faults slow-index on|off           drop / recreate the index behind the
                                                      order-history query (demo/slow_index.py)
    python -m demo.faults clear                       every fault off, the index back
    python -m demo.faults corrupt | restore           plant / remove the data defects
    python -m demo.faults status                      faults, defects, endpoints

The database is found from DEMO_DATABASE_URL, else the demo.env the launcher wrote
(`.state/demo/demo.env`, or under $VIGIL_STATE_DIR). Services pick up a switch within
half a second (their fault cache), the worker on its next tick; slow-index acts on the
database at once. The database
is the one source of truth: switches are rows of demo_admin.faults, slow-index is on
exactly while the index is missing.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from demo import config, defects, slow_index
from demo.db import DemoDbError, connect
from demo.fault_state import FaultError, missing_row, validate

ON_OFF = {"on": True, "off": False}


def _dsn(dsn: str | None) -> str:
    return dsn or config.endpoints().database_url


def get_faults(dsn: str | None = None) -> dict[str, dict[str, Any]]:
    conn = connect(_dsn(dsn))
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT name, enabled, value FROM demo_admin.faults ORDER BY name")
            found = {name: {"enabled": on, "value": value} for name, on, value in cur.fetchall()}
            found[config.SLOW_INDEX] = {"enabled": not slow_index.index_exists(cur), "value": None}
            return found
    finally:
        conn.close()


def set_fault(
    name: str, on: bool, dsn: str | None = None, value: float | None = None
) -> dict[str, dict[str, Any]]:
    """Switch a fault on or off (optionally with its rate/delay); returns every fault."""
    validate(name, value)
    if name == config.SLOW_INDEX:
        slow_index.switch(_dsn(dsn), on)
        return get_faults(dsn)
    conn = connect(_dsn(dsn))
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "UPDATE demo_admin.faults SET enabled = %s, value = coalesce(%s, value),"
                " updated_at = now() WHERE name = %s",
                (on, value, name),
            )
            if cur.rowcount == 0:
                raise FaultError(missing_row(name))
    finally:
        conn.close()
    return get_faults(dsn)


def clear(dsn: str | None = None) -> dict[str, dict[str, Any]]:
    """Every fault off: switches back to their defaults, then the index recreated."""
    conn = connect(_dsn(dsn))
    try:
        with conn, conn.cursor() as cur:
            for name, default in config.FAULT_DEFAULTS.items():
                cur.execute(
                    "UPDATE demo_admin.faults SET enabled = false, value = %s,"
                    " updated_at = now() WHERE name = %s",
                    (default, name),
                )
    finally:
        conn.close()
    slow_index.off(_dsn(dsn))
    return get_faults(dsn)


def corrupt(dsn: str | None = None) -> list[str]:
    return defects.corrupt(_dsn(dsn))


def restore(dsn: str | None = None) -> list[str]:
    return defects.restore(_dsn(dsn))


def status(dsn: str | None = None) -> str:
    dsn = _dsn(dsn)
    lines = ["faults:"]
    for name, fault in get_faults(dsn).items():
        value = "" if fault["value"] is None else f" (value {fault['value']:g})"
        lines.append(f"  {name:<15} {'ON' if fault['enabled'] else 'off'}{value}")
    planted = defects.planted(dsn)
    lines.append("defects: " + (", ".join(planted) if planted else "none (seeded state)"))
    try:
        found = config.endpoints()
        lines.append(f"orders-api: {found.orders_url}  inventory-api: {found.inventory_url}")
    except config.DemoConfigError:
        pass
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo.faults",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "command", choices=[*config.ALL_FAULTS, "clear", "corrupt", "restore", "status"]
    )
    parser.add_argument("state", nargs="?", choices=list(ON_OFF))
    parser.add_argument("--value", type=float, help="errors: rate 0..1; latency: delay in ms")
    parser.add_argument("--dsn", help=f"default: ${config.ENV_DATABASE_URL} or demo.env")
    args = parser.parse_args(argv)
    try:
        return _run(parser, args)
    except (config.DemoConfigError, DemoDbError, FaultError) as exc:
        print(f"demo.faults: {exc}", file=sys.stderr)
        return 1


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command in config.ALL_FAULTS:
        if args.state is None:
            parser.error(f"{args.command}: say on or off")
        set_fault(args.command, ON_OFF[args.state], args.dsn, args.value)
    elif args.state is not None:
        parser.error(f"{args.command} takes no on/off")
    elif args.command == "clear":
        clear(args.dsn)
    elif args.command == "corrupt":
        done = corrupt(args.dsn)
        print("planted: " + ", ".join(done) if done else "defects already planted")
    elif args.command == "restore":
        done = restore(args.dsn)
        print("removed: " + ", ".join(done) if done else "no defects planted")
    print(status(args.dsn))
    return 0


if __name__ == "__main__":
    sys.exit(main())
