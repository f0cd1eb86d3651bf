"""Run one demo process: `python -m demo.serve orders|inventory|worker ...`.

The launcher starts each as its own OS process; they are also usable by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from aiohttp import web

from demo import config


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m demo.serve")
    sub = parser.add_subparsers(dest="role", required=True)
    dsn_help = f"PostgreSQL DSN (default ${config.ENV_DATABASE_URL})"
    inv_help = f"inventory-api base URL (default ${config.ENV_INVENTORY_URL})"
    for role, port in (
        ("orders", config.DEFAULT_ORDERS_PORT),
        ("inventory", config.DEFAULT_INVENTORY_PORT),
    ):
        p = sub.add_parser(role)
        p.add_argument("--port", type=int, default=port)
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--dsn", help=dsn_help)
        p.add_argument(
            "--access-log",
            action="store_true",
            help="log every request (off: load probes would be measuring the log)",
        )
        if role == "orders":
            p.add_argument("--inventory-url", help=inv_help)
    p = sub.add_parser("worker")
    p.add_argument("--dsn", help=dsn_help)
    p.add_argument("--inventory-url", help=inv_help)
    p.add_argument("--tick", type=float, default=config.WORKER_TICK_SECONDS)
    p.add_argument("--max-ticks", type=int, default=None)
    p.add_argument(
        "--ticks-file", type=Path, default=None, help="write the count of completed ticks here"
    )
    return parser.parse_args(argv)


def _fill_defaults(args: argparse.Namespace) -> None:
    if not args.dsn or (hasattr(args, "inventory_url") and not args.inventory_url):
        found = config.endpoints()
        args.dsn = args.dsn or found.database_url
        if hasattr(args, "inventory_url"):
            args.inventory_url = args.inventory_url or found.inventory_url


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        _fill_defaults(args)
    except config.DemoConfigError as exc:
        print(f"demo.serve: {exc}", file=sys.stderr)
        return 2
    if args.role == "worker":
        from demo import worker

        asyncio.run(
            worker.run(args.dsn, args.inventory_url, args.tick, args.max_ticks, args.ticks_file)
        )
        return 0
    if args.role == "orders":
        from demo import orders_api

        app = orders_api.create_app(args.dsn, args.inventory_url)
    else:
        from demo import inventory_api

        app = inventory_api.create_app(args.dsn)
    access_log = logging.getLogger("aiohttp.access") if args.access_log else None
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        access_log=access_log,
        print=lambda msg: logging.getLogger("demo.serve").info("%s", msg),
        shutdown_timeout=5,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
