"""Test helpers of the webhooks suite: a real HTTP receiver on 127.0.0.1 that verifies every delivery with the
recipe exactly as docs/webhooks.md prints it, and small factories."""
from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


@functools.lru_cache(maxsize=1)
def documented_recipe() -> dict:
    """The verification recipe of docs/webhooks.md, executed as written (stdlib only): its namespace."""
    text = DOCS.read_text()
    match = re.search(r"<!-- verification recipe[^>]*-->\s*```python\n(.*?)```", text, re.S)
    assert match, "docs/webhooks.md lost its verification recipe block"
    namespace: dict = {}
    exec(compile(match.group(1), str(DOCS), "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes
    event: dict | None  # the verified event, None when verification failed
    error: str  # the recipe's complaint, "" when verified
    answered: int


@dataclass
class Receiver:
    """An HIS endpoint: answers `statuses` in turn (then 200), verifying each request with the documented recipe."""

    secret: str = ""
    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/his/webhooks"

    def wait_for(self, count: int, timeout_s: float = 30.0) -> list[Received]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout=timeout_s)
        assert len(self.received) >= count, f"expected {count} deliveries, got {len(self.received)}"
        return list(self.received)


def start_receiver() -> Receiver:
    verify_webhook = documented_recipe()["verify_webhook"]
    error_type = documented_recipe()["WebhookVerificationError"]
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = dict(self.headers.items())
            try:
                event, error = verify_webhook(receiver.secret, headers, body), ""
            except error_type as exc:
                event, error = None, str(exc)
            with receiver.lock:
                status = receiver.statuses.pop(0) if receiver.statuses else 200
            if error and status < 300:
                status = 400  # what a real HIS answers to a delivery that does not verify
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            with receiver.arrived:
                receiver.received.append(Received(path=self.path, headers=headers, body=body, event=event,
                                                  error=error, answered=status))
                receiver.arrived.notify_all()

        def log_message(self, *args):  # keep the test output clean
            pass

    receiver.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=receiver.server.serve_forever, daemon=True).start()
    return receiver


def make_endpoint(tenant, url: str, event_types=("assessment.succeeded", "assessment.failed",
                                                 "assessment.critical_finding", "invoice.issued")):
    from webhooks import services

    return services.endpoint_create(tenant=tenant, url=url, event_types=list(event_types), description="HIS")
