"""Accepting an invitation at /invite/<token>/ on the tenant's host: one clear page for every
dead link, the right next step for each visitor, and exactly one acceptance."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.accounts.models import User
from apps.audit.models import AuditEvent
from apps.core.errors import NotFound
from apps.tenants import services
from apps.tenants.models import Invitation, Membership, Role
from apps.tenants.services import membership_set
from tests.factories import UserFactory

PASSWORD = "a-Long-unusual-passphrase-42"


def send_invitation(tenant, seeded, email: str, role: str = Role.AGENT) -> str:
    """Invite through the service as the tenant's owner; the token from the email."""
    services.invitation_create(
        tenant=tenant,
        email=email,
        role=role,
        actor=seeded[tenant.slug].owner,
        base_url=f"http://{tenant.slug}.localhost",
    )
    return re.search(r"/invite/([A-Za-z0-9_-]+)/", mail.outbox[-1].body).group(1)


@pytest.fixture
def token(tenant_a, seeded) -> str:
    return send_invitation(tenant_a, seeded, "newcomer@example.test")


def anonymous() -> Client:
    return Client(HTTP_HOST="alpha.localhost")


def signed_in(user) -> Client:
    client = anonymous()
    client.force_login(user)
    return client


def signup(client: Client, token: str, **overrides):
    data = {"full_name": "New Comer", "password1": PASSWORD, "password2": PASSWORD, **overrides}
    return client.post(f"/invite/{token}/", data)


# --- Dead links ---------------------------------------------------------------------------------


def assert_invalid(response) -> None:
    assert response.status_code == 404
    assert "This invitation link does not work" in response.content.decode()


def test_an_unknown_token_gets_the_invalid_page(tenant_a):
    assert_invalid(anonymous().get("/invite/not-a-real-token/"))
    assert_invalid(anonymous().post("/invite/not-a-real-token/", {"full_name": "x"}))


def test_an_expired_invitation_gets_the_invalid_page(token):
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_invalid(anonymous().get(f"/invite/{token}/"))
    assert_invalid(signup(anonymous(), token))
    assert not User.objects.filter(email="newcomer@example.test").exists()


def test_a_revoked_invitation_gets_the_invalid_page(token, tenant_a, seeded):
    invitation = Invitation.objects.get(email="newcomer@example.test")
    services.invitation_revoke(
        tenant=tenant_a, invitation_id=invitation.pk, actor=seeded["alpha"].owner
    )
    assert_invalid(anonymous().get(f"/invite/{token}/"))


def test_a_used_invitation_gets_the_invalid_page_and_is_accepted_once(token, tenant_a):
    assert signup(anonymous(), token).status_code == 302
    assert_invalid(anonymous().get(f"/invite/{token}/"))
    assert_invalid(signup(anonymous(), token, full_name="Second Try"))
    with pytest.raises(NotFound):
        services.invitation_accept(
            tenant=tenant_a, token=token, user=User.objects.get(email="newcomer@example.test")
        )
    assert Membership.objects.filter(user__email="newcomer@example.test").count() == 1


def test_a_beta_token_does_not_work_on_alphas_host(tenant_b, seeded):
    beta_token = send_invitation(tenant_b, seeded, "beta-newcomer@example.test")
    assert_invalid(anonymous().get(f"/invite/{beta_token}/"))
    assert_invalid(signup(anonymous(), beta_token))
    assert not User.objects.filter(email="beta-newcomer@example.test").exists()
    # On its own host it works.
    beta_page = Client(HTTP_HOST="beta.localhost").get(f"/invite/{beta_token}/")
    assert beta_page.status_code == 200


def test_the_platform_host_has_no_invite_page(token):
    assert Client(HTTP_HOST="localhost").get(f"/invite/{token}/").status_code == 404


# --- A new account ------------------------------------------------------------------------------


def test_the_page_offers_a_signup_form_for_the_invited_address(token):
    body = anonymous().get(f"/invite/{token}/").content.decode()
    assert "Join Alpha Corp" in body
    assert "newcomer@example.test" in body and "Agent" in body
    assert 'name="full_name"' in body and 'name="password1"' in body and 'name="password2"' in body


