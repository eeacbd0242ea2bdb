"""A real HTTP server on loopback for HTTP tool tests (threaded ``http.server``)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from apps.llm.models import Assistant

SECRET_TOKEN = "Bearer tok_" + "s3cr3t" * 4


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class LoopbackServer:
    port: int
    received: list[Received] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        return

    def _record(self) -> Received:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        item = Received(self.command, self.path, dict(self.headers.items()), body)
        self.server.state.received.append(item)
        return item

    def _json(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        request = self._record()
        url = urlsplit(request.path)
        query = parse_qs(url.query)
        if url.path.startswith("/orders/"):
            order = url.path.rsplit("/", 1)[-1]
            self._json(
                200,
                {
                    "id": order,
                    "status": "shipped",
                    "internal_note": "not for the model",
                    "items": [{"name": "Widget", "sku": "W-1"}, {"name": "Gadget", "sku": "G-2"}],
                },
            )
        elif url.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", query["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif url.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif url.path == "/big":
            body = b"x" * 2_000_000
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif url.path == "/big-unannounced":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            for _ in range(200):
                self.wfile.write(b"y" * 10_000)
        elif url.path == "/slow":
            time.sleep(3)
            self._json(200, {"late": True})
        elif url.path == "/error":
            self._json(500, {"error": "boom"})
        else:
            self._json(200, {"path": url.path, "query": url.query})

    def do_POST(self) -> None:
        request = self._record()
        self._json(201, {"received": json.loads(request.body or b"null")})


@pytest.fixture
def loopback() -> Iterator[LoopbackServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    state = LoopbackServer(port=httpd.server_address[1])
    httpd.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def assistant(in_tenant_a) -> Assistant:
    return Assistant.objects.create(name="Support")
