"""Backoffice pages for connections, approved tables, the SQL tool switch and named queries.

Admins only. Views validate the form's shape, call one service and render a page or an HTMX
fragment; coded errors (``AppError``) become form errors, never tracebacks.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View

from apps.connectors.engines import ENGINES
from apps.connectors.forms import (
    ApproveTableForm,
    ConnectionForm,
    NamedQueryForm,
    SqlToolForm,
    parameters_as_text,
)
from apps.connectors.models import Connection, NamedQuery
from apps.connectors.selectors import (
    approved_table_get,
    connection_get,
    connection_list,
    named_query_get,
    named_query_list,
)
from apps.connectors.services import (
    connection_create,
    connection_delete,
    connection_introspect,
    connection_test,
    connection_update,
    named_query_create,
    named_query_delete,
    named_query_update,
    parse_parameter_specs,
    sql_tool_set,
    table_approve,
    table_revoke,
)
from apps.connectors.tools import parameters_schema
from apps.core.errors import AppError
from apps.tenants.models import Role
from apps.tenants.permissions import TenantMemberView
from apps.tools.registry import ToolContext, tool_run


class AdminView(TenantMemberView, View):
    minimum_role = Role.ADMIN

    @property
    def actor_label(self) -> str:
        return f"backoffice:{getattr(self.request.user, 'email', '')}"


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


# --- Connections ----------------------------------------------------------------------------------


class ConnectionListView(AdminView):
    template = "connectors/connection_list.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.page(ConnectionForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ConnectionForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                connection = connection_create(
                    name=data["name"],
                    engine=data["engine"],
                    host=data["host"],
                    port=data["port"],
                    database=data["database"],
                    username=data["username"],
                    password=data["password"] or "",
                    sslmode=data["sslmode"],
                    ssl_root_cert=data["ssl_root_cert"],
                    statement_timeout_ms=data["statement_timeout_ms"],
                    row_limit=data["row_limit"],
                    actor=request.user,
                )
            except AppError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"Connection {connection.name} added. Test it below.")
                return redirect("connectors:detail", pk=connection.pk)
        return self.page(form, status=400)

    def page(self, form: ConnectionForm, status: int = 200) -> HttpResponse:
        return render(
            self.request,
            self.template,
            {"connections": connection_list(), "form": form, "engines": ENGINES},
            status=status,
        )


class ConnectionDetailView(AdminView):
    template = "connectors/connection_detail.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        connection = connection_get(pk=pk)
        return self.page(connection, self.edit_form(connection))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        connection = connection_get(pk=pk)
        form = ConnectionForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                connection_update(
                    connection=connection,
                    password=data["password"] or None,
                    actor=request.user,
                    engine=data["engine"],
                    host=data["host"],
                    port=data["port"] or ENGINES[data["engine"]].default_port,
                    database=data["database"],
                    username=data["username"],
                    sslmode=data["sslmode"],
                    ssl_root_cert=data["ssl_root_cert"],
                    statement_timeout_ms=data["statement_timeout_ms"]
                    or connection.statement_timeout_ms,
                    row_limit=data["row_limit"] or connection.row_limit,
                )
            except AppError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, "Connection saved.")
                return redirect("connectors:detail", pk=connection.pk)
        return self.page(connection, form, status=400)

    @staticmethod
    def edit_form(connection: Connection) -> ConnectionForm:
        return ConnectionForm(
            initial={
                "name": connection.name,
                "engine": connection.engine,
                "host": connection.host,
                "port": connection.port,
                "database": connection.database,
                "username": connection.username,
                "sslmode": connection.sslmode,
                "ssl_root_cert": connection.ssl_root_cert,
                "statement_timeout_ms": connection.statement_timeout_ms,
                "row_limit": connection.row_limit,
            }
        )

    def page(self, connection: Connection, form: ConnectionForm, status: int = 200) -> HttpResponse:
        sql_form = SqlToolForm(
            initial={
                "enabled": connection.sql_tool_enabled,
                "assistants": list(connection.sql_tool_assistants.all()),
            }
        )
        return render(
            self.request,
            self.template,
            {
                "connection": connection,
                "form": form,
                "sql_form": sql_form,
                "tables": connection.tables.all(),
                "queries": connection.named_queries.all(),
            },
            status=status,
        )


class ConnectionTestView(AdminView):
    """HTMX: test the connection, render the outcome in place."""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        connection = connection_get(pk=pk)
        outcome = connection_test(connection=connection, actor=request.user)
        return render(
            request,
            "connectors/_test_result.html",
            {"outcome": outcome, "connection": connection},
        )


class ConnectionDeleteView(AdminView):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        connection = connection_get(pk=pk)
        connection_delete(connection=connection, actor=request.user)
        messages.success(request, f"Connection {connection.name} deleted.")
        return redirect("connectors:list")


class SqlToolView(AdminView):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        connection = connection_get(pk=pk)
        form = SqlToolForm(request.POST)
        if form.is_valid():
            try:
                sql_tool_set(
                    connection=connection,
                    enabled=form.cleaned_data["enabled"],
                    assistants=form.cleaned_data["assistants"],
                    actor=request.user,
                )
                state = "on" if form.cleaned_data["enabled"] else "off"
                messages.success(request, f"The SQL tool {connection.sql_tool_name} is {state}.")
            except AppError as exc:
                messages.error(request, exc.message)
        return redirect("connectors:detail", pk=connection.pk)


# --- Tables ---------------------------------------------------------------------------------------


class TableBrowserView(AdminView):
    """HTMX: the tables the connection's user can see, each with an approval form."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        connection = connection_get(pk=pk)
        approved = {t.label: t for t in connection.tables.all()}
        try:
            tables = connection_introspect(connection=connection)
        except AppError as exc:
            return render(
                request, "connectors/_tables.html", {"error": exc, "connection": connection}
            )
        rows = [{"info": info, "approved": approved.get(info.label)} for info in tables]
        return render(
            request, "connectors/_tables.html", {"tables": rows, "connection": connection}
        )


