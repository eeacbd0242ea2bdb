"""The backoffice is served per host; only members of that tenant get in."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.tenants.models import Role
from apps.tenants.services import membership_set
from tests.factories import UserFactory


@pytest.fixture
def client_for():
    def make(host: str) -> Client:
        return Client(HTTP_HOST=host)

    return make


def test_anonymous_is_sent_to_login(client_for, tenant_a):
    response = client_for("alpha.localhost").get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_owner_sees_own_dashboard_with_embed_snippet(client_for, seeded):
    client = client_for("alpha.localhost")
    client.force_login(seeded["alpha"].owner)
    response = client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Alpha Corp" in body
    assert seeded["alpha"].embed_key in body
    assert seeded["beta"].embed_key not in body


def test_member_of_a_gets_404_on_b(client_for, seeded):
    client = client_for("beta.localhost")
    client.force_login(seeded["alpha"].owner)
    response = client.get("/")
    assert response.status_code == 404
    assert seeded["beta"].embed_key not in response.content.decode()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.AGENT, Role.ADMIN])
def test_every_role_can_open_the_dashboard(client_for, tenant_a, role):
    person = UserFactory()
    membership_set(tenant=tenant_a, user=person, role=role)
    client = client_for("alpha.localhost")
    client.force_login(person)
    assert client.get("/").status_code == 200


def test_login_form_signs_in_by_email(client_for, seeded):
    client = client_for("alpha.localhost")
    response = client.post(
        "/login/", {"login": "owner@alpha.test", "password": "correct-horse-battery"}
    )
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_wrong_password_shows_a_form_error_not_a_traceback(client_for, tenant_a):
    response = client_for("alpha.localhost").post(
        "/login/", {"login": "owner@alpha.test", "password": "nope"}
    )
    assert response.status_code == 200
    assert b"password you specified are not correct" in response.content
    assert b"Traceback" not in response.content


def test_unknown_path_renders_the_404_page(client_for, tenant_a):
    response = client_for("alpha.localhost").get("/no/such/page/")
    assert response.status_code == 404
    assert b"Page not found" in response.content


def test_platform_host_serves_admin_login(client_for, db):
    response = client_for("localhost").get("/admin/", follow=True)
    assert response.status_code == 200
    # Operators sign in through allauth's form (rate limits and two-factor apply), then the admin.
    assert response.redirect_chain[-1][0] == "/login/?next=%2Fadmin%2F"
    assert b"Sign in" in response.content
