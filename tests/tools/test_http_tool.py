"""Custom HTTP tools against a real loopback server: hosts, redirects, caps, secrets."""

from __future__ import annotations

import logging

import pytest

from apps.audit.models import AuditEvent
from apps.core.errors import AppError
from apps.tools import netguard
from apps.tools.models import HttpTool
from apps.tools.registry import ToolContext, tool_run, tools_for_assistant
from apps.tools.services import http_tool_create, http_tool_update
from tests.tools.conftest import SECRET_TOKEN

ORDER_PARAMS = {
    "type": "object",
    "properties": {"order_id": {"type": "string", "description": "Order number"}},
    "required": ["order_id"],
    "additionalProperties": False,
}


def make_tool(loopback, *, path="/orders/{order_id}", **overrides) -> HttpTool:
    fields = {
        "name": "order_lookup",
        "description": "Look up an order in the shop API.",
        "url_template": loopback.url(path),
        "allowed_hosts": ["127.0.0.1"],
        "parameters": ORDER_PARAMS,
        "secret_headers": {"Authorization": SECRET_TOKEN},
        "headers": {"X-Shop": "main"},
        "response_fields": ["id", "status", "items.*.name"],
        # Loopback is a private address: these tests tick the box for their tool.
        "allow_private_network": True,
        "summary_template": "Looked up order {order_id}",
    }
    if "parameters" in overrides:
        fields["summary_template"] = ""
    fields.update(overrides)
    return http_tool_create(**fields)


def call(name="order_lookup", arguments=None, visitor="42", **kwargs):
    return tool_run(
        name=name,
        arguments=arguments if arguments is not None else {"order_id": "1234"},
        context=ToolContext(visitor_id=visitor),
        **kwargs,
    )


def test_allowed_host_returns_only_the_chosen_fields(in_tenant_a, loopback):
    make_tool(loopback)
    result = call()
    assert result.ok, result.error_message
    assert result.data == {
        "status": 200,
        "data": {"id": "1234", "status": "shipped", "items.*.name": ["Widget", "Gadget"]},
    }
    assert result.summary == "Looked up order 1234"
    request = loopback.received[-1]
    assert request.path == "/orders/1234"
    assert request.headers["Authorization"] == SECRET_TOKEN
    assert request.headers["X-Shop"] == "main"
    assert request.headers["Host"] == f"127.0.0.1:{loopback.port}"


def test_secret_headers_never_reach_logs_results_or_audit(in_tenant_a, loopback, caplog):
    make_tool(loopback)
    caplog.set_level(logging.DEBUG)
    results = [
        call(),
        call(arguments={"order_id": "../x"}),
        call(name="order_lookup", arguments="{"),
    ]
    http_tool_update(tool=HttpTool.objects.get(), url_template=loopback.url("/error"))
    results.append(call())
    secret = SECRET_TOKEN.split()[1]
    assert secret not in caplog.text
    for result in results:
        assert secret not in repr(result) and secret not in result.for_model()
    assert all(secret not in str(e.data) for e in AuditEvent.objects.all())
    assert AuditEvent.objects.filter(action="tool.called").count() == 4


def test_secret_headers_are_encrypted_at_rest_and_never_shown(in_tenant_a, loopback):
    from django.db import connection

    tool = make_tool(loopback)
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret_headers FROM tools_httptool WHERE id = %s", [tool.pk])
        raw = cursor.fetchone()[0]
    assert SECRET_TOKEN not in raw
    assert tool.secret_header_names == ["Authorization"]
    assert HttpTool.objects.get().get_secret_headers() == {"Authorization": SECRET_TOKEN}


def test_default_refuses_loopback(in_tenant_a, loopback):
    make_tool(loopback, allow_private_network=False)
    result = call()
    assert (result.ok, result.error_code) == (False, "private_address_refused")
    assert loopback.received == []


