"""A webhook receiver as a client would run one: a real HTTP server (http.server, in a
thread) that verifies each request with the Standard Webhooks library and answers 204, or
500 for its first ``fail_first`` requests of each webhook-id. Used by the tests and by
``bench/webhooks.py``."""

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    at: float  # time.time() when the request arrived
    webhook_id: str
    payload: dict
    verified_with: list[str]  # the secrets whose signature matched
    answered: int


@dataclass
class Receiver:
    secrets: list[str] = field(default_factory=list)
    fail_first: int = 0
    redirect_to: str = ""  # answer every request with a 302 to this URL
    received: list[Received] = field(default_factory=list)
    url: str = ""

    def __post_init__(self):
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver._handle(self, body)

            def do_GET(self):  # a followed redirect arrives as a GET: recorded, never delivered
                receiver._handle(self, b"")

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/hooks"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _handle(self, request: BaseHTTPRequestHandler, body: bytes) -> None:
        headers = {name.lower(): value for name, value in request.headers.items()}
        verified_with = []
        for secret in list(self.secrets):
            try:
                Webhook(secret).verify(body, headers)
                verified_with.append(secret)
            except WebhookVerificationError:
                pass
        with self._lock:
            webhook_id = headers.get("webhook-id", "")
            seen = sum(1 for r in self.received if r.webhook_id == webhook_id)
            status = 401 if not verified_with else (500 if seen < self.fail_first else 204)
            status = 302 if self.redirect_to else status
            self.received.append(Received(time.time(), webhook_id, json.loads(body or b"{}"), verified_with, status))
        request.send_response(status)
        if self.redirect_to:
            request.send_header("location", self.redirect_to)
        request.end_headers()

    def delivered(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.answered == 204]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