def test_signup_creates_the_account_joins_and_signs_in(token, tenant_a):
    client = anonymous()
    response = signup(client, token)
    assert response.status_code == 302 and response["Location"] == "/"
    user = User.objects.get(email="newcomer@example.test")
    assert user.full_name == "New Comer"
    assert user.check_password(PASSWORD)
    assert Membership.objects.get(user=user, tenant=tenant_a).role == Role.AGENT
    assert Invitation.objects.get(email=user.email).accepted_at is not None
    dashboard = client.get("/")
    assert dashboard.status_code == 200
    assert "Welcome to Alpha Corp!" in dashboard.content.decode()
    with tenant_context(tenant_a):
        event = AuditEvent.objects.filter(action="invitation.accepted").latest("id")
    assert event.actor_label == "newcomer@example.test"
    assert event.data["new_account"] is True and event.ip_address == "127.0.0.1"


def test_passwords_must_match(token):
    response = signup(anonymous(), token, password2=PASSWORD + "x")
    assert response.status_code == 400
    assert "The two passwords differ." in response.content.decode()
    assert not User.objects.filter(email="newcomer@example.test").exists()


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "too short"),
        ("password123", "too common"),
        ("8675309123456", "entirely numeric"),
        ("newcomer-example", "too similar"),
    ],
)
def test_djangos_password_validators_apply(token, password, message):
    response = signup(anonymous(), token, password1=password, password2=password)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not User.objects.filter(email="newcomer@example.test").exists()
    assert Invitation.objects.get(email="newcomer@example.test").accepted_at is None


def test_a_full_name_is_required(token):
    response = signup(anonymous(), token, full_name="   ")
    assert response.status_code == 400
    assert not User.objects.filter(email="newcomer@example.test").exists()


def test_an_account_made_meanwhile_is_never_taken_over(token):
    client = anonymous()
    client.get(f"/invite/{token}/")
    existing = UserFactory(email="newcomer@example.test")
    response = signup(client, token)
    assert response.status_code == 302 and "/login/" in response["Location"]
    existing.refresh_from_db()
    assert not existing.check_password(PASSWORD)
    assert not Membership.objects.filter(user=existing, tenant__slug="alpha").exists()


# --- Someone with an account ----------------------------------------------------------------------


def test_an_existing_account_is_asked_to_sign_in_and_come_back(tenant_a, seeded):
    UserFactory(email="known@example.test")
    token = send_invitation(tenant_a, seeded, "known@example.test")
    body = anonymous().get(f"/invite/{token}/").content.decode()
    assert "Sign in to accept" in body
    assert f"/login/?next=%2Finvite%2F{token}%2F" in body
    assert 'name="password1"' not in body
    response = anonymous().post(f"/invite/{token}/", {"full_name": "x"})
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert not Membership.objects.filter(user__email="known@example.test").exists()


def test_the_invited_person_signed_in_joins_with_one_click(tenant_a, seeded):
    person = UserFactory(email="known@example.test")
    token = send_invitation(tenant_a, seeded, "Known@Example.test", role=Role.ADMIN)
    client = signed_in(person)
    page = client.get(f"/invite/{token}/").content.decode()
    assert "Join Alpha Corp" in page and "Admin" in page
    response = client.post(f"/invite/{token}/")
    assert response.status_code == 302 and response["Location"] == "/"
    assert Membership.objects.get(user=person, tenant=tenant_a).role == Role.ADMIN
    assert client.get("/").status_code == 200


def test_someone_else_signed_in_cannot_accept(token, tenant_a):
    intruder = UserFactory(email="intruder@example.test")
    client = signed_in(intruder)
    page = client.get(f"/invite/{token}/").content.decode()
    assert "You are signed in as <strong>intruder@example.test</strong>" in page
    assert "Sign out and continue" in page
    response = client.post(f"/invite/{token}/")
    assert response.status_code == 400
    assert not Membership.objects.filter(user=intruder, tenant=tenant_a).exists()
    assert Invitation.objects.get(email="newcomer@example.test").accepted_at is None


def test_a_member_already_keeps_their_role(tenant_a, seeded):
    person = UserFactory(email="member@example.test")
    token = send_invitation(tenant_a, seeded, "member@example.test", role=Role.VIEWER)
    membership_set(tenant=tenant_a, user=person, role=Role.ADMIN)  # added meanwhile
    signed_in(person).post(f"/invite/{token}/")
    assert Membership.objects.get(user=person, tenant=tenant_a).role == Role.ADMIN
    assert Invitation.objects.get(email="member@example.test").accepted_at is not None
