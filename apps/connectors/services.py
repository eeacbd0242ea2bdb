"""Writes for connectors: connections, approved tables, the SQL tool switch, named queries.

``check_*`` functions validate and raise coded errors; the other functions act (full_clean
before save) and write an audit event. Secrets (the database password) are only ever passed
in as values, never logged, and stored encrypted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.connectors.engines import ENGINES, TableInfo, get_engine
from apps.connectors.models import (
    ApprovedTable,
    Connection,
    NamedQuery,
    ParameterType,
    SslMode,
)
from apps.connectors.selectors import connection_params, connection_policy
from apps.connectors.sqlguard import (
    VISITOR_PARAM,
    Policy,
    SqlRefused,
    guard_select,
    parse_row_filter,
)
from apps.core.errors import AppError, Conflict, InvalidInput
from apps.core.services import model_save_validated
from apps.llm.services import llm_config_bump

_PARAM_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def _save(instance: Any) -> None:
    model_save_validated(instance)
    llm_config_bump()  # the tools offered to models changed: routers re-read them


def _touch(connection: Connection) -> None:
    """Mark the connection changed: cached policies are keyed by its ``updated_at``."""
    connection.updated_at = timezone.now()
    Connection.objects.filter(pk=connection.pk).update(updated_at=connection.updated_at)


# --- Connections ----------------------------------------------------------------------------------


def check_connection_name(name: str, *, exclude_pk: Any = None) -> None:
    if not re.match(r"^[a-z][a-z0-9_]{0,39}$", name or ""):
        raise InvalidInput(
            "A connection name is 1-40 lowercase letters, digits and _, starting with a letter.",
            code="invalid_name",
        )
    if Connection.objects.filter(name=name).exclude(pk=exclude_pk).exists():
        raise Conflict(f"A connection named '{name}' already exists.", code="duplicate_name")


def check_connection_target(*, engine: str, host: str, port: int, sslmode: str) -> None:
    from apps.tools.netguard import is_metadata_host

    if engine not in ENGINES:
        raise InvalidInput(f"Unknown engine '{engine}'.", code="unknown_engine")
    if not host or len(host) > 253 or any(c in host for c in "/ @?#"):
        raise InvalidInput("Give a host name or an IP address.", code="invalid_host")
    if is_metadata_host(host):
        raise InvalidInput("Cloud metadata addresses are never allowed.", code="host_not_allowed")
    if not 1 <= int(port) <= 65535:
        raise InvalidInput("The port must be between 1 and 65535.", code="invalid_port")
    if sslmode not in SslMode.values:
        raise InvalidInput(f"Unknown TLS mode '{sslmode}'.", code="invalid_sslmode")


def connection_create(
    *,
    name: str,
    engine: str,
    host: str,
    port: int | None = None,
    database: str,
    username: str,
    password: str = "",
    sslmode: str = SslMode.PREFER,
    ssl_root_cert: str = "",
    statement_timeout_ms: int | None = None,
    row_limit: int | None = None,
    max_result_bytes: int | None = None,
    actor: Any = None,
) -> Connection:
    port = port or (get_engine(engine).default_port if engine in ENGINES else 0)
    check_connection_name(name)
    check_connection_target(engine=engine, host=host, port=port, sslmode=sslmode)
    connection = Connection(
        name=name,
        engine=engine,
        host=host.strip(),
        port=port,
        database=database,
        username=username,
        password=password,
        sslmode=sslmode,
        ssl_root_cert=ssl_root_cert,
        statement_timeout_ms=statement_timeout_ms or settings.CONNECTORS_STATEMENT_TIMEOUT_MS,
        row_limit=row_limit or settings.CONNECTORS_ROW_LIMIT,
        max_result_bytes=max_result_bytes or settings.CONNECTORS_MAX_RESULT_BYTES,
    )
    with transaction.atomic():
        _save(connection)
        audit_record(
            action="connection.created",
            actor=actor,
            object_type="connection",
            object_id=str(connection.pk),
            data={"name": name, "engine": engine, "host": host, "database": database},
        )
    return connection


_UPDATABLE = {
    "host", "port", "database", "username", "sslmode", "ssl_root_cert", "statement_timeout_ms",
    "row_limit", "max_result_bytes", "connect_timeout_seconds", "engine",
}  # fmt: skip


def connection_update(
    *, connection: Connection, password: str | None = None, actor: Any = None, **fields: Any
) -> Connection:
    """Change settings; ``password=None`` keeps the stored password, "" clears it."""
    unknown = set(fields) - _UPDATABLE
    if unknown:
        raise InvalidInput(f"Unknown fields: {', '.join(sorted(unknown))}.", code="invalid_input")
    for key, value in fields.items():
        setattr(connection, key, value)
    check_connection_target(
        engine=connection.engine,
        host=connection.host,
        port=connection.port,
        sslmode=connection.sslmode,
    )
    if password is not None:
        connection.password = password
    with transaction.atomic():
        _save(connection)
        audit_record(
            action="connection.updated",
            actor=actor,
            object_type="connection",
            object_id=str(connection.pk),
            data={"fields": sorted(fields) + (["password"] if password is not None else [])},
        )
    return connection


def connection_delete(*, connection: Connection, actor: Any = None) -> None:
    with transaction.atomic():
        audit_record(
            action="connection.deleted",
            actor=actor,
            object_type="connection",
            object_id=str(connection.pk),
            data={"name": connection.name},
        )
        connection.delete()
        llm_config_bump()


@dataclass(frozen=True)
class ConnectionTest:
    ok: bool
    code: str
    message: str
    server_version: str = ""


def connection_test(*, connection: Connection, actor: Any = None) -> ConnectionTest:
    """Connect with the stored settings; record and return the outcome with a clear reason."""
    engine = get_engine(connection.engine)
    try:
        version = engine.test(connection_params(connection))
        outcome = ConnectionTest(True, "ok", f"Connected: {version}", version)
    except AppError as exc:
        outcome = ConnectionTest(False, exc.code, exc.message)
    connection.last_tested_at = timezone.now()
    connection.last_test_ok = outcome.ok
    connection.last_test_message = outcome.message[:300]
    connection.save(update_fields=["last_tested_at", "last_test_ok", "last_test_message"])
    audit_record(
        action="connection.tested",
        actor=actor,
        object_type="connection",
        object_id=str(connection.pk),
        data={"ok": outcome.ok, "code": outcome.code},
    )
    return outcome


def connection_introspect(*, connection: Connection) -> list[TableInfo]:
    """Schemas, tables, columns and types the connection's user can see (raises on failure)."""
    return get_engine(connection.engine).introspect(connection_params(connection))


