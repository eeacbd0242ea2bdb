"""Backoffice pages for HTTP tools, with a test call."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from apps.tools.models import HttpTool
from tests.tools.conftest import SECRET_TOKEN


@pytest.fixture
def admin_client(seeded) -> Client:
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(seeded["alpha"].owner)
    return client


def test_create_and_test_call_an_http_tool(tenant_a, admin_client, loopback):
    response = admin_client.post(
        "/tools/",
        {
            "name": "order_lookup",
            "description": "Look up an order",
            "method": "GET",
            "url_template": loopback.url("/orders/{order_id}"),
            "allowed_hosts": "127.0.0.1",
            "parameters": json.dumps(
                {"type": "object", "properties": {"order_id": {"type": "string"}}}
            ),
            "secret_headers": f"Authorization: {SECRET_TOKEN}",
            "timeout_seconds": 5,
            "max_response_bytes": 100000,
            "response_fields": "id, status",
            "allow_private_network": "on",
            "is_enabled": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()
    with tenant_context(tenant_a):
        tool = HttpTool.objects.get()
    page = admin_client.get(f"/tools/{tool.pk}/").content.decode()
    assert SECRET_TOKEN not in page
    assert "Authorization" in page
    result = admin_client.post(
        f"/tools/{tool.pk}/test/", {"arguments": '{"order_id": "9"}'}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "shipped" in result
    assert SECRET_TOKEN not in result
    assert loopback.received[-1].headers["Authorization"] == SECRET_TOKEN


def test_saving_without_secret_headers_keeps_them(tenant_a, admin_client, loopback):
    from apps.tools.services import http_tool_create

    with tenant_context(tenant_a):
        tool = http_tool_create(
            name="t", description="d", url_template=loopback.url("/x"), allowed_hosts=["127.0.0.1"],
            secret_headers={"X-Key": "k-123"}, allow_private_network=True,
        )  # fmt: skip
    response = admin_client.post(
        f"/tools/{tool.pk}/",
        {"name": "t", "description": "new", "method": "GET", "url_template": loopback.url("/x"),
         "allowed_hosts": "127.0.0.1", "timeout_seconds": 5, "max_response_bytes": 1000,
         "is_enabled": "on", "allow_private_network": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    with tenant_context(tenant_a):
        assert HttpTool.objects.get().get_secret_headers() == {"X-Key": "k-123"}


def test_form_refuses_metadata_host(admin_client):
    response = admin_client.post(
        "/tools/",
        {"name": "meta", "description": "d", "method": "GET",
         "url_template": "http://169.254.169.254/latest", "allowed_hosts": "169.254.169.254",
         "timeout_seconds": 5, "max_response_bytes": 1000, "allow_private_network": "on"},
    )  # fmt: skip
    assert response.status_code == 400
    assert b"metadata" in response.content
