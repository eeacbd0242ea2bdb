"""A connection, named query or HTTP tool of tenant alpha is invisible and unrunnable in beta."""

from __future__ import annotations

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from apps.connectors.models import Connection
from apps.connectors.selectors import connection_get
from apps.connectors.services import connection_create, sql_tool_set
from apps.core.errors import NotFound
from apps.llm.models import Assistant
from apps.tools.registry import ToolContext, find_tool, tool_run, tools_for_assistant
from apps.tools.services import http_tool_create


@pytest.fixture
def alpha_tools(tenant_a):
    with tenant_context(tenant_a):
        assistant = Assistant.objects.create(name="Alpha bot")
        connection = connection_create(
            name="alpha_db", engine="postgresql", host="127.0.0.1", database="x", username="u"
        )
        sql_tool_set(connection=connection, enabled=True, assistants=[assistant])
        http_tool_create(
            name="alpha_http",
            description="x",
            url_template="https://api.alpha.test/",
            allowed_hosts=["api.alpha.test"],
            assistants=[assistant],
        )
        # A named query needs an approved table; build the row directly, as a saved state.
        from apps.connectors.models import NamedQuery

        NamedQuery.objects.create(
            name="alpha_query", description="x", connection=connection, sql="SELECT 1"
        )
        return connection


@pytest.mark.parametrize("name", ["sql_alpha_db", "alpha_http", "alpha_query"])
def test_alpha_tools_do_not_exist_in_beta(alpha_tools, tenant_b, name):
    with tenant_context(tenant_b):
        assert find_tool(name) is None
        result = tool_run(name=name, arguments={}, context=ToolContext("1"))
        assert (result.ok, result.error_code) == (False, "unknown_tool")
        beta_bot = Assistant.objects.create(name="Beta bot")
        assert tools_for_assistant(beta_bot) == []
    with tenant_context(tenant_b):
        assert not Connection.objects.exists()


def test_connection_lookup_in_beta_says_not_found(alpha_tools, tenant_b):
    with tenant_context(tenant_b), pytest.raises(NotFound):
        connection_get(name="alpha_db")


def test_alpha_owner_cannot_see_alpha_pages_on_beta_host(alpha_tools, seeded):
    client = Client(HTTP_HOST="beta.localhost")
    client.force_login(seeded["alpha"].owner)
    assert client.get("/connectors/").status_code == 404
    owner_b = Client(HTTP_HOST="beta.localhost")
    owner_b.force_login(seeded["beta"].owner)
    page = owner_b.get("/connectors/")
    assert page.status_code == 200
    assert b"alpha_db" not in page.content
    assert owner_b.get(f"/connectors/{alpha_tools.pk}/").status_code == 404
