"""The team page: members, roles, invitations. Admins and owners only; every rule and every
change (audited) proven, and nothing of tenant beta visible or changeable from alpha."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEvent
from apps.core.errors import Conflict
from apps.tenants import services
from apps.tenants.models import Invitation, Membership, Role
from apps.tenants.services import membership_set
from tests.factories import UserFactory

LINK_RE = re.compile(r"http://alpha\.localhost/invite/([A-Za-z0-9_-]+)/")


@pytest.fixture
def member(tenant_a):
    def make(role: str, tenant=None, **fields) -> Membership:
        return membership_set(tenant=tenant or tenant_a, user=UserFactory(**fields), role=role)

    return make


def client_for(user, host: str = "alpha.localhost") -> Client:
    client = Client(HTTP_HOST=host)
    client.force_login(user)
    return client


@pytest.fixture
def owner_client(seeded) -> Client:
    return client_for(seeded["alpha"].owner)


@pytest.fixture
def admin(member) -> Membership:
    return member(Role.ADMIN, full_name="Ada Admin")


@pytest.fixture
def admin_client(admin) -> Client:
    return client_for(admin.user)


def audit_events(tenant, action: str) -> list[AuditEvent]:
    with tenant_context(tenant):
        return list(AuditEvent.objects.filter(action=action).order_by("id"))


def owner_membership(seeded) -> Membership:
    return Membership.objects.get(user=seeded["alpha"].owner, tenant__slug="alpha")


# --- Access ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_owners_and_admins_open_the_team_page(member, role):
    response = client_for(member(role).user).get("/team/")
    assert response.status_code == 200
    assert b"Invite someone" in response.content


@pytest.mark.parametrize("role", [Role.AGENT, Role.VIEWER])
def test_agents_and_viewers_get_404_on_every_team_url(member, role, seeded):
    client = client_for(member(role).user)
    target = owner_membership(seeded)
    assert client.get("/team/").status_code == 404
    assert (
        client.post("/team/invite/", {"email": "x@example.test", "role": "viewer"}).status_code
        == 404
    )
    assert client.post(f"/team/members/{target.pk}/remove/").status_code == 404
    assert Membership.objects.filter(pk=target.pk).exists()
    assert not Invitation.objects.filter(email="x@example.test").exists()


def test_members_of_another_tenant_get_404(seeded):
    assert client_for(seeded["beta"].owner).get("/team/").status_code == 404


def test_anonymous_is_sent_to_sign_in(tenant_a):
    response = Client(HTTP_HOST="alpha.localhost").get("/team/")
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_sidebar_links_show_for_admins_only(admin_client, member):
    body = admin_client.get("/").content.decode()
    assert 'href="/team/"' in body and 'href="/api-keys/"' in body
    agent_body = client_for(member(Role.AGENT).user).get("/").content.decode()
    assert 'href="/team/"' not in agent_body and 'href="/api-keys/"' not in agent_body


# --- The list ---------------------------------------------------------------------------------------


def test_lists_members_with_role_join_date_and_last_sign_in(owner_client, member):
    person = member(Role.AGENT, full_name="Grace Hopper", email="grace@example.test")
    person.user.last_login = timezone.now() - timedelta(hours=3)
    person.user.save(update_fields=["last_login"])
    never = member(Role.VIEWER, email="never@example.test")
    body = owner_client.get("/team/").content.decode()
    assert "Grace Hopper" in body and "grace@example.test" in body
    assert "3\xa0hours ago" in body
    row = body[body.index(f'id="member-{never.pk}"') :]
    assert "Never" in row[: row.index("</tr>")]
    assert person.created_at.strftime("%b") in body
    # Owners come first.
    assert body.index("owner@alpha.test") < body.index("grace@example.test")


def test_members_and_invitations_of_beta_never_show_on_alpha(owner_client, member, tenant_b):
    member(Role.ADMIN, tenant=tenant_b, email="beta-admin@example.test")
    Invitation.objects.create(
        tenant=tenant_b,
        email="beta-invitee@example.test",
        role=Role.AGENT,
        token_hash="b" * 64,
        expires_at=timezone.now() + timedelta(days=7),
    )
    body = owner_client.get("/team/").content.decode()
    assert "beta-admin@example.test" not in body
    assert "owner@beta.test" not in body
    assert "beta-invitee@example.test" not in body


def test_members_paginate(owner_client, member):
    for _ in range(21):
        member(Role.VIEWER)
    first = owner_client.get("/team/").content.decode()
    assert "1\u201320 of 22" in first
    assert owner_client.get("/team/?page=2").status_code == 200


# --- Inviting -------------------------------------------------------------------------------------


def test_invite_sends_an_email_with_a_working_link(owner_client, tenant_a):
    response = owner_client.post(
        "/team/invite/", {"email": "New.Person@Example.test", "role": Role.AGENT}
    )
    assert response.status_code == 302
    invitation = Invitation.objects.get(tenant=tenant_a, email="new.person@example.test")
    assert invitation.role == Role.AGENT
    assert invitation.invited_by.email == "owner@alpha.test"
    expected_expiry = timezone.now() + timedelta(days=7)
    assert abs((invitation.expires_at - expected_expiry).total_seconds()) < 60

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["new.person@example.test"]
    assert "Alpha Corp" in message.subject
    token = LINK_RE.search(message.body).group(1)
    assert len(token) >= 40
    # Only the token's SHA-256 is stored.
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in invitation.token_hash

    page = Client(HTTP_HOST="alpha.localhost").get(f"/invite/{token}/")
    assert page.status_code == 200
    assert b"Create account and join" in page.content

    events = audit_events(tenant_a, "invitation.created")
    assert events[-1].actor_label == "owner@alpha.test"
    assert events[-1].ip_address == "127.0.0.1"
    assert events[-1].data == {"email": "new.person@example.test", "role": "agent"}


def test_the_pending_invitation_is_listed(owner_client):
    owner_client.post("/team/invite/", {"email": "listed@example.test", "role": Role.VIEWER})
    body = owner_client.get("/team/").content.decode()
    assert "listed@example.test" in body
    assert "Resend" in body and "Revoke" in body


def test_admins_cannot_invite_owners(admin_client, tenant_a):
    page = admin_client.get("/team/").content.decode()
    form = page[page.index('name="role"') : page.index("</select>", page.index('name="role"'))]
    assert 'value="owner"' not in form
    response = admin_client.post("/team/invite/", {"email": "boss@example.test", "role": "owner"})
    assert response.status_code == 400
    assert not Invitation.objects.filter(email="boss@example.test").exists()
    assert len(mail.outbox) == 0


def test_owners_can_invite_owners(owner_client, tenant_a):
    assert (
        owner_client.post(
            "/team/invite/", {"email": "co-owner@example.test", "role": "owner"}
        ).status_code
        == 302
    )
    assert Invitation.objects.get(email="co-owner@example.test").role == Role.OWNER


def test_inviting_a_member_or_a_pending_address_again_is_refused(owner_client, member):
    member(Role.AGENT, email="already@example.test")
    response = owner_client.post(
        "/team/invite/", {"email": "Already@example.test", "role": "agent"}
    )
    assert response.status_code == 400
    assert "already a member" in response.content.decode()

    owner_client.post("/team/invite/", {"email": "twice@example.test", "role": "agent"})
    again = owner_client.post("/team/invite/", {"email": "twice@example.test", "role": "viewer"})
    assert again.status_code == 400
    assert "pending invitation" in again.content.decode()
    assert Invitation.objects.filter(email="twice@example.test").count() == 1


def test_a_member_of_beta_can_be_invited_to_alpha(owner_client, member, tenant_b):
    member(Role.AGENT, tenant=tenant_b, email="both@example.test")
    assert (
        owner_client.post(
            "/team/invite/", {"email": "both@example.test", "role": "agent"}
        ).status_code
        == 302
    )


def test_invalid_email_is_a_field_error(owner_client):
    response = owner_client.post("/team/invite/", {"email": "not-an-email", "role": "agent"})
    assert response.status_code == 400
    assert "valid email" in response.content.decode()


def test_an_email_failure_keeps_the_invitation_and_says_so(owner_client, settings):
    settings.EMAIL_BACKEND = "tests.tenants.failing_mail.FailingBackend"
    response = owner_client.post(
        "/team/invite/", {"email": "offline@example.test", "role": "agent"}, follow=True
    )
    assert Invitation.objects.filter(email="offline@example.test").exists()
    assert "could not be sent" in response.content.decode()


# --- Resend and revoke ------------------------------------------------------------------------------


def invite(owner_client, email: str, role: str = "agent") -> tuple[Invitation, str]:
    owner_client.post("/team/invite/", {"email": email, "role": role})
    token = LINK_RE.search(mail.outbox[-1].body).group(1)
    return Invitation.objects.get(email=email), token


def test_resend_sends_a_new_link_and_the_old_one_stops_working(owner_client, tenant_a):
    invitation, old_token = invite(owner_client, "again@example.test")
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(hours=1)
    )
    response = owner_client.post(f"/team/invitations/{invitation.pk}/resend/")
    assert response.status_code == 302
    new_token = LINK_RE.search(mail.outbox[-1].body).group(1)
    assert new_token != old_token
    invitation.refresh_from_db()
    assert invitation.expires_at > timezone.now() + timedelta(days=6)
    anonymous = Client(HTTP_HOST="alpha.localhost")
    assert anonymous.get(f"/invite/{old_token}/").status_code == 404
    assert anonymous.get(f"/invite/{new_token}/").status_code == 200
    assert audit_events(tenant_a, "invitation.resent")[-1].ip_address == "127.0.0.1"


def test_expired_invitations_are_marked(owner_client):
    invitation, _ = invite(owner_client, "late@example.test")
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(days=1)
    )
    assert "Expired" in owner_client.get("/team/").content.decode()


def test_revoke_asks_first_and_kills_the_link(owner_client, tenant_a):
    invitation, token = invite(owner_client, "gone@example.test")
    page = owner_client.get("/team/").content.decode()
    assert "Revoke the invitation for gone@example.test?" in page
    revoked = owner_client.post(f"/team/invitations/{invitation.pk}/revoke/", follow=True)
    assert "The invitation for gone@example.test was revoked." in revoked.content.decode()
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert Client(HTTP_HOST="alpha.localhost").get(f"/invite/{token}/").status_code == 404
    assert "gone@example.test" not in owner_client.get("/team/").content.decode()
    event = audit_events(tenant_a, "invitation.revoked")[-1]
    assert event.actor_label == "owner@alpha.test" and event.data["email"] == "gone@example.test"
    # Revoked, the address can be invited again.
    assert (
        owner_client.post(
            "/team/invite/", {"email": "gone@example.test", "role": "agent"}
        ).status_code
        == 302
    )


def test_admins_cannot_resend_or_revoke_owner_invitations(owner_client, admin_client):
    invitation, _ = invite(owner_client, "future-owner@example.test", role="owner")
    sent = len(mail.outbox)
    admin_client.post(f"/team/invitations/{invitation.pk}/resend/")
    admin_client.post(f"/team/invitations/{invitation.pk}/revoke/")
    invitation.refresh_from_db()
    assert invitation.revoked_at is None
    assert len(mail.outbox) == sent


def test_beta_invitations_cannot_be_resent_or_revoked_from_alpha(owner_client, tenant_b, seeded):
    beta = Invitation.objects.create(
        tenant=tenant_b,
        email="beta-only@example.test",
        role=Role.AGENT,
        token_hash="c" * 64,
        invited_by=seeded["beta"].owner,
        expires_at=timezone.now() + timedelta(days=7),
    )
    assert owner_client.post(f"/team/invitations/{beta.pk}/resend/").status_code == 404
    assert owner_client.post(f"/team/invitations/{beta.pk}/revoke/").status_code == 404
    beta.refresh_from_db()
    assert beta.revoked_at is None and beta.token_hash == "c" * 64
    assert len(mail.outbox) == 0


# --- Roles ------------------------------------------------------------------------------------------


def test_admin_changes_an_agents_role_audited(admin_client, member, tenant_a):
    agent = member(Role.AGENT)
    response = admin_client.post(f"/team/members/{agent.pk}/role/", {"role": "viewer"})
    assert response.status_code == 302
    agent.refresh_from_db()
    assert agent.role == Role.VIEWER
    event = audit_events(tenant_a, "membership.role_changed")[-1]
    assert event.data == {"email": agent.user.email, "from": "agent", "to": "viewer"}
    assert event.ip_address == "127.0.0.1"


def test_role_change_over_htmx_returns_the_updated_row(admin_client, member):
    agent = member(Role.AGENT)
    response = admin_client.post(
        f"/team/members/{agent.pk}/role/", {"role": "admin"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.strip().startswith(f'<tr id="member-{agent.pk}"')
    assert '<option value="admin" selected>' in body and "Saved" in body


def test_refused_role_change_over_htmx_shows_the_reason_in_the_row(admin_client, seeded):
    owner = owner_membership(seeded)
    response = admin_client.post(
        f"/team/members/{owner.pk}/role/", {"role": "viewer"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert "Only an owner can change or remove an owner." in response.content.decode()
    owner.refresh_from_db()
    assert owner.role == Role.OWNER


def test_admins_cannot_grant_the_owner_role(admin_client, member):
    agent = member(Role.AGENT)
    admin_client.post(f"/team/members/{agent.pk}/role/", {"role": "owner"})
    agent.refresh_from_db()
    assert agent.role == Role.AGENT


def test_admins_cannot_touch_owners(admin_client, seeded, tenant_a):
    owner = owner_membership(seeded)
    response = admin_client.post(f"/team/members/{owner.pk}/role/", {"role": "admin"}, follow=True)
    assert "Only an owner can change or remove an owner." in response.content.decode()
    admin_client.post(f"/team/members/{owner.pk}/remove/")
    owner.refresh_from_db()
    assert owner.role == Role.OWNER
    assert not audit_events(tenant_a, "membership.removed")


def test_owners_grant_and_take_back_the_owner_role(owner_client, member):
    admin = member(Role.ADMIN)
    owner_client.post(f"/team/members/{admin.pk}/role/", {"role": "owner"})
    admin.refresh_from_db()
    assert admin.role == Role.OWNER
    owner_client.post(f"/team/members/{admin.pk}/role/", {"role": "agent"})
    admin.refresh_from_db()
    assert admin.role == Role.AGENT


def test_nobody_changes_their_own_role(owner_client, admin_client, admin, seeded, member):
    member(Role.OWNER)  # a second owner: the refusal is not about the last owner
    own = owner_membership(seeded)
    response = owner_client.post(f"/team/members/{own.pk}/role/", {"role": "admin"}, follow=True)
    assert "cannot change your own role" in response.content.decode()
    admin_client.post(f"/team/members/{admin.pk}/role/", {"role": "viewer"})
    own.refresh_from_db()
    admin.refresh_from_db()
    assert own.role == Role.OWNER and admin.role == Role.ADMIN


def test_nobody_removes_themselves(admin_client, admin):
    admin_client.post(f"/team/members/{admin.pk}/remove/")
    assert Membership.objects.filter(pk=admin.pk).exists()


def test_the_last_owner_is_never_demoted_or_removed(seeded, tenant_a):
    only = owner_membership(seeded)
    with pytest.raises(Conflict) as excinfo:
        services.check_not_last_owner(target=only, owners=1)
    assert excinfo.value.code == "last_owner"
    # Through the services, as its only owner (it is also their own membership).
    for action in (
        lambda: services.membership_role_change(
            tenant=tenant_a, membership_id=only.pk, role="admin", actor=only.user
        ),
        lambda: services.membership_remove(tenant=tenant_a, membership_id=only.pk, actor=only.user),
    ):
        with pytest.raises(Exception):  # noqa: B017 - own_membership or last_owner, both refuse
            action()
    only.refresh_from_db()
    assert only.role == Role.OWNER


def test_a_demoted_owner_cannot_demote_the_one_who_demoted_them(seeded, member, tenant_a):
    first = owner_membership(seeded)
    second = member(Role.OWNER)
    services.membership_role_change(
        tenant=tenant_a, membership_id=second.pk, role="admin", actor=first.user
    )
    with pytest.raises(Exception):  # noqa: B017
        services.membership_role_change(
            tenant=tenant_a, membership_id=first.pk, role="admin", actor=second.user
        )
    assert Membership.objects.filter(tenant=tenant_a, role=Role.OWNER).count() == 1


def test_locked_rows_show_no_controls(admin_client, seeded, admin):
    body = admin_client.get("/team/").content.decode()
    owner = owner_membership(seeded)
    owner_row = body[body.index(f'id="member-{owner.pk}"') :]
    owner_row = owner_row[: owner_row.index("</tr>")]
    assert "<select" not in owner_row and "Remove" not in owner_row
    own_row = body[body.index(f'id="member-{admin.pk}"') :]
    own_row = own_row[: own_row.index("</tr>")]
    assert "<select" not in own_row and "You" in own_row


# --- Removing ---------------------------------------------------------------------------------------


def test_remove_asks_first_then_removes_audited(owner_client, member, tenant_a):
    agent = member(Role.AGENT, email="leaving@example.test")
    page = owner_client.get("/team/").content.decode()
    assert "Remove leaving@example.test from Alpha Corp?" in page
    assert owner_client.post(f"/team/members/{agent.pk}/remove/").status_code == 302
    assert not Membership.objects.filter(pk=agent.pk).exists()
    assert client_for(agent.user).get("/").status_code == 404
    event = audit_events(tenant_a, "membership.removed")[-1]
    assert event.data == {"email": "leaving@example.test", "role": "agent"}
    assert event.actor_label == "owner@alpha.test" and event.ip_address == "127.0.0.1"


def test_owners_remove_other_owners(owner_client, member):
    other = member(Role.OWNER)
    owner_client.post(f"/team/members/{other.pk}/remove/")
    assert not Membership.objects.filter(pk=other.pk).exists()


def test_beta_members_cannot_be_changed_or_removed_from_alpha(owner_client, member, tenant_b):
    beta_member = member(Role.AGENT, tenant=tenant_b)
    assert (
        owner_client.post(f"/team/members/{beta_member.pk}/role/", {"role": "viewer"}).status_code
        == 404
    )
    assert owner_client.post(f"/team/members/{beta_member.pk}/remove/").status_code == 404
    beta_member.refresh_from_db()
    assert beta_member.role == Role.AGENT
