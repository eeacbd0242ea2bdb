"""Reads of connector configuration (current tenant's schema)."""

from __future__ import annotations

from typing import Any

from django.db import connection as db_connection
from django.db.models import QuerySet

from apps.connectors.engines import ConnectionParams, get_engine
from apps.connectors.models import ApprovedTable, Connection, NamedQuery
from apps.connectors.sqlguard import Policy, TablePolicy
from apps.core.errors import NotFound


def connection_list() -> QuerySet[Connection]:
    return Connection.objects.prefetch_related("tables", "sql_tool_assistants").order_by("name")


def connection_get(*, name: str | None = None, pk: Any = None) -> Connection:
    """The connection by name or id; the same error whether it is missing or another tenant's."""
    query = Connection.objects.all()
    found = query.filter(name=name).first() if name is not None else query.filter(pk=pk).first()
    if found is None:
        raise NotFound("No such connection.", code="connection_not_found")
    return found


def approved_table_get(*, connection: Connection, pk: Any) -> ApprovedTable:
    found = ApprovedTable.objects.filter(connection=connection, pk=pk).first()
    if found is None:
        raise NotFound("No such approved table.", code="table_not_found")
    return found


def named_query_list() -> QuerySet[NamedQuery]:
    return NamedQuery.objects.select_related("connection").prefetch_related("assistants")


def named_query_get(*, name: str | None = None, pk: Any = None) -> NamedQuery:
    query = NamedQuery.objects.select_related("connection")
    found = query.filter(name=name).first() if name is not None else query.filter(pk=pk).first()
    if found is None:
        raise NotFound("No such named query.", code="named_query_not_found")
    return found


def connection_params(connection: Connection) -> ConnectionParams:
    schema = getattr(db_connection, "schema_name", "")
    return ConnectionParams(
        engine=connection.engine,
        host=connection.host,
        port=connection.port,
        database=connection.database,
        user=connection.username,
        password=connection.password or "",
        sslmode=connection.sslmode,
        ssl_root_cert=connection.ssl_root_cert,
        connect_timeout=float(connection.connect_timeout_seconds),
        statement_timeout_ms=connection.statement_timeout_ms,
        pool_key=f"{schema}:{connection.pk}",
    )


_POLICIES: dict[tuple[str, int, Any], Policy] = {}
_POLICIES_MAX = 256


def connection_policy(connection: Connection) -> Policy:
    """What the guard lets the assistant read through this connection.

    Cached per process by (tenant schema, connection, ``updated_at``): every change to the
    approved tables goes through ``table_approve``/``table_revoke``, which touch the
    connection, and the connection row itself is read fresh for every tool call.
    """
    key = (getattr(db_connection, "schema_name", ""), connection.pk, connection.updated_at)
    cached = _POLICIES.get(key)
    if cached is None:
        cached = _build_policy(connection)
        if len(_POLICIES) >= _POLICIES_MAX:
            _POLICIES.clear()
        _POLICIES[key] = cached
    return cached


def _build_policy(connection: Connection) -> Policy:
    engine = get_engine(connection.engine)
    tables = tuple(
        TablePolicy(
            schema=table.schema_name,
            name=table.table_name,
            columns=tuple(table.columns),
            sensitive=frozenset(table.sensitive_columns),
            row_filter=table.row_filter,
        )
        for table in connection.tables.all().order_by("schema_name", "table_name")
    )
    return Policy(
        engine=connection.engine,
        default_schema=engine.default_schema(connection_params(connection)),
        tables=tables,
    )
