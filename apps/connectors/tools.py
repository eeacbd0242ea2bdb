"""Database tools offered to the model: named queries and the free-form SQL tool.

Both run through the same path: the SQL guard (approved tables and columns, row filters bound
to the verified visitor), the engine (read-only transaction, statement timeout, the
connection's own user), then the row and size caps. The visitor id comes from the
``ToolContext`` only; no argument can set it.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any

from apps.connectors.engines import get_engine
from apps.connectors.models import Connection, NamedQuery, ParameterType
from apps.connectors.selectors import connection_params, connection_policy
from apps.connectors.sqlguard import VISITOR_PARAM, GuardedSql, guard_select
from apps.tools.registry import Tool, ToolContext, ToolOutput, ToolRefused, ToolSpec
from apps.tools.summaries import render_summary

SQL_TOOL_PREFIX = "sql_"
_MAX_STRING_ARGUMENT = 500


# --- Provider interface (see apps.tools.registry.PROVIDERS) ---------------------------------------


def find_tool(name: str) -> Tool | None:
    if name.startswith(SQL_TOOL_PREFIX):
        connection = Connection.objects.filter(name=name[len(SQL_TOOL_PREFIX) :]).first()
        return SqlTool(connection) if connection is not None else None
    query = NamedQuery.objects.select_related("connection").filter(name=name).first()
    return NamedQueryTool(query) if query is not None else None


def tools_for(assistant: Any) -> list[Tool]:
    tools: list[Tool] = [
        NamedQueryTool(query)
        for query in NamedQuery.objects.select_related("connection").filter(
            is_enabled=True, assistants=assistant
        )
    ]
    tools.extend(
        SqlTool(connection)
        for connection in Connection.objects.filter(
            sql_tool_enabled=True, sql_tool_assistants=assistant
        ).prefetch_related("tables")
    )
    return tools


# --- Running a guarded statement ------------------------------------------------------------------


def run_guarded(
    connection: Connection, guarded: GuardedSql, values: dict[str, Any], context: ToolContext
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Bind, run, cap. Returns (data for the model, facts for the audit log)."""
    bind = {name: values.get(name) for name in guarded.placeholders if name != VISITOR_PARAM}
    if guarded.needs_visitor:
        if context.visitor_id is None:
            raise ToolRefused(
                "This data is only available to a signed-in (verified) visitor.",
                code="visitor_not_verified",
            )
        bind[VISITOR_PARAM] = str(context.visitor_id)
    result = get_engine(connection.engine).run_select(
        connection_params(connection), guarded.sql, bind, max_rows=guarded.fetch_limit
    )
    rows = result.rows
    truncated = len(rows) > guarded.row_cap
    rows = rows[: guarded.row_cap]
    data = shape_rows(result.columns, rows, connection.max_result_bytes)
    data["truncated"] = data["truncated"] or truncated
    audit = {
        "tables": list(guarded.tables),
        "rows": data["row_count"],
        "truncated": data["truncated"],
        "db_ms": round(result.db_ms, 3),
    }
    return data, audit


def shape_rows(columns: list[str], rows: list[tuple[Any, ...]], max_bytes: int) -> dict[str, Any]:
    """Rows as JSON-ready lists, cut before the encoded result would exceed ``max_bytes``."""
    size = len(json.dumps(columns)) + 64
    kept: list[list[Any]] = []
    truncated = False
    for row in rows:
        values = [jsonable(v) for v in row]
        size += len(json.dumps(values, ensure_ascii=False, default=str).encode()) + 1
        if size > max_bytes:
            truncated = True
            break
        kept.append(values)
    return {"columns": columns, "rows": kept, "row_count": len(kept), "truncated": truncated}


def jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(bytes(value))} bytes>"
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return str(value)


# --- Named queries --------------------------------------------------------------------------------

