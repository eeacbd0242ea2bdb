"""Refuse every network connection but loopback and unix sockets, and remember attempts.

Used by tests that prove the product works air-gapped: any attempt fails the test.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def _is_loopback(host: Any) -> bool:
    if host is None:
        return True
    host = host.decode() if isinstance(host, bytes) else str(host)
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


class NetworkGuard:
    def __init__(self) -> None:
        self.attempts: list[str] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real_connect = socket.socket.connect
        real_connect_ex = socket.socket.connect_ex
        real_getaddrinfo = socket.getaddrinfo
        guard = self

        def allowed(sock: socket.socket, address: Any) -> bool:
            if sock.family == getattr(socket, "AF_UNIX", None):
                return True
            return _is_loopback(address[0] if isinstance(address, tuple) else address)

        def connect(sock: socket.socket, address: Any) -> Any:
            if not allowed(sock, address):
                guard.attempts.append(f"connect {address}")
                raise OSError(f"network blocked by the test: connect to {address}")
            return real_connect(sock, address)

        def connect_ex(sock: socket.socket, address: Any) -> Any:
            if not allowed(sock, address):
                guard.attempts.append(f"connect {address}")
                raise OSError(f"network blocked by the test: connect to {address}")
            return real_connect_ex(sock, address)

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            if not _is_loopback(host):
                guard.attempts.append(f"resolve {host}")
                raise socket.gaierror(f"network blocked by the test: resolve {host}")
            return real_getaddrinfo(host, *args, **kwargs)

        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
