"""Operators script the setup: add_connection, approve_table, enable_sql_tool, run_tool, ..."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_tenants.utils import tenant_context

from apps.connectors.models import Connection
from tests.connectors.conftest import ROLE_PASSWORD


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def scripted(tenant_a, scratch, monkeypatch):
    """The whole setup through commands, as an operator's script would do it."""
    monkeypatch.setenv("SHOP_DB_PASSWORD", ROLE_PASSWORD)
    with tenant_context(tenant_a):
        from apps.llm.models import Assistant

        Assistant.objects.create(name="Support")
    out = run(
        "add_connection",
        "--tenant",
        "alpha",
        "--name",
        "shop",
        "--engine",
        scratch.engine,
        "--host",
        scratch.server.host,
        "--port",
        str(scratch.server.port),
        "--database",
        scratch.database,
        "--user",
        scratch.role,
        "--password-env",
        "SHOP_DB_PASSWORD",
        "--sslmode",
        "disable",
        "--test",
    )
    assert ROLE_PASSWORD not in out
    assert "Connected" in out
    out = run(
        "approve_table",
        "--tenant",
        "alpha",
        "--connection",
        "shop",
        "--table",
        f"{scratch.schema}.orders",
        "--columns",
        "id,customer_id,status",
        "--sensitive",
        "card_number",
        "--row-filter",
        "customer_id = :visitor_id",
    )
    assert "row filter: customer_id = :visitor_id" in out
    run("enable_sql_tool", "--tenant", "alpha", "--connection", "shop", "--assistant", "Support")
    run(
        "add_named_query",
        "--tenant",
        "alpha",
        "--connection",
        "shop",
        "--name",
        "get_order_status",
        "--description",
        "Status of an order",
        "--sql",
        "SELECT id, status FROM orders WHERE id = :order_id",
        "--param",
        "order_id:integer:The order number",
        "--summary",
        "Looked up order {order_id}",
        "--assistant",
        "Support",
    )
    return scratch


def test_scripted_setup_runs_tools_like_the_assistant(scripted):
    out = run(
        "run_tool",
        "--tenant",
        "alpha",
        "--visitor-id",
        "1",
        "get_order_status",
        "--args",
        '{"order_id": 2}',
    )
    body = json.loads(out)
    assert body["summary"] == "Looked up order 2"
    assert body["data"]["rows"] == [[2, "pending"]]
    sql = json.loads(
        run(
            "run_tool",
            "--tenant",
            "alpha",
            "--visitor-id",
            "1",
            "sql_shop",
            "--args",
            '{"sql": "SELECT count(*) AS n FROM orders"}',
        )
    )
    assert sql["data"]["rows"] == [[3]]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["sql_shop", "--args", '{"sql": "DELETE FROM orders"}'], "sql_refused"),
        (["sql_shop", "--args", '{"sql": "SELECT id FROM orders"}'], "visitor_not_verified"),
        (["get_order_status", "--args", "not json"], "invalid_arguments"),
        (["no_such_tool"], "unknown_tool"),
        (
            ["get_order_status", "--args", '{"order_id": 1}', "--assistant", "Nobody"],
            "assistant_not_found",
        ),
    ],
)
def test_refusals_are_one_line_and_exit_2(scripted, args, code):
    with pytest.raises(CommandError) as excinfo:
        run("run_tool", "--tenant", "alpha", *args)
    assert excinfo.value.returncode == 2
    assert f"[{code}]" in str(excinfo.value)
    assert "\n" not in str(excinfo.value)


def test_password_comes_only_from_a_named_variable(tenant_a, monkeypatch):
    monkeypatch.delenv("MISSING_PASSWORD_VAR", raising=False)
    with pytest.raises(CommandError) as excinfo:
        run(
            "add_connection",
            "--tenant",
            "alpha",
            "--name",
            "x",
            "--engine",
            "mysql",
            "--host",
            "127.0.0.1",
            "--database",
            "d",
            "--user",
            "u",
            "--password-env",
            "MISSING_PASSWORD_VAR",
        )
    assert excinfo.value.returncode == 2
    assert "[missing_secret]" in str(excinfo.value)
    with tenant_context(tenant_a):
        assert not Connection.objects.exists()


def test_add_connection_again_updates_it(scripted, tenant_a):
    run(
        "add_connection",
        "--tenant",
        "alpha",
        "--name",
        "shop",
        "--engine",
        scripted.engine,
        "--host",
        "db.internal.example",
        "--database",
        "other",
        "--user",
        "reader",
    )
    with tenant_context(tenant_a):
        connection = Connection.objects.get(name="shop")
        assert (connection.host, connection.database) == ("db.internal.example", "other")
        assert connection.password == ROLE_PASSWORD  # kept: no --password-env given


def test_bad_approval_exits_2(scripted):
    with pytest.raises(CommandError) as excinfo:
        run(
            "approve_table",
            "--tenant",
            "alpha",
            "--connection",
            "shop",
            "--table",
            "orders",
            "--columns",
            "id",
            "--row-filter",
            "customer_id = :someone",
        )
    assert excinfo.value.returncode == 2
    assert "[invalid_row_filter]" in str(excinfo.value)


def test_add_http_tool_reads_secret_headers_from_the_environment(tenant_a, monkeypatch):
    monkeypatch.setenv("SHOP_API_TOKEN", "Bearer abc-secret-123")
    out = run(
        "add_http_tool",
        "--tenant",
        "alpha",
        "--name",
        "track_parcel",
        "--description",
        "Track a parcel",
        "--url",
        "https://api.carrier.test/parcels/{parcel}",
        "--allowed-host",
        "api.carrier.test",
        "--parameters",
        '{"type": "object", "properties": {"parcel": {"type": "string"}}}',
        "--secret-header-env",
        "Authorization=SHOP_API_TOKEN",
        "--response-field",
        "status",
    )
    assert "abc-secret-123" not in out
    from apps.tools.models import HttpTool

    with tenant_context(tenant_a):
        tool = HttpTool.objects.get(name="track_parcel")
        assert tool.get_secret_headers() == {"Authorization": "Bearer abc-secret-123"}