class TableApproveView(AdminView):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        connection = connection_get(pk=pk)
        columns = request.POST.getlist("columns")
        sensitive = request.POST.getlist("sensitive")
        form = ApproveTableForm(request.POST, column_names=columns + sensitive)
        if form.is_valid():
            try:
                approved = table_approve(
                    connection=connection,
                    table=form.cleaned_data["table"],
                    columns=form.cleaned_data["columns"],
                    sensitive=form.cleaned_data["sensitive"],
                    row_filter=form.cleaned_data["row_filter"],
                    actor=request.user,
                )
                messages.success(request, f"Approved {approved.label}.")
            except AppError as exc:
                messages.error(request, f"{form.cleaned_data['table']}: {exc.message}")
        else:
            messages.error(request, "Choose a table and its columns.")
        return redirect("connectors:detail", pk=connection.pk)


class TableRevokeView(AdminView):
    def post(self, request: HttpRequest, pk: int, table_pk: int) -> HttpResponse:
        connection = connection_get(pk=pk)
        approved = approved_table_get(connection=connection, pk=table_pk)
        table_revoke(approved=approved, actor=request.user)
        messages.success(request, f"{approved.label} is no longer readable by the assistant.")
        return redirect("connectors:detail", pk=connection.pk)


# --- Named queries --------------------------------------------------------------------------------


def _query_fields(form: NamedQueryForm) -> dict[str, Any]:
    data = form.cleaned_data
    return {
        "name": data["name"],
        "description": data["description"],
        "connection": data["connection"],
        "sql": data["sql"],
        "parameters": parse_parameter_specs(_lines(data["parameters"])),
        "summary_template": data["summary_template"],
        "max_rows": data["max_rows"],
    }


class NamedQueryListView(AdminView):
    template = "connectors/query_list.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.page(NamedQueryForm(initial={"is_enabled": True, "max_rows": 50}))

    def post(self, request: HttpRequest) -> HttpResponse:
        form = NamedQueryForm(request.POST)
        if form.is_valid():
            try:
                query = named_query_create(
                    **_query_fields(form),
                    assistants=form.cleaned_data["assistants"],
                    actor=request.user,
                )
            except AppError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"Named query {query.name} created.")
                return redirect("connectors:query", pk=query.pk)
        return self.page(form, status=400)

    def page(self, form: NamedQueryForm, status: int = 200) -> HttpResponse:
        return render(
            self.request,
            self.template,
            {
                "queries": named_query_list(),
                "form": form,
                "has_connections": Connection.objects.exists(),
            },
            status=status,
        )


class NamedQueryDetailView(AdminView):
    template = "connectors/query_detail.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        query = named_query_get(pk=pk)
        form = NamedQueryForm(
            initial={
                "name": query.name,
                "description": query.description,
                "connection": query.connection,
                "sql": query.sql,
                "parameters": parameters_as_text(query.parameters),
                "summary_template": query.summary_template,
                "max_rows": query.max_rows,
                "is_enabled": query.is_enabled,
                "assistants": list(query.assistants.all()),
            }
        )
        return self.page(query, form)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        query = named_query_get(pk=pk)
        form = NamedQueryForm(request.POST)
        if form.is_valid():
            try:
                named_query_update(
                    query=query,
                    assistants=form.cleaned_data["assistants"],
                    actor=request.user,
                    is_enabled=form.cleaned_data["is_enabled"],
                    **_query_fields(form),
                )
            except AppError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, "Named query saved.")
                return redirect("connectors:query", pk=query.pk)
        return self.page(named_query_get(pk=pk), form, status=400)

    def page(self, query: NamedQuery, form: NamedQueryForm, status: int = 200) -> HttpResponse:
        schema = parameters_schema(query.parameters)
        return render(
            self.request,
            self.template,
            {"query": query, "form": form, "parameters": query.parameters, "schema": schema},
            status=status,
        )


class NamedQueryRunView(AdminView):
    """HTMX: run the query with the parameters typed in, exactly as the assistant would."""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        query = named_query_get(pk=pk)
        arguments: dict[str, Any] = {}
        for param in query.parameters:
            raw = request.POST.get(f"param_{param['name']}", "").strip()
            if raw == "":
                continue
            if param["type"] in ("integer", "number", "boolean"):
                try:
                    arguments[param["name"]] = json.loads(
                        raw.lower() if param["type"] == "boolean" else raw
                    )
                except ValueError:
                    arguments[param["name"]] = raw
            else:
                arguments[param["name"]] = raw
        result = tool_run(
            name=query.name,
            arguments=arguments,
            context=ToolContext(
                visitor_id=request.POST.get("visitor_id", "").strip() or None,
                actor_label=self.actor_label,
            ),
        )
        return render(request, "tools/_result.html", {"result": result})


class NamedQueryDeleteView(AdminView):
    def post(self, request: HttpRequest, pk: int) -> HttpResponseRedirect:
        query = named_query_get(pk=pk)
        named_query_delete(query=query, actor=request.user)
        messages.success(request, f"Named query {query.name} deleted.")
        return HttpResponseRedirect(reverse("connectors:queries"))
