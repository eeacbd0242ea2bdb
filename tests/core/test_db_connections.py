"""A web process under ASGI does not keep a database connection per request it served."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from django.db import connection

from tests.conftest import daphne_server


def _connections_since(started_at) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_start > %s",
            [started_at],
        )
        return cursor.fetchone()[0]


def test_requests_do_not_leave_connections_open(django_db_setup, django_db_blocker):
    # A server with production's persistent connections (the test settings have none).
    with django_db_blocker.unblock(), daphne_server(TEST_SERVER_CONN_MAX_AGE="60") as port:
        _make_requests_and_count(port)


def _make_requests_and_count(server_port: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        started_at = cursor.fetchone()[0]
    for _ in range(40):
        # An unknown API key is looked up in the database from the request's own thread.
        request = urllib.request.Request(
            f"http://127.0.0.1:{server_port}/v1/models",
            headers={"Authorization": "Bearer sk_unknownprefix_secret"},
        )
        with pytest.raises(urllib.error.HTTPError) as excinfo:
            urllib.request.urlopen(request, timeout=10)  # noqa: S310  # our own loopback server
        assert excinfo.value.code == 401
    # Each request ran in a thread of its own; without closing its connection at the end,
    # 40 requests left 40 idle connections behind.
    assert _connections_since(started_at) < 5
