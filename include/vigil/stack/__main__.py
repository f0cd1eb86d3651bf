"""`python -m vigil.stack up|demo|down|status|clean`: the local stack behind `make demo`.

State goes to VIGIL_STATE_DIR (default: <repo>/.state). Ports: VIGIL_API_PORT (8080),
VIGIL_PG_PORT (54329), VIGIL_ORDERS_PORT (18081), VIGIL_INVENTORY_PORT (18082),
VIGIL_WORKER_LOG_PORT (8793), VIGIL_TRIGGER_LOG_PORT (8794), VIGIL_REDIS_PORT (16379).
Executor: VIGIL_EXECUTOR=local (default) or celery (Redis and two Celery workers).
"""

from __future__ import annotations

import argparse
import sys

from vigil.stack import control
from vigil.stack.progress import Progress, describe_failure
from vigil.stack.state import StackError

COMMANDS = {
    "up": "start PostgreSQL, the demo system and Airflow (reuses what runs)",
    "demo": "up, then run demo_daily once and print what it found",
    "down": "stop everything the stack started",
    "status": "show what runs",
    "clean": "down, then delete the state folder",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vigil.stack",
        description="The local Vigil stack.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(f"  {name:<7} {text}" for name, text in COMMANDS.items()),
    )
    parser.add_argument("command", choices=COMMANDS)
    args = parser.parse_args(argv)
    try:
        stack = control.load(starting=args.command in ("up", "demo"))
        return _run(args.command, stack)
    except StackError as error:
        print(describe_failure(error), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; what already started keeps running (`make stop`)", file=sys.stderr)
        return 130


def _run(command: str, stack: control.Stack) -> int:
    if command == "up":
        control.up(stack, Progress(stack.up_stages))
        print(control.login_text(stack))
        return 0
    if command == "demo":
        return control.demo(stack)
    if command == "down":
        control.down(stack)
        return 0
    if command == "status":
        return control.status(stack)
    control.clean(stack)
    return 0


if __name__ == "__main__":
    sys.exit(main())
