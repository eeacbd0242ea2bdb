"""The audit log page: admins read their own tenant's events, filtered; others get 404."""

from __future__ import annotations

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from apps.audit.services import audit_record
from apps.tenants.models import Role
from apps.tenants.services import membership_set
from tests.factories import UserFactory


@pytest.fixture
def alpha_client(seeded) -> Client:
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(seeded["alpha"].owner)
    return client


def test_owner_sees_events_newest_first(alpha_client, tenant_a):
    with tenant_context(tenant_a):
        audit_record(
            action="widget.updated", object_type="widget", object_id="w1", ip_address="10.1.2.3"
        )
        audit_record(action="tool.called", object_type="tool", object_id="order_status")
    body = alpha_client.get("/audit/").content.decode()
    assert body.index("tool.called") < body.index("widget.updated") < body.index("tenant.created")
    assert "10.1.2.3" in body


def test_filters_by_kind_and_person(alpha_client, tenant_a):
    with tenant_context(tenant_a):
        audit_record(action="widget.updated")
        audit_record(action="tool.called")
    body = alpha_client.get("/audit/?action=widget.").content.decode()
    assert "widget.updated" in body and "tool.called" not in body
    nobody = alpha_client.get("/audit/?actor=nobody@nowhere").content.decode()
    assert "Nothing recorded for these filters" in nobody


def test_a_bad_date_filter_is_ignored_not_an_error(alpha_client):
    assert alpha_client.get("/audit/?since=not-a-date").status_code == 200


def test_events_of_another_tenant_never_show(alpha_client, tenant_b):
    with tenant_context(tenant_b):
        audit_record(action="secret.beta.event")
    assert "secret.beta.event" not in alpha_client.get("/audit/").content.decode()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.AGENT])
def test_viewers_and_agents_get_404(tenant_a, role):
    person = UserFactory()
    membership_set(tenant=tenant_a, user=person, role=role)
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(person)
    assert client.get("/audit/").status_code == 404


def test_admin_can_read(tenant_a):
    person = UserFactory()
    membership_set(tenant=tenant_a, user=person, role=Role.ADMIN)
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(person)
    assert client.get("/audit/").status_code == 200
