"""docker/healthcheck.py, the container probe, against a real local HTTP server."""

from __future__ import annotations

import importlib.util
import socket
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "docker" / "healthcheck.py"
STATUS_BY_PATH = {"/healthz": 200, "/readyz": 503, "/redirect": 301}


@pytest.fixture(scope="module")
def healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docker_healthcheck", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    # No __pycache__ left behind in docker/: it is not a package of the project.
    writes_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = writes_bytecode
    return module


class _Handler(BaseHTTPRequestHandler):
    hosts_seen: list[str] = []

    def do_GET(self) -> None:
        type(self).hosts_seen.append(self.headers["Host"])
        self.send_response(STATUS_BY_PATH.get(self.path, 404))
        self.send_header("Location", "https://example.com/")
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server_port() -> Iterator[int]:
    _Handler.hosts_seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_healthy_on_200_and_sends_the_platform_host(healthcheck, server_port, monkeypatch):
    monkeypatch.setenv("PUBLIC_HOST", "chat.example.com")
    healthy, line = healthcheck.probe("/healthz", port=server_port)
    assert healthy
    assert "200" in line
    assert _Handler.hosts_seen == ["chat.example.com"]


def test_unhealthy_when_not_ready(healthcheck, server_port):
    healthy, line = healthcheck.probe("/readyz", port=server_port)
    assert not healthy
    assert "503" in line


def test_a_redirect_is_not_followed_and_counts_as_unhealthy(healthcheck, server_port):
    healthy, _ = healthcheck.probe("/redirect", port=server_port)
    assert not healthy
    assert len(_Handler.hosts_seen) == 1


def test_unhealthy_when_nothing_listens(healthcheck):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free_port = sock.getsockname()[1]
    healthy, line = healthcheck.probe("/healthz", port=free_port)
    assert not healthy
    assert "ConnectionRefusedError" in line


def test_exit_status_follows_health(healthcheck, monkeypatch):
    monkeypatch.setattr(healthcheck, "probe", lambda path: (path == "/healthz", path))
    assert healthcheck.main(["healthcheck.py", "/healthz"]) == 0
    assert healthcheck.main(["healthcheck.py", "/readyz"]) == 1
    assert healthcheck.main(["healthcheck.py"]) == 0
