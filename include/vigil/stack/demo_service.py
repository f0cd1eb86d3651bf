"""Keeps the demo system running in a background process of its own until SIGTERM.

The launcher (`python -m vigil.stack up`) exits once everything is up; the demo system
must outlive it, and `make stop` must be able to stop it by PID like the Airflow services.

    python -m vigil.stack.demo_service --dsn DSN --state-dir DIR --orders-port P --inventory-port P
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vigil.stack.demo_service")
    parser.add_argument("--dsn", required=True, help="the demo database")
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--orders-port", required=True, type=int)
    parser.add_argument("--inventory-port", required=True, type=int)
    args = parser.parse_args(argv)

    from demo.launcher import DemoSystem

    from demo import db

    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    db.install(args.dsn)
    system = DemoSystem(
        args.dsn,
        args.state_dir,
        orders_port=args.orders_port,
        inventory_port=args.inventory_port,
    )
    system.start()
    print(f"demo system up: orders :{args.orders_port}, inventory :{args.inventory_port}")
    sys.stdout.flush()
    try:
        # Bounded waits in a loop, so signals are handled promptly on every platform.
        while not stopping.wait(timeout=1.0):
            pass
    finally:
        system.stop()
        print("demo system stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