_JSON_TYPES: dict[str, dict[str, Any]] = {
    ParameterType.INTEGER: {"type": "integer"},
    ParameterType.NUMBER: {"type": "number"},
    ParameterType.STRING: {"type": "string", "maxLength": _MAX_STRING_ARGUMENT},
    ParameterType.BOOLEAN: {"type": "boolean"},
    ParameterType.DATE: {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
}


def parameters_schema(parameters: list[dict[str, Any]]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for param in parameters:
        prop: dict[str, Any] = dict(_JSON_TYPES[ParameterType(param["type"])])
        description = param.get("description") or ""
        if param["type"] == ParameterType.DATE:
            description = f"{description} (YYYY-MM-DD)".strip()
        if description:
            prop["description"] = description
        properties[param["name"]] = prop
    return {
        "type": "object",
        "properties": properties,
        "required": [p["name"] for p in parameters if p.get("required", True)],
        "additionalProperties": False,
    }


def coerce_arguments(parameters: list[dict[str, Any]], arguments: dict[str, Any]) -> dict[str, Any]:
    """Typed Python values for the driver (the JSON schema has already been checked)."""
    values: dict[str, Any] = {}
    for param in parameters:
        name, kind = param["name"], param["type"]
        value = arguments.get(name)
        if value is None:
            values[name] = None
        elif kind == ParameterType.INTEGER:
            values[name] = int(value)
        elif kind == ParameterType.NUMBER:
            values[name] = Decimal(str(value))
        elif kind == ParameterType.DATE:
            try:
                values[name] = dt.date.fromisoformat(value)
            except ValueError:
                raise ToolRefused(
                    f"Invalid {name}: not a date.", code="invalid_arguments"
                ) from None
        else:
            values[name] = value
    return values


class NamedQueryTool(Tool):
    kind = "named_query"

    def __init__(self, query: NamedQuery) -> None:
        self.query = query

    @property
    def spec(self) -> ToolSpec:
        return ToolSpec(
            name=self.query.name,
            description=self.query.description,
            parameters=parameters_schema(self.query.parameters),
        )

    @property
    def object_id(self) -> str:
        return str(self.query.pk)

    def is_enabled(self) -> bool:
        return self.query.is_enabled

    def enabled_for(self, assistant: Any) -> bool:
        return self.query.is_enabled and self.query.assistants.filter(pk=assistant.pk).exists()

    def assistant_relation(self) -> Any:
        return self.query.assistants

    def run(self, arguments: dict[str, Any], context: ToolContext) -> ToolOutput:
        query = self.query
        connection = query.connection
        values = coerce_arguments(query.parameters, arguments)
        # Re-checked at every run: approvals may have changed since the query was saved.
        guarded = guard_select(
            query.sql,
            connection_policy(connection),
            row_cap=min(query.max_rows, connection.row_limit),
            params={p["name"] for p in query.parameters},
            trusted_author=True,
        )
        data, audit = run_guarded(connection, guarded, values, context)
        summary = render_summary(query.summary_template, arguments) or (
            f"Looked up {query.name.replace('_', ' ')}"
        )
        return ToolOutput(data=data, summary=summary, audit=audit)

    def summary_on_error(self, arguments: dict[str, Any]) -> str:
        return f"Could not look up {self.query.name.replace('_', ' ')}"


# --- Free-form SQL --------------------------------------------------------------------------------


class SqlTool(Tool):
    kind = "sql"

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    @property
    def spec(self) -> ToolSpec:
        return ToolSpec(
            name=self.connection.sql_tool_name,
            description=sql_tool_description(self.connection),
            parameters={
                "type": "object",
                "properties": {
                    "sql": {
                        "type": "string",
                        "description": "One read-only SELECT statement.",
                        "maxLength": 20_000,
                    }
                },
                "required": ["sql"],
                "additionalProperties": False,
            },
        )

    @property
    def object_id(self) -> str:
        return str(self.connection.pk)

    def is_enabled(self) -> bool:
        return self.connection.sql_tool_enabled

    def enabled_for(self, assistant: Any) -> bool:
        return (
            self.connection.sql_tool_enabled
            and self.connection.sql_tool_assistants.filter(pk=assistant.pk).exists()
        )

    def assistant_relation(self) -> Any:
        return self.connection.sql_tool_assistants

    def run(self, arguments: dict[str, Any], context: ToolContext) -> ToolOutput:
        connection = self.connection
        guarded = guard_select(
            arguments["sql"], connection_policy(connection), row_cap=connection.row_limit
        )
        data, audit = run_guarded(connection, guarded, {}, context)
        audit["sql"] = arguments["sql"][:2000]
        names = sorted({label.rsplit(".", 1)[-1] for label in guarded.tables})
        summary = f"Looked up {', '.join(names)}" if names else f"Queried {connection.name}"
        return ToolOutput(data=data, summary=summary, audit=audit)

    def summary_on_error(self, arguments: dict[str, Any]) -> str:
        return f"Could not query {self.connection.name}"


def sql_tool_description(connection: Connection) -> str:
    engine = get_engine(connection.engine)
    lines = [
        f"Run one read-only SQL SELECT ({engine.label} dialect) on the '{connection.name}' "
        f"database. Only these tables and columns may be used; anything else is refused:"
    ]
    filtered = []
    for table in connection.tables.all():
        columns = ", ".join(f"{c} {table.column_types.get(c, '')}".strip() for c in table.columns)
        lines.append(f"- {table.schema_name}.{table.table_name}({columns})")
        if table.row_filter:
            filtered.append(table.table_name)
    if filtered:
        lines.append(
            f"Rows of {', '.join(filtered)} are automatically limited to the current visitor."
        )
    lines.append(
        f"At most {connection.row_limit} rows come back. Qualify columns when joining. "
        "Common functions (count, sum, lower, date_trunc, ...) are allowed; no writes."
    )
    return "\n".join(lines)