@pytest.mark.parametrize(
    ("target", "code"),
    [
        ("http://evil.example/steal", "host_not_allowed"),
        ("http://169.254.169.254/latest/meta-data/", "metadata_refused"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata_refused"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "metadata_refused"),
        ("file:///etc/passwd", "scheme_refused"),
        ("http://user:pw@127.0.0.1/", "url_refused"),
    ],
)
def test_redirect_to_a_refused_destination_is_refused(in_tenant_a, loopback, target, code):
    from urllib.parse import quote

    make_tool(
        loopback, path=f"/redirect?to={quote(target, safe='')}", parameters={"type": "object"}
    )
    result = call(arguments={})
    assert (result.ok, result.error_code) == (False, code), result.error_message
    assert len(loopback.received) == 1


def test_redirect_within_allowed_hosts_is_followed(in_tenant_a, loopback):
    from urllib.parse import quote

    make_tool(
        loopback, path=f"/redirect?to={quote('/orders/77', safe='')}", parameters={"type": "object"}
    )
    result = call(arguments={})
    assert result.ok
    assert result.data["data"]["id"] == "77"
    assert [r.path for r in loopback.received] == [loopback.received[0].path, "/orders/77"]


def test_redirect_to_another_allowed_host_drops_secret_headers(in_tenant_a, loopback, monkeypatch):
    from urllib.parse import quote

    monkeypatch.setattr(netguard, "resolve_host", lambda host, port: ["127.0.0.1"])
    target = f"http://api.partner.test:{loopback.port}/orders/5"
    make_tool(
        loopback,
        path=f"/redirect?to={quote(target, safe='')}",
        parameters={"type": "object"},
        allowed_hosts=["127.0.0.1", "api.partner.test"],
    )
    assert call(arguments={}).ok
    first, second = loopback.received
    assert first.headers["Authorization"] == SECRET_TOKEN
    assert "Authorization" not in second.headers
    assert second.headers["Host"] == f"api.partner.test:{loopback.port}"


def test_redirect_loops_stop(in_tenant_a, loopback):
    make_tool(loopback, path="/loop", parameters={"type": "object"})
    assert call(arguments={}).error_code == "too_many_redirects"


@pytest.mark.parametrize("path", ["/big", "/big-unannounced"])
def test_oversized_response_is_refused(in_tenant_a, loopback, path):
    make_tool(loopback, path=path, parameters={"type": "object"}, max_response_bytes=100_000)
    result = call(arguments={})
    assert (result.ok, result.error_code) == (False, "response_too_large")


def test_slow_service_times_out(in_tenant_a, loopback):
    make_tool(loopback, path="/slow", parameters={"type": "object"}, timeout_seconds=0.5)
    result = call(arguments={})
    assert (result.ok, result.error_code) == (False, "http_timeout")
    assert result.duration_ms < 2500


def test_server_error_is_reported_not_raised(in_tenant_a, loopback):
    make_tool(loopback, path="/error", parameters={"type": "object"})
    result = call(arguments={})
    assert (result.ok, result.error_code) == (False, "http_error")
    assert "500" in result.error_message


def test_dns_is_resolved_once_and_the_connection_goes_to_the_checked_address(
    in_tenant_a, loopback, monkeypatch
):
    answers = iter([["127.0.0.1"], ["10.9.8.7"], ["10.9.8.7"]])
    calls = []

    def resolve(host, port):
        calls.append(host)
        return next(answers)

    monkeypatch.setattr(netguard, "resolve_host", resolve)
    make_tool(
        loopback,
        url_template=f"http://shop-api.test:{loopback.port}/orders/{{order_id}}",
        allowed_hosts=["shop-api.test"],
    )
    result = call()
    assert result.ok, result.error_message
    assert calls == ["shop-api.test"]
    assert loopback.received[-1].headers["Host"] == f"shop-api.test:{loopback.port}"


def test_host_resolving_to_a_private_address_is_refused_by_default(in_tenant_a, monkeypatch):
    monkeypatch.setattr(netguard, "resolve_host", lambda host, port: ["93.184.216.34", "10.0.0.5"])
    http_tool_create(
        name="rebound",
        description="x",
        url_template="https://api.example.com/x",
        allowed_hosts=["api.example.com"],
    )
    result = call(name="rebound", arguments={})
    assert (result.ok, result.error_code) == (False, "private_address_refused")


def test_arguments_are_encoded_into_one_path_segment(in_tenant_a, loopback):
    make_tool(loopback)
    assert call(arguments={"order_id": "a/b?c=d#e"}).ok
    assert loopback.received[-1].path == "/orders/a%2Fb%3Fc%3Dd%23e"
    assert call(arguments={"order_id": ".."}).error_code == "invalid_arguments"
    assert call(arguments={"order_id": "../admin"}).error_code == "invalid_arguments"


def test_visitor_comes_only_from_the_context(in_tenant_a, loopback):
    make_tool(loopback, path="/customers/{visitor_id}/orders", parameters={"type": "object"})
    assert call(arguments={}, visitor="42").ok
    assert loopback.received[-1].path == "/customers/42/orders"
    assert call(arguments={}, visitor=None).error_code == "visitor_not_verified"
    with pytest.raises(AppError, match="reserved"):
        make_tool(
            loopback,
            name="spoofable",
            parameters={"type": "object", "properties": {"visitor_id": {"type": "string"}}},
        )


def test_post_body_template_keeps_argument_types(in_tenant_a, loopback):
    make_tool(
        loopback,
        path="/returns",
        method="POST",
        parameters={
            "type": "object",
            "properties": {"order_id": {"type": "integer"}, "reason": {"type": "string"}},
            "required": ["order_id"],
        },
        body_template={
            "order": "{order_id}",
            "note": "Reason: {reason}",
            "customer": "{visitor_id}",
        },
        response_fields=[],
        summary_template="Asked to return order {order_id}",
    )
    result = call(arguments={"order_id": 7, "reason": '"quoted" text'})
    assert result.ok, result.error_message
    assert result.data["data"] == {
        "received": {"order": 7, "note": 'Reason: "quoted" text', "customer": "42"}
    }


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"url_template": "http://{host}/x"}, "invalid_url"),
        ({"url_template": "ftp://127.0.0.1/x"}, "invalid_url"),
        ({"url_template": "http://other.example/x"}, "host_not_allowed"),
        ({"allowed_hosts": ["169.254.169.254"]}, "host_not_allowed"),
        ({"allowed_hosts": ["metadata.google.internal"]}, "host_not_allowed"),
        ({"url_template": "http://127.0.0.1/orders/{nope}"}, "invalid_url"),
        ({"headers": {"X-Id": "{order_id}"}}, "invalid_headers"),
        ({"headers": {"Host": "evil"}}, "invalid_headers"),
        ({"secret_headers": {"X-Key": "a\r\nInjected: 1"}}, "invalid_headers"),
        ({"parameters": {"type": "string"}}, "invalid_schema"),
        ({"name": "sql_shop"}, "reserved_name"),
        ({"summary_template": "Order {nope}"}, "invalid_summary"),
    ],
)
def test_bad_tool_definitions_are_refused(in_tenant_a, loopback, overrides, code):
    with pytest.raises(AppError) as excinfo:
        make_tool(loopback, **overrides)
    assert excinfo.value.code == code


def test_tool_is_offered_only_to_its_assistants(in_tenant_a, loopback, assistant):
    from apps.llm.models import Assistant

    make_tool(loopback, assistants=[assistant])
    other = Assistant.objects.create(name="Other")
    assert [s.name for s in tools_for_assistant(assistant)] == ["order_lookup"]
    assert tools_for_assistant(other) == []
    assert call(assistant=other).error_code == "tool_not_enabled"
    assert call(assistant=assistant).ok
