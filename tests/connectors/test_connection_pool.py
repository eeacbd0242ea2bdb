"""Driver connections are reused per tenant and connection, and replaced when they die."""

from __future__ import annotations

from django_tenants.utils import tenant_context

from apps.connectors.engines import POOL, get_engine
from apps.connectors.selectors import connection_params
from tests.connectors.conftest import connection_for

BACKEND_ID = {
    "postgresql": "SELECT pg_catalog.pg_backend_pid()",
    "mysql": "SELECT CONNECTION_ID()",
}


def backend(connection) -> int:
    params = connection_params(connection)
    sql = BACKEND_ID[connection.engine]
    return get_engine(connection.engine).run_select(params, sql, {}, max_rows=1).rows[0][0]


def kill(scratch, backend_id: int) -> None:
    if scratch.engine == "postgresql":
        scratch.query(f"SELECT pg_terminate_backend({backend_id})")
    else:
        conn = scratch.admin()
        with conn.cursor() as cur:
            cur.execute(f"KILL {backend_id}")
        conn.close()


def test_a_connection_is_reused(in_tenant_a, scratch):
    connection = connection_for(scratch)
    assert backend(connection) == backend(connection)


def test_changed_settings_get_a_new_connection(in_tenant_a, scratch):
    connection = connection_for(scratch)
    first = backend(connection)
    connection.statement_timeout_ms = 4000
    connection.save()
    assert backend(connection) != first


def test_a_dead_pooled_connection_is_replaced_transparently(in_tenant_a, scratch, run_sql):
    connection = connection_for(scratch)
    first = backend(connection)
    kill(scratch, first)
    assert backend(connection) != first
    assert run_sql("SELECT count(*) AS n FROM orders").data["rows"] == [[3]]


def test_tenants_never_share_a_pooled_connection(tenant_a, tenant_b, scratch):
    with tenant_context(tenant_a):
        alpha = backend(connection_for(scratch))
    with tenant_context(tenant_b):
        beta = backend(connection_for(scratch))
    assert alpha != beta


def test_pooling_can_be_turned_off(in_tenant_a, scratch, settings):
    settings.CONNECTORS_POOL_SIZE = 0
    connection = connection_for(scratch)
    assert backend(connection) != backend(connection)
    POOL.clear()


def test_a_timed_out_connection_is_not_reused(in_tenant_a, scratch, run_sql):
    connection = connection_for(scratch, statement_timeout_ms=300)
    first = backend(connection)  # now idle in the pool; the slow query below takes it
    result = run_sql("SELECT count(*) AS c FROM numbers a, numbers b, numbers c, numbers d")
    assert result.error_code == "query_timeout"
    assert backend(connection) != first
