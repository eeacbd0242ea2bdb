"""Testing a connection says why it fails: DNS, refused, auth, TLS, timeout, missing database."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from apps.audit.models import AuditEvent
from apps.connectors.models import Connection
from apps.connectors.services import connection_create, connection_introspect, connection_test
from tests.connectors.conftest import ROLE_PASSWORD


def make(scratch, **overrides) -> Connection:
    fields = {
        "name": "target",
        "engine": scratch.engine,
        "host": scratch.server.host,
        "port": scratch.server.port,
        "database": scratch.database,
        "username": scratch.role,
        "password": ROLE_PASSWORD,
        "sslmode": "disable",
    }
    fields.update(overrides)
    return connection_create(**fields)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in accepted:
        conn.close()
    listener.close()


def test_working_connection_reports_the_server(in_tenant_a, scratch):
    connection = make(scratch)
    outcome = connection_test(connection=connection)
    assert outcome.ok, outcome.message
    expected = "PostgreSQL" if scratch.engine == "postgresql" else "MariaDB"
    assert expected in outcome.server_version
    connection.refresh_from_db()
    assert connection.last_test_ok is True


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"host": "no-such-host.invalid"}, "dns_failed"),
        ({"host": "127.0.0.1", "port": 1}, "connection_refused"),
        ({"username": "nobody_here", "password": "wrong"}, "auth_failed"),
        ({"sslmode": "require"}, "tls_failed"),
        ({"database": "no_such_database_here"}, "database_not_found"),
    ],
)
def test_failures_say_why(in_tenant_a, scratch, overrides, code):
    outcome = connection_test(connection=make(scratch, **overrides))
    assert (outcome.ok, outcome.code) == (False, code), outcome.message
    assert ROLE_PASSWORD not in outcome.message


def test_mysql_wrong_password_is_an_auth_failure(in_tenant_a, mysql_scratch):
    outcome = connection_test(connection=make(mysql_scratch, password="wrong-password"))
    assert (outcome.ok, outcome.code) == (False, "auth_failed")
    assert "wrong-password" not in outcome.message


def test_a_server_that_never_answers_times_out(in_tenant_a, scratch, silent_server):
    connection = make(scratch, host="127.0.0.1", port=silent_server)
    connection.connect_timeout_seconds = 1
    connection.save()
    outcome = connection_test(connection=connection)
    assert (outcome.ok, outcome.code) == (False, "timeout"), outcome.message


def test_test_is_audited_without_the_password(in_tenant_a, scratch):
    connection_test(connection=make(scratch))
    events = AuditEvent.objects.filter(object_type="connection")
    assert {e.action for e in events} >= {"connection.created", "connection.tested"}
    assert all(ROLE_PASSWORD not in str(e.data) for e in events)


def test_password_is_encrypted_at_rest(in_tenant_a, scratch):
    from django.db import connection as db

    stored = make(scratch)
    with db.cursor() as cursor:
        cursor.execute("SELECT password FROM connectors_connection WHERE id = %s", [stored.pk])
        raw = cursor.fetchone()[0]
    assert ROLE_PASSWORD not in raw
    assert Connection.objects.get(pk=stored.pk).password == ROLE_PASSWORD


def test_introspection_lists_tables_columns_and_types(in_tenant_a, scratch):
    tables = {t.name: t for t in connection_introspect(connection=make(scratch))}
    assert {"customers", "orders", "products", "secrets"} <= set(tables)
    orders = {c.name: c.type for c in tables["orders"].columns}
    assert list(orders)[:3] == ["id", "customer_id", "status"]
    assert orders["total"] in ("numeric", "decimal")
    assert tables["orders"].schema == scratch.schema
