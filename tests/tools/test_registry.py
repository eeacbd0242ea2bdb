"""The engine's contract: specs, results for the model, and tool_run never raising."""

from __future__ import annotations

import json
import logging

from apps.audit.models import AuditEvent
from apps.tools import http_tools
from apps.tools.registry import (
    ToolContext,
    ToolResult,
    ToolSpec,
    mask_arguments,
    tool_run,
    tools_for_assistant,
)
from apps.tools.services import http_tool_create


def test_spec_as_openai_function():
    spec = ToolSpec("get_order_status", "Order status", {"type": "object", "properties": {}})
    assert spec.as_openai() == {
        "type": "function",
        "function": {
            "name": "get_order_status",
            "description": "Order status",
            "parameters": {"type": "object", "properties": {}},
        },
    }


def test_for_model_is_compact_json():
    ok = ToolResult(ok=True, data={"rows": [[1, "é"]]}, summary="x", duration_ms=3)
    assert ok.for_model() == '{"ok":true,"data":{"rows":[[1,"é"]]}}'
    refused = ToolResult(ok=False, error_code="sql_refused", error_message="No.")
    assert json.loads(refused.for_model()) == {
        "ok": False,
        "error": {"code": "sql_refused", "message": "No."},
    }


def test_no_assistant_means_no_tools(in_tenant_a):
    assert tools_for_assistant(None) == []


def test_unknown_and_malformed_calls_are_coded_not_raised(in_tenant_a):
    context = ToolContext(visitor_id=None)
    assert tool_run(name="nope", arguments={}, context=context).error_code == "unknown_tool"
    assert tool_run(name="../../x", arguments={}, context=context).error_code == "unknown_tool"
    assert tool_run(name="nope", arguments="[1]", context=context).error_code == "invalid_arguments"
    assert tool_run(name="nope", arguments="{", context=context).error_code == "invalid_arguments"
    outcomes = list(
        AuditEvent.objects.filter(action="tool.called")
        .order_by("id")
        .values_list("data__outcome", flat=True)
    )
    assert outcomes == ["unknown_tool", "unknown_tool", "invalid_arguments", "invalid_arguments"]


def test_an_unexpected_bug_becomes_tool_failed(in_tenant_a, monkeypatch, caplog):
    http_tool_create(
        name="buggy",
        description="x",
        url_template="https://api.example.com/",
        allowed_hosts=["api.example.com"],
    )

    def explode(*args, **kwargs):
        raise RuntimeError("password=hunter2 kaboom")

    monkeypatch.setattr(http_tools, "fetch", explode)
    with caplog.at_level(logging.ERROR):
        result = tool_run(name="buggy", arguments={}, context=ToolContext("7", actor_label="cli"))
    assert (result.ok, result.error_code) == (False, "tool_failed")
    assert "kaboom" not in result.error_message
    assert "hunter2" not in caplog.text
    event = AuditEvent.objects.get(action="tool.called")
    assert (event.actor_label, event.data["outcome"]) == ("cli", "tool_failed")


def test_arguments_are_masked_for_the_audit_log():
    assert mask_arguments({"order_id": 5, "password": "x", "nested": {"api_key": "y"}}) == {
        "order_id": 5,
        "password": "***",
        "nested": {"api_key": "***"},
    }
    assert "sk-abcdefghijklmnop" not in str(mask_arguments({"q": "key sk-abcdefghijklmnop"}))