# --- Approved tables ------------------------------------------------------------------------------


def _find_table(tables: Iterable[TableInfo], schema: str, table: str) -> TableInfo:
    for info in tables:
        if info.schema == schema and info.name == table:
            return info
    raise InvalidInput(
        f"The table {schema}.{table} does not exist or the connection's user cannot see it.",
        code="table_not_found",
    )


def _canonical_columns(info: TableInfo, names: Sequence[str], engine: str) -> list[str]:
    """Column names as the database spells them; unknown names are refused."""
    by_name = {c.name: c.name for c in info.columns}
    if engine == "mysql":  # MySQL column names are case-insensitive
        by_name.update({c.name.lower(): c.name for c in info.columns})
    found = []
    for name in names:
        key = name.strip()
        canonical = by_name.get(key) or by_name.get(key.lower() if engine == "mysql" else key)
        if canonical is None:
            raise InvalidInput(
                f"The table {info.label} has no column '{key}'.", code="column_not_found"
            )
        if canonical not in found:
            found.append(canonical)
    return found


def check_row_filter(*, row_filter: str, info: TableInfo, engine: str) -> str:
    """A row filter must parse, use only :visitor_id and only this table's columns."""
    row_filter = (row_filter or "").strip()
    if not row_filter:
        return ""
    policy = Policy(engine=engine, default_schema=info.schema, tables=())
    try:
        predicate = parse_row_filter(row_filter, policy)
    except SqlRefused as exc:
        raise InvalidInput(exc.message, code="invalid_row_filter") from None
    from sqlglot import exp

    known = {c.name.lower() if engine == "mysql" else c.name for c in info.columns}
    for column in predicate.find_all(exp.Column):
        ident = column.this
        name = ident.this if (engine == "postgresql" and ident.quoted) else ident.this.lower()
        if name not in known:
            raise InvalidInput(
                f"The row filter names '{column.name}', which is not a column of {info.label}.",
                code="invalid_row_filter",
            )
    return row_filter


