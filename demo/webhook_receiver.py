"""A small webhook receiver for the demo: prints every Vigil alert digest it receives.

    python -m demo.webhook_receiver --port 18083 --secret-env DEMO_WEBHOOK_SECRET --log FILE

It verifies the `X-Vigil-Signature` HMAC (401 when wrong) and appends each digest, one
JSON object per line, to the log file so `make demo` users can watch alerts arrive.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import os
import sys
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

DEFAULT_PORT = 18083
DEFAULT_SECRET = "demo-webhook-secret"
PATH = "/hooks/vigil"
MAX_BODY = 1 << 20


def make_handler(secret: str, log_file: Path | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
            body = self.rfile.read(length)
            expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            if self.path != PATH:
                self._answer(404, {"error": f"POST to {PATH}"})
            elif not hmac.compare_digest(self.headers.get("X-Vigil-Signature", ""), expected):
                self._answer(401, {"error": "bad or missing X-Vigil-Signature"})
            else:
                try:
                    payload = json.loads(body)
                except ValueError as exc:
                    self._answer(400, {"error": f"body is not JSON: {exc}"})
                    return
                self._record(payload if isinstance(payload, dict) else {"payload": payload})
                self._answer(200, {"ok": True})

        def _record(self, payload: dict[str, Any]) -> None:
            line = json.dumps({"received_at": datetime.now(UTC).isoformat(), **payload})
            print(f"[demo webhook] {summarize(payload)}", flush=True)
            if log_file is not None:
                with log_file.open("a") as out:
                    out.write(line + "\n")

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per digest from _record is enough

    return Handler


def summarize(payload: dict[str, Any]) -> str:
    """One line: environment, and each notice's kind and title."""
    notices = payload.get("notices") or payload.get("alerts") or []
    parts = [
        f"{n.get('notice', '?')}: {n.get('title', n.get('fingerprint', '?'))}" for n in notices
    ]
    return f"{payload.get('environment', '?')} — " + ("; ".join(parts) or "(empty digest)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.webhook_receiver")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument(
        "--secret-env",
        default="DEMO_WEBHOOK_SECRET",
        help="environment variable holding the HMAC secret",
    )
    parser.add_argument("--log", type=Path, help="append received digests (JSON lines) here")
    args = parser.parse_args(argv)
    secret = os.environ.get(args.secret_env) or DEFAULT_SECRET
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(secret, args.log))
    print(f"demo webhook receiver on http://127.0.0.1:{args.port}{PATH}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
