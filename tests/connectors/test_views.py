"""Backoffice pages for data sources: admins only, each action through its service."""

from __future__ import annotations

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from apps.connectors.models import ApprovedTable, Connection, NamedQuery
from apps.tenants.models import Role
from apps.tenants.services import membership_set
from tests.connectors.conftest import ROLE_PASSWORD, connection_for
from tests.factories import UserFactory


@pytest.fixture
def admin_client(seeded) -> Client:
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(seeded["alpha"].owner)
    return client


def test_pages_are_for_admins_only(tenant_a, admin_client):
    agent = UserFactory()
    membership_set(tenant=tenant_a, user=agent, role=Role.AGENT)
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(agent)
    for url in ("/connectors/", "/connectors/queries/", "/tools/"):
        assert client.get(url).status_code == 404
        assert admin_client.get(url).status_code == 200
    assert Client(HTTP_HOST="alpha.localhost").get("/connectors/").status_code == 302


def test_nav_links_to_the_pages(admin_client):
    body = admin_client.get("/").content.decode()
    assert 'href="/connectors/"' in body and 'href="/tools/"' in body


def test_add_test_and_approve_through_the_pages(tenant_a, admin_client, scratch):
    response = admin_client.post(
        "/connectors/",
        {
            "name": "shop", "engine": scratch.engine, "host": scratch.server.host,
            "port": scratch.server.port, "database": scratch.database,
            "username": scratch.role, "password": ROLE_PASSWORD, "sslmode": "disable",
        },
    )  # fmt: skip
    assert response.status_code == 302
    with tenant_context(tenant_a):
        connection = Connection.objects.get(name="shop")
    detail = admin_client.get(response["Location"]).content.decode()
    assert ROLE_PASSWORD not in detail
    assert "Test connection" in detail
    tested = admin_client.post(f"/connectors/{connection.pk}/test/", HTTP_HX_REQUEST="true")
    assert b"Connected" in tested.content
    browser = admin_client.get(f"/connectors/{connection.pk}/tables/", HTTP_HX_REQUEST="true")
    assert f"{scratch.schema}.orders".encode() in browser.content
    admin_client.post(
        f"/connectors/{connection.pk}/tables/approve/",
        {
            "table": f"{scratch.schema}.orders", "columns": ["id", "status"],
            "sensitive": ["card_number"], "row_filter": "customer_id = :visitor_id",
        },
    )  # fmt: skip
    with tenant_context(tenant_a):
        approved = ApprovedTable.objects.get(connection=connection)
    assert approved.columns == ["id", "status"]
    page = admin_client.get(f"/connectors/{connection.pk}/").content.decode()
    assert "customer_id = :visitor_id" in page
    admin_client.post(f"/connectors/{connection.pk}/tables/{approved.pk}/revoke/")
    with tenant_context(tenant_a):
        assert not ApprovedTable.objects.exists()


def test_bad_connection_form_shows_the_coded_error(admin_client):
    response = admin_client.post(
        "/connectors/",
        {"name": "x", "engine": "postgresql", "host": "169.254.169.254", "database": "d",
         "username": "u", "sslmode": "disable"},
    )  # fmt: skip
    assert response.status_code == 400
    assert b"metadata" in response.content


def test_sql_switch_and_named_query_test_run(tenant_a, admin_client, scratch):
    with tenant_context(tenant_a):
        from apps.llm.models import Assistant

        assistant = Assistant.objects.create(name="Support")
        connection = connection_for(scratch)
    admin_client.post(
        f"/connectors/{connection.pk}/sql-tool/", {"enabled": "on", "assistants": [assistant.pk]}
    )
    with tenant_context(tenant_a):
        assert list(Connection.objects.get().sql_tool_assistants.all()) == [assistant]
    response = admin_client.post(
        "/connectors/queries/",
        {
            "name": "get_order_status", "description": "Order status",
            "connection": connection.pk,
            "sql": "SELECT id, status FROM orders WHERE id = :order_id",
            "parameters": "order_id:integer:The order number", "max_rows": 50,
            "is_enabled": "on", "summary_template": "Looked up order {order_id}",
        },
    )  # fmt: skip
    assert response.status_code == 302, response.content
    with tenant_context(tenant_a):
        query = NamedQuery.objects.get()
    run = admin_client.post(
        f"/connectors/queries/{query.pk}/run/",
        {"param_order_id": "2", "visitor_id": "1"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "pending" in run and "Looked up order 2" in run
    refused = admin_client.post(
        f"/connectors/queries/{query.pk}/run/", {"param_order_id": "2"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "visitor_not_verified" in refused
    with tenant_context(tenant_a):
        from apps.audit.models import AuditEvent

        labels = set(
            AuditEvent.objects.filter(action="tool.called").values_list("actor_label", flat=True)
        )
    assert labels == {"backoffice:owner@alpha.test"}


def test_invalid_named_query_is_shown_not_saved(tenant_a, admin_client, scratch):
    with tenant_context(tenant_a):
        connection = connection_for(scratch)
    response = admin_client.post(
        "/connectors/queries/",
        {"name": "steal", "description": "x", "connection": connection.pk,
         "sql": "SELECT value FROM secrets", "max_rows": 5},
    )  # fmt: skip
    assert response.status_code == 400
    assert b"not approved" in response.content