def table_approve(
    *,
    connection: Connection,
    table: str,
    columns: Sequence[str],
    sensitive: Sequence[str] = (),
    row_filter: str = "",
    introspected: list[TableInfo] | None = None,
    actor: Any = None,
) -> ApprovedTable:
    """Approve ``schema.table`` (or ``table`` in the default schema) with these columns.

    The table and columns are checked against the live database (introspection), so a typo
    fails here rather than in front of a visitor. Calling it again replaces the approval.
    """
    engine = get_engine(connection.engine)
    schema, _, name = table.rpartition(".")
    schema = schema or engine.default_schema(connection_params(connection))
    tables = (
        introspected if introspected is not None else connection_introspect(connection=connection)
    )
    info = _find_table(tables, schema, name)
    readable = _canonical_columns(info, [c for c in columns if c.strip()], connection.engine)
    secret = _canonical_columns(info, [c for c in sensitive if c.strip()], connection.engine)
    readable = [c for c in readable if c not in secret]
    if not readable:
        raise InvalidInput("Approve at least one readable column.", code="no_columns")
    clean_filter = check_row_filter(row_filter=row_filter, info=info, engine=connection.engine)
    types = {c.name: c.type for c in info.columns if c.name in readable or c.name in secret}
    approved = ApprovedTable.objects.filter(
        connection=connection, schema_name=info.schema, table_name=info.name
    ).first() or ApprovedTable(connection=connection, schema_name=info.schema, table_name=info.name)
    approved.columns = readable
    approved.sensitive_columns = secret
    approved.column_types = types
    approved.row_filter = clean_filter
    with transaction.atomic():
        _save(approved)
        _touch(connection)
        audit_record(
            action="connection.table_approved",
            actor=actor,
            object_type="connection",
            object_id=str(connection.pk),
            data={
                "table": approved.label,
                "columns": readable,
                "sensitive": secret,
                "row_filter": clean_filter,
            },
        )
    return approved


def table_revoke(*, approved: ApprovedTable, actor: Any = None) -> None:
    with transaction.atomic():
        audit_record(
            action="connection.table_revoked",
            actor=actor,
            object_type="connection",
            object_id=str(approved.connection_id),
            data={"table": approved.label},
        )
        approved.delete()
        llm_config_bump()
        _touch(approved.connection)


# --- The SQL tool switch --------------------------------------------------------------------------


def sql_tool_set(
    *,
    connection: Connection,
    enabled: bool,
    assistants: Iterable[Any] | None = None,
    actor: Any = None,
) -> Connection:
    """Turn the free-form SQL tool on or off; ``assistants`` (if given) replaces who may use it."""
    if enabled:
        from apps.tools.services import check_tool_name

        check_tool_name(connection.sql_tool_name, exclude=("sql", connection.pk))
    with transaction.atomic():
        connection.sql_tool_enabled = enabled
        connection.save(update_fields=["sql_tool_enabled", "updated_at"])
        if assistants is not None:
            connection.sql_tool_assistants.set(list(assistants))
            llm_config_bump()
        audit_record(
            action="connection.sql_tool_set",
            actor=actor,
            object_type="connection",
            object_id=str(connection.pk),
            data={
                "enabled": enabled,
                "assistants": sorted(a.name for a in connection.sql_tool_assistants.all()),
            },
        )
    return connection


# --- Named queries --------------------------------------------------------------------------------


def check_query_parameters(parameters: Any) -> list[dict[str, Any]]:
    """Normalise a named query's parameter list: name, type, description, required."""
    if not isinstance(parameters, list):
        raise InvalidInput("Parameters must be a list.", code="invalid_parameters")
    clean: list[dict[str, Any]] = []
    for item in parameters:
        if not isinstance(item, dict):
            raise InvalidInput("Each parameter is an object.", code="invalid_parameters")
        name = str(item.get("name", ""))
        if not _PARAM_NAME_RE.match(name):
            raise InvalidInput(
                f"Invalid parameter name '{name}': lowercase letters, digits and _.",
                code="invalid_parameters",
            )
        if name == VISITOR_PARAM:
            raise InvalidInput(
                f":{VISITOR_PARAM} is reserved: it is always the verified visitor, never an "
                "argument the model chooses.",
                code="reserved_parameter",
            )
        kind = str(item.get("type", "string"))
        if kind not in ParameterType.values:
            raise InvalidInput(f"Unknown parameter type '{kind}'.", code="invalid_parameters")
        if any(p["name"] == name for p in clean):
            raise InvalidInput(
                f"The parameter '{name}' is declared twice.", code="invalid_parameters"
            )
        clean.append(
            {
                "name": name,
                "type": kind,
                "description": str(item.get("description", ""))[:300],
                "required": bool(item.get("required", True)),
            }
        )
    return clean


