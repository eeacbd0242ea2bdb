"""The API keys page: list, create (the secret shown exactly once), revoke; audited; admins and
owners only; beta's keys never listed or revocable from alpha."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from apps.accounts.models import ApiKey
from apps.accounts.selectors import api_key_resolve
from apps.accounts.services import api_key_create
from apps.audit.models import AuditEvent
from apps.tenants.models import Role
from apps.tenants.services import membership_set
from tests.factories import UserFactory

KEY_RE = re.compile(r"sk_[A-Za-z0-9]+_[A-Za-z0-9]{20,}")


def client_for(user, host: str = "alpha.localhost") -> Client:
    client = Client(HTTP_HOST=host)
    client.force_login(user)
    return client


@pytest.fixture
def owner_client(seeded) -> Client:
    return client_for(seeded["alpha"].owner)


@pytest.fixture
def beta_key(tenant_b, seeded):
    return api_key_create(
        tenant=tenant_b,
        name="Beta secret integration",
        scopes=["chat"],
        created_by=seeded["beta"].owner,
    ).api_key


def last_event(tenant, action: str) -> AuditEvent:
    with tenant_context(tenant):
        return AuditEvent.objects.filter(action=action).latest("id")


# --- Access -------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_owners_and_admins_open_the_page(tenant_a, role):
    person = UserFactory()
    membership_set(tenant=tenant_a, user=person, role=role)
    assert client_for(person).get("/api-keys/").status_code == 200


@pytest.mark.parametrize("role", [Role.AGENT, Role.VIEWER])
def test_agents_and_viewers_get_404(tenant_a, role, seeded):
    person = UserFactory()
    membership_set(tenant=tenant_a, user=person, role=role)
    client = client_for(person)
    key = api_key_create(tenant=tenant_a, name="k", scopes=["read"]).api_key
    assert client.get("/api-keys/").status_code == 404
    assert client.post("/api-keys/", {"name": "mine", "scopes": ["admin"]}).status_code == 404
    assert client.post(f"/api-keys/{key.pk}/revoke/").status_code == 404
    key.refresh_from_db()
    assert key.is_active
    assert not ApiKey.objects.filter(name="mine").exists()


def test_beta_owner_gets_404_on_alpha(seeded):
    assert client_for(seeded["beta"].owner).get("/api-keys/").status_code == 404


# --- Creating -----------------------------------------------------------------------------------


def test_create_shows_the_full_key_exactly_once(owner_client, tenant_a):
    response = owner_client.post("/api-keys/", {"name": "CRM sync", "scopes": ["read", "write"]})
    assert response.status_code == 200
    body = response.content.decode()
    plaintext = KEY_RE.search(body).group(0)
    assert "shown only this once" in body
    assert 'data-copy="#new-api-key"' in body
    api_key = ApiKey.objects.get(name="CRM sync")
    assert api_key.tenant == tenant_a
    assert api_key.scopes == ["read", "write"]
    assert api_key.created_by.email == "owner@alpha.test"
    assert plaintext.startswith(f"sk_{api_key.prefix}_")
    assert plaintext.split("_", 2)[2] not in api_key.secret_hash
    assert api_key_resolve(plaintext) == api_key
    # Never again: the list shows only the prefix.
    later = owner_client.get("/api-keys/").content.decode()
    assert plaintext not in later
    assert f"sk_{api_key.prefix}_…" in later

    event = last_event(tenant_a, "api_key.created")
    assert event.actor_label == "owner@alpha.test" and event.ip_address == "127.0.0.1"
    assert event.data == {"name": "CRM sync", "scopes": ["read", "write"]}
    assert plaintext not in str(event.data) and plaintext not in event.object_id


def test_the_form_offers_the_scopes_that_exist(owner_client):
    body = owner_client.get("/api-keys/").content.decode()
    for scope in ("chat", "read", "write", "admin"):
        assert f'value="{scope}"' in body


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "No scopes"}, "Choose at least one scope."),
        ({"name": "   ", "scopes": ["chat"]}, "This field is required."),
        ({"name": "Bad", "scopes": ["root"]}, "Select a valid choice."),
        ({"name": "x" * 101, "scopes": ["chat"]}, "at most 100 characters"),
    ],
)
def test_invalid_input_is_a_field_error(owner_client, data, message):
    response = owner_client.post("/api-keys/", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not KEY_RE.search(response.content.decode())
    assert not ApiKey.objects.filter(tenant__slug="alpha").exists()


# --- The list -----------------------------------------------------------------------------------


def test_lists_keys_with_prefix_scopes_creator_and_state(owner_client, tenant_a, seeded):
    active = api_key_create(
        tenant=tenant_a, name="Website bot", scopes=["chat"], created_by=seeded["alpha"].owner
    ).api_key
    revoked = api_key_create(tenant=tenant_a, name="Old script", scopes=["admin"]).api_key
    owner_client.post(f"/api-keys/{revoked.pk}/revoke/")
    body = owner_client.get("/api-keys/").content.decode()
    assert f"sk_{active.prefix}_…" in body and f"sk_{revoked.prefix}_…" in body
    assert "Website bot" in body and "Old script" in body
    assert "Active" in body and "Revoked" in body
    assert "from the command line" in body  # no creator
    assert body.count("Never") >= 2  # last used


def test_keys_of_beta_are_never_listed_on_alpha(owner_client, beta_key):
    body = owner_client.get("/api-keys/").content.decode()
    assert "Beta secret integration" not in body
    assert beta_key.prefix not in body


def test_the_list_paginates(owner_client, tenant_a):
    for i in range(21):
        api_key_create(tenant=tenant_a, name=f"key {i}", scopes=["read"])
    assert "1\u201320 of 21" in owner_client.get("/api-keys/").content.decode()
    assert "key 0" in owner_client.get("/api-keys/?page=2").content.decode()


# --- Revoking -----------------------------------------------------------------------------------


def test_revoke_asks_first_then_the_key_stops_working(owner_client, tenant_a):
    created = api_key_create(tenant=tenant_a, name="Doomed", scopes=["chat"])
    page = owner_client.get("/api-keys/").content.decode()
    assert "Revoke the key “Doomed”" in page and "data-confirm" in page
    response = owner_client.post(f"/api-keys/{created.api_key.pk}/revoke/", follow=True)
    assert response.status_code == 200
    assert "was revoked" in response.content.decode()
    created.api_key.refresh_from_db()
    assert created.api_key.revoked_at is not None
    assert api_key_resolve(created.plaintext) is None
    event = last_event(tenant_a, "api_key.revoked")
    assert event.object_id == created.api_key.prefix and event.actor_label == "owner@alpha.test"


def test_revoking_twice_is_not_found(owner_client, tenant_a):
    key = api_key_create(tenant=tenant_a, name="Once", scopes=["chat"]).api_key
    owner_client.post(f"/api-keys/{key.pk}/revoke/")
    assert owner_client.post(f"/api-keys/{key.pk}/revoke/").status_code == 404


def test_a_beta_key_cannot_be_revoked_from_alpha(owner_client, beta_key, tenant_a):
    response = owner_client.post(f"/api-keys/{beta_key.pk}/revoke/")
    assert response.status_code == 404
    beta_key.refresh_from_db()
    assert beta_key.revoked_at is None
    with tenant_context(tenant_a):
        assert not AuditEvent.objects.filter(action="api_key.revoked").exists()


def test_revoke_needs_post(owner_client, tenant_a):
    key = api_key_create(tenant=tenant_a, name="Safe", scopes=["chat"]).api_key
    assert owner_client.get(f"/api-keys/{key.pk}/revoke/").status_code == 405
    key.refresh_from_db()
    assert key.is_active
