"""Named queries: typed parameters, bound values only, the visitor from the context only."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.connectors.models import ApprovedTable
from apps.connectors.services import named_query_create, named_query_update, table_revoke
from apps.core.errors import AppError
from apps.tools.registry import ToolContext, tool_run, tools_for_assistant
from tests.connectors.conftest import OTHER_VISITOR, VISITOR, find_leaks


@pytest.fixture
def order_status(shop, assistant):
    return named_query_create(
        name="get_order_status",
        description="Status of one of the visitor's orders.",
        connection=shop,
        sql="SELECT id, status, total FROM orders WHERE id = :order_id",
        parameters=[{"name": "order_id", "type": "integer", "description": "The order number"}],
        summary_template="Looked up order {order_id}",
        assistants=[assistant],
    )


def call(name, arguments, visitor=VISITOR, **kwargs):
    return tool_run(name=name, arguments=arguments, context=ToolContext(visitor), **kwargs)


def test_named_query_returns_the_visitors_order(order_status):
    result = call("get_order_status", {"order_id": 2})
    assert result.ok, result.error_message
    assert result.data["rows"] == [[2, "pending", 20]]
    assert result.summary == "Looked up order 2"


def test_forged_call_for_another_visitors_order_gets_nothing(order_status):
    # The model was talked into asking for order 1000001, which belongs to customer 1001.
    result = call("get_order_status", {"order_id": 1_000_001})
    assert result.ok
    assert result.data["rows"] == []
    assert find_leaks(result.data) == []


def test_the_visitor_cannot_be_passed_as_an_argument(order_status):
    result = call("get_order_status", '{"order_id": 1000001, "visitor_id": "1001"}')
    assert not result.ok
    assert result.error_code == "invalid_arguments"


def test_anonymous_visitor_is_refused(order_status):
    result = call("get_order_status", {"order_id": 2}, visitor=None)
    assert (result.ok, result.error_code) == (False, "visitor_not_verified")


def test_arguments_are_typed(order_status):
    assert call("get_order_status", {"order_id": "2 OR 1=1"}).error_code == "invalid_arguments"
    assert call("get_order_status", {}).error_code == "invalid_arguments"
    assert call("get_order_status", "{not json").error_code == "invalid_arguments"


def test_spec_is_offered_to_enabled_assistants(order_status, assistant):
    specs = {spec.name: spec for spec in tools_for_assistant(assistant)}
    spec = specs["get_order_status"].as_openai()
    assert spec["type"] == "function"
    assert spec["function"]["parameters"] == {
        "type": "object",
        "properties": {"order_id": {"type": "integer", "description": "The order number"}},
        "required": ["order_id"],
        "additionalProperties": False,
    }


def test_visitor_placeholder_binds_the_verified_visitor(shop):
    named_query_create(
        name="my_order_count",
        description="How many orders the visitor has.",
        connection=shop,
        sql="SELECT count(*) AS n FROM orders o WHERE o.customer_id = :visitor_id",
    )
    assert call("my_order_count", {}).data["rows"] == [[3]]
    assert call("my_order_count", {}, visitor=OTHER_VISITOR).data["rows"] == [[1]]


def test_sensitive_columns_may_filter_but_never_be_returned(shop):
    named_query_create(
        name="customer_by_email",
        description="Find the visitor by email.",
        connection=shop,
        sql="SELECT name FROM customers WHERE email = :email",
        parameters=[{"name": "email", "type": "string"}],
    )
    assert call("customer_by_email", {"email": "alice@SENSITIVE.example"}).data["rows"] == [
        ["Alice"]
    ]
    with pytest.raises(AppError, match="sensitive"):
        named_query_create(
            name="leak_email",
            description="x",
            connection=shop,
            sql="SELECT email FROM customers",
        )


@pytest.mark.parametrize(
    ("sql", "parameters", "code"),
    [
        ("SELECT value FROM secrets", [], "sql_refused"),
        ("DELETE FROM orders WHERE id = :order_id", [{"name": "order_id"}], "sql_refused"),
        ("SELECT id FROM orders WHERE id = :order_id", [], "sql_refused"),
        ("SELECT id FROM orders", [{"name": "order_id", "type": "integer"}], "invalid_parameters"),
        (
            "SELECT id FROM orders WHERE customer_id = :visitor_id",
            [{"name": "visitor_id", "type": "string"}],
            "reserved_parameter",
        ),
        ("SELECT id FROM orders", [{"name": "x", "type": "blob"}], "invalid_parameters"),
    ],
)
def test_bad_named_queries_are_refused_when_saved(shop, sql, parameters, code):
    with pytest.raises(AppError) as excinfo:
        named_query_create(
            name="bad_query", description="x", connection=shop, sql=sql, parameters=parameters
        )
    assert excinfo.value.code == code


def test_a_query_stops_working_when_its_table_is_revoked(order_status, shop):
    table_revoke(approved=ApprovedTable.objects.get(connection=shop, table_name="orders"))
    result = call("get_order_status", {"order_id": 2})
    assert (result.ok, result.error_code) == (False, "sql_refused")


def test_disabled_query_and_other_assistant_are_refused(order_status, assistant):
    from apps.llm.models import Assistant

    other = Assistant.objects.create(name="Other")
    assert call("get_order_status", {"order_id": 2}, assistant=other).error_code == (
        "tool_not_enabled"
    )
    named_query_update(query=order_status, is_enabled=False)
    assert call("get_order_status", {"order_id": 2}).error_code == "unknown_tool"
    assert tools_for_assistant(assistant) == [] or all(
        s.name != "get_order_status" for s in tools_for_assistant(assistant)
    )


def test_date_and_optional_parameters(shop):
    named_query_create(
        name="orders_since",
        description="Orders placed since a date.",
        connection=shop,
        sql="SELECT id FROM orders WHERE placed_on >= :since ORDER BY id",
        parameters=[{"name": "since", "type": "date"}],
    )
    assert call("orders_since", {"since": "2024-02-01"}).data["rows"] == [[2], [3]]
    assert call("orders_since", {"since": "2024-13-45"}).error_code == "invalid_arguments"
    assert call("orders_since", {"since": "yesterday"}).error_code == "invalid_arguments"


def test_named_query_call_is_audited(order_status):
    call("get_order_status", {"order_id": 3})
    event = AuditEvent.objects.filter(action="tool.called").latest("id")
    assert event.data["tool"] == "get_order_status"
    assert event.data["kind"] == "named_query"
    assert event.data["arguments"] == {"order_id": 3}
    assert event.data["outcome"] == "ok"
    assert event.data["rows"] == 1
    assert event.actor_label == "assistant"