def parse_parameter_specs(specs: Iterable[str]) -> list[dict[str, Any]]:
    """``name:type[:description]`` strings (commands, forms) -> parameter list."""
    parameters = []
    for spec in specs:
        name, _, rest = spec.partition(":")
        kind, _, description = rest.partition(":")
        optional = name.endswith("?")
        parameters.append(
            {
                "name": name.rstrip("?").strip(),
                "type": (kind or "string").strip(),
                "description": description.strip(),
                "required": not optional,
            }
        )
    return check_query_parameters(parameters)


def check_named_query_sql(
    *, sql: str, connection: Connection, parameters: list[dict[str, Any]], max_rows: int
) -> None:
    """The query must pass the SQL guard over the approved tables, using its parameters."""
    declared = {p["name"] for p in parameters}
    try:
        guarded = guard_select(
            sql,
            connection_policy(connection),
            row_cap=max_rows,
            params=declared,
            trusted_author=True,
        )
    except SqlRefused as exc:
        raise InvalidInput(f"The query is refused: {exc.message}", code="sql_refused") from None
    unused = declared - guarded.placeholders
    if unused:
        raise InvalidInput(
            f"Declared but not used in the query: {', '.join(sorted(unused))}.",
            code="invalid_parameters",
        )


def named_query_create(
    *,
    name: str,
    description: str,
    connection: Connection,
    sql: str,
    parameters: list[dict[str, Any]] | None = None,
    summary_template: str = "",
    max_rows: int = 50,
    assistants: Iterable[Any] = (),
    actor: Any = None,
) -> NamedQuery:
    from apps.tools.services import check_summary_template, check_tool_name

    check_tool_name(name)
    clean = check_query_parameters(parameters or [])
    max_rows = min(max_rows, connection.row_limit)
    check_named_query_sql(sql=sql, connection=connection, parameters=clean, max_rows=max_rows)
    check_summary_template(summary_template, {p["name"] for p in clean})
    query = NamedQuery(
        name=name,
        description=description.strip(),
        connection=connection,
        sql=sql.strip(),
        parameters=clean,
        summary_template=summary_template.strip(),
        max_rows=max_rows,
    )
    with transaction.atomic():
        _save(query)
        query.assistants.set(list(assistants))
        llm_config_bump()
        audit_record(
            action="named_query.created",
            actor=actor,
            object_type="named_query",
            object_id=str(query.pk),
            data={"name": name, "connection": connection.name, "sql": query.sql},
        )
    return query


def named_query_update(
    *,
    query: NamedQuery,
    assistants: Iterable[Any] | None = None,
    actor: Any = None,
    **fields: Any,
) -> NamedQuery:
    from apps.tools.services import check_summary_template, check_tool_name

    allowed = {"name", "description", "sql", "parameters", "summary_template", "max_rows",
               "is_enabled", "connection"}  # fmt: skip
    unknown = set(fields) - allowed
    if unknown:
        raise InvalidInput(f"Unknown fields: {', '.join(sorted(unknown))}.", code="invalid_input")
    if "name" in fields and fields["name"] != query.name:
        check_tool_name(fields["name"], exclude=("named_query", query.pk))
    for key, value in fields.items():
        setattr(query, key, value)
    query.parameters = check_query_parameters(query.parameters)
    query.max_rows = min(query.max_rows, query.connection.row_limit)
    check_named_query_sql(
        sql=query.sql, connection=query.connection, parameters=query.parameters,
        max_rows=query.max_rows,
    )  # fmt: skip
    check_summary_template(query.summary_template, {p["name"] for p in query.parameters})
    with transaction.atomic():
        _save(query)
        if assistants is not None:
            query.assistants.set(list(assistants))
            llm_config_bump()
        audit_record(
            action="named_query.updated",
            actor=actor,
            object_type="named_query",
            object_id=str(query.pk),
            data={"fields": sorted(fields), "sql": query.sql},
        )
    return query


def named_query_delete(*, query: NamedQuery, actor: Any = None) -> None:
    with transaction.atomic():
        audit_record(
            action="named_query.deleted",
            actor=actor,
            object_type="named_query",
            object_id=str(query.pk),
            data={"name": query.name},
        )
        query.delete()
        llm_config_bump()
