"""The free-form SQL tool end to end, against real PostgreSQL and MariaDB databases."""

from __future__ import annotations

from apps.audit.models import AuditEvent
from apps.tools.registry import ToolContext, tool_run
from tests.connectors.conftest import OTHER_VISITOR, find_leaks


def test_visitor_sees_only_their_orders(shop, run_sql):
    result = run_sql("SELECT id, status, total FROM orders ORDER BY id")
    assert result.ok, result.error_message
    assert result.data["columns"] == ["id", "status", "total"]
    assert result.data["rows"] == [
        [1, "shipped", 10.5],
        [2, "pending", 20],
        [3, "delivered", 30.25],
    ]
    assert result.summary == "Looked up orders"
    assert find_leaks(result.data) == []


def test_star_expands_to_approved_columns_only(shop, run_sql):
    result = run_sql("SELECT * FROM customers")
    assert result.ok, result.error_message
    assert result.data["columns"] == ["id", "name", "tier"]
    assert result.data["rows"] == [[1, "Alice", "gold"]]


def test_forged_filter_on_another_visitor_gets_no_rows(shop, run_sql):
    result = run_sql(f"SELECT id, status FROM orders WHERE customer_id = {OTHER_VISITOR}")  # noqa: S608
    assert result.ok
    assert result.data["rows"] == []


def test_or_true_does_not_escape_the_row_filter(shop, run_sql):
    result = run_sql("SELECT count(*) AS n FROM orders WHERE customer_id = 1001 OR 1 = 1")
    assert result.ok
    assert result.data["rows"] == [[3]]


def test_anonymous_visitor_is_refused_filtered_tables(shop, run_sql):
    result = run_sql("SELECT id FROM orders", visitor=None)
    assert not result.ok
    assert result.error_code == "visitor_not_verified"
    # A table without a row filter is still readable.
    assert run_sql("SELECT name FROM products WHERE id = 1", visitor=None).data["rows"] == [
        ["Widget"]
    ]


def test_sensitive_and_unapproved_columns_are_refused(shop, run_sql):
    sensitive = run_sql("SELECT card_number FROM orders")
    unapproved = run_sql("SELECT secret_note FROM orders")
    assert (sensitive.error_code, unapproved.error_code) == ("sql_refused", "sql_refused")
    assert "sensitive" in sensitive.error_message
    assert "not approved" in unapproved.error_message


def test_row_limit_truncates_and_says_so(in_tenant_a, scratch, run_sql):
    from tests.connectors.conftest import connection_for

    connection_for(scratch, row_limit=10)
    result = run_sql("SELECT n FROM numbers ORDER BY n")
    assert result.ok
    assert result.data["row_count"] == 10
    assert result.data["truncated"] is True
    assert result.data["rows"][-1] == [10]


def test_result_size_cap_cuts_rows(in_tenant_a, scratch, run_sql):
    from tests.connectors.conftest import connection_for

    connection_for(scratch, max_result_bytes=1024)
    result = run_sql("SELECT n FROM numbers WHERE n < 500")
    assert result.ok
    assert result.data["truncated"] is True
    assert 10 < result.data["row_count"] < 499
    assert len(result.for_model().encode()) < 1024 + 200


def test_statement_timeout_stops_a_runaway_query(in_tenant_a, scratch, run_sql):
    from tests.connectors.conftest import connection_for

    connection_for(scratch, statement_timeout_ms=300)
    result = run_sql("SELECT count(*) AS c FROM numbers a, numbers b, numbers c, numbers d")
    assert not result.ok
    assert result.error_code == "query_timeout"
    assert result.duration_ms < 5000


def test_sql_tool_is_off_by_default_and_per_assistant(in_tenant_a, scratch, assistant):
    from apps.connectors.services import connection_create, sql_tool_set
    from apps.llm.models import Assistant
    from apps.tools.registry import tools_for_assistant

    connection = connection_create(
        name="plain", engine=scratch.engine, host="127.0.0.1", database="x", username="u"
    )
    result = tool_run(name="sql_plain", arguments={"sql": "SELECT 1"}, context=ToolContext("1"))
    assert result.error_code == "unknown_tool"
    sql_tool_set(connection=connection, enabled=True, assistants=[assistant])
    other = Assistant.objects.create(name="Sales")
    assert [s.name for s in tools_for_assistant(assistant)] == ["sql_plain"]
    assert tools_for_assistant(other) == []
    refused = tool_run(
        name="sql_plain", arguments={"sql": "SELECT 1"}, context=ToolContext("1"), assistant=other
    )
    assert refused.error_code == "tool_not_enabled"


def test_every_call_is_audited_without_rows(shop, run_sql):
    run_sql("SELECT id FROM orders WHERE id = 2")
    run_sql("SELECT pg_sleep(10)")
    events = list(AuditEvent.objects.filter(action="tool.called").order_by("id"))
    assert [e.data["outcome"] for e in events] == ["ok", "sql_refused"]
    assert events[0].data["tool"] == "sql_shop"
    assert events[0].data["rows"] == 1
    assert events[0].data["arguments"] == {"sql": "SELECT id FROM orders WHERE id = 2"}
    assert events[0].data["visitor_id"] == "1"
    assert "rows" not in events[1].data
    assert "pg_sleep" in events[1].data["error"]


QUOTED = {
    # value -> how each engine spells it as a literal
    "it's": {"postgresql": "'it''s'", "mysql": "'it''s'"},
    "back\\slash": {"postgresql": "'back\\slash'", "mysql": "'back\\\\slash'"},
    "quote\\'s": {"postgresql": "'quote\\''s'", "mysql": "'quote\\\\\\'s'"},
    "50% off": {"postgresql": "'50% off'", "mysql": "'50% off'"},
    "%(visitor_id)s": {"postgresql": "'%(visitor_id)s'", "mysql": "'%(visitor_id)s'"},
    ":visitor_id": {"postgresql": "':visitor_id'", "mysql": "':visitor_id'"},
    "-- not a comment": {"postgresql": "'-- not a comment'", "mysql": "'-- not a comment'"},
    "/* nor this */": {"postgresql": "'/* nor this */'", "mysql": "'/* nor this */'"},
    "ünïcödé ✓": {"postgresql": "'ünïcödé ✓'", "mysql": "'ünïcödé ✓'"},
}


def test_string_literals_survive_the_rewrite_unchanged(shop, scratch, run_sql):
    for value, spelled in QUOTED.items():
        literal = spelled[scratch.engine]
        result = run_sql(f"SELECT {literal} AS v FROM products WHERE id = 1")  # noqa: S608
        assert result.ok, (value, result.error_message)
        assert result.data["rows"] == [[value]], value


def test_approval_changes_apply_to_the_next_call(shop, scratch, run_sql):
    from apps.connectors.services import table_approve
    from tests.connectors.conftest import introspected

    assert run_sql("SELECT name FROM products WHERE id = 1").ok
    table_approve(
        connection=shop,
        table=f"{scratch.schema}.products",
        columns=["id"],
        introspected=introspected(scratch),
    )
    assert run_sql("SELECT name FROM products WHERE id = 1").error_code == "sql_refused"
    assert run_sql("SELECT id FROM products WHERE id = 1").data["rows"] == [[1]]
