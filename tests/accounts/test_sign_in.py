"""Email + password sign-in with django-allauth: login, logout, verification, password reset
and change, closed sign-up, the platform host, and who counts as verified."""

from __future__ import annotations

import re

from allauth.account.models import EmailAddress
from django.core.management import call_command

from apps.accounts.models import User
from apps.accounts.services import user_ensure
from apps.tenants.models import Role
from apps.tenants.services import membership_set
from tests.accounts.conftest import PASSWORD, client_for, sign_in
from tests.factories import UserFactory


def test_login_alias_serves_allauth_and_keeps_next(alpha_agent):
    client = client_for("alpha.localhost")
    assert client.get("/knowledge/")["Location"] == "/login/?next=/knowledge/"
    page = client.get("/login/?next=/knowledge/")
    assert page.status_code == 200
    assert b'name="next" value="/knowledge/"' in page.content
    assert b"Sign in to Alpha Corp" in page.content
    response = sign_in(client, alpha_agent.email, next="/knowledge/")
    assert response.status_code == 302 and response["Location"] == "/knowledge/"


def test_allauth_login_url_works_too(alpha_agent):
    client = client_for("alpha.localhost")
    response = client.post(
        "/accounts/login/", {"login": alpha_agent.email.upper(), "password": PASSWORD}
    )
    assert response.status_code == 302 and response["Location"] == "/"


def test_an_unsafe_next_is_ignored(alpha_agent):
    response = sign_in(client_for("alpha.localhost"), alpha_agent.email, next="https://evil.test/")
    assert response["Location"] == "/"


def test_wrong_password_shows_a_field_free_form_error(alpha_agent):
    response = sign_in(client_for("alpha.localhost"), alpha_agent.email, "wrong")
    assert response.status_code == 200
    assert b'class="form-error"' in response.content
    assert b"password you specified are not correct" in response.content


def test_sign_out_needs_a_post_and_ends_the_session(alpha_agent):
    client = client_for("alpha.localhost")
    sign_in(client, alpha_agent.email)
    assert client.get("/logout/").status_code == 200  # a confirmation page, not a sign-out
    assert client.get("/").status_code == 200
    response = client.post("/logout/")
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert client.get("/").status_code == 302


def test_sign_up_is_closed(tenant_a):
    client = client_for("alpha.localhost")
    page = client.get("/accounts/signup/")
    assert b"Accounts are by invitation" in page.content
    client.post(
        "/accounts/signup/",
        {"email": "new@example.test", "password1": "Gr8-new-pass!", "password2": "Gr8-new-pass!"},
    )
    assert not User.objects.filter(email="new@example.test").exists()


def test_an_unverified_address_gets_a_verification_email_instead_of_a_session(tenant_a, mailoutbox):
    person = UserFactory()  # made outside the trusted paths: no verified address
    membership_set(tenant=tenant_a, user=person, role=Role.AGENT)
    client = client_for("alpha.localhost")
    response = sign_in(client, person.email)
    assert response["Location"] == "/accounts/confirm-email/"
    assert client.get("/").status_code == 302
    assert len(mailoutbox) == 1
    link = re.search(r"http://alpha\.localhost/accounts/confirm-email/\S+/", mailoutbox[0].body)
    assert link, mailoutbox[0].body
    path = link.group(0).removeprefix("http://alpha.localhost")
    assert b"Confirm your email address" in client.get(path).content
    client.post(path)
    assert EmailAddress.objects.get(user=person).verified
    sign_in(client, person.email)
    assert client.get("/").status_code == 200


def test_password_reset_by_email_link(alpha_agent, mailoutbox):
    client = client_for("alpha.localhost")
    response = client.post("/accounts/password/reset/", {"email": alpha_agent.email})
    assert response["Location"] == "/accounts/password/reset/done/"
    assert len(mailoutbox) == 1
    url = re.search(
        r"http://alpha\.localhost(/accounts/password/reset/key/\S+/)", mailoutbox[0].body
    )
    assert url, mailoutbox[0].body
    form_page = client.get(url.group(1), follow=True)
    assert b"Choose a new password" in form_page.content
    action = form_page.redirect_chain[-1][0]
    done = client.post(
        action, {"password1": "A-brand-new-pass-42", "password2": "A-brand-new-pass-42"}
    )
    assert done["Location"] == "/accounts/password/reset/key/done/"
    assert sign_in(client_for("alpha.localhost"), alpha_agent.email, PASSWORD).status_code == 200
    assert (
        sign_in(client_for("alpha.localhost"), alpha_agent.email, "A-brand-new-pass-42")["Location"]
        == "/"
    )


def test_password_reset_for_an_unknown_address_reveals_nothing(tenant_a, mailoutbox):
    response = client_for("alpha.localhost").post(
        "/accounts/password/reset/", {"email": "nobody@example.test"}
    )
    assert response["Location"] == "/accounts/password/reset/done/"  # same answer
    assert "no account" in mailoutbox[0].body.lower()
    assert "/accounts/signup/" not in mailoutbox[0].body  # sign-up is closed


def test_password_change_needs_the_current_password(alpha_agent):
    client = client_for("alpha.localhost")
    sign_in(client, alpha_agent.email)
    bad = client.post(
        "/accounts/password/change/",
        {"oldpassword": "wrong", "password1": "Another-pass-77", "password2": "Another-pass-77"},
    )
    assert bad.status_code == 200 and b"field-error" in bad.content
    good = client.post(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": "Another-pass-77", "password2": "Another-pass-77"},
    )
    assert good.status_code == 302
    alpha_agent.refresh_from_db()
    assert alpha_agent.check_password("Another-pass-77")
    assert client.get("/").status_code == 200  # this session stays signed in


def test_the_security_page_shows_the_person_their_settings(alpha_agent):
    client = client_for("alpha.localhost")
    client.force_login(alpha_agent)
    body = client.get("/accounts/security/").content.decode()
    assert alpha_agent.email in body
    assert "/accounts/password/change/" in body and "/accounts/2fa/totp/activate/" in body
    assert 'class="nav-link' in body  # inside the backoffice shell
    assert client.get("/accounts/2fa/").url == "/accounts/security/"


def test_the_sidebar_footer_links_to_the_security_page(alpha_agent):
    client = client_for("alpha.localhost")
    client.force_login(alpha_agent)
    assert b'href="/accounts/security/"' in client.get("/").content


# --- Who is trusted as verified --------------------------------------------------------------


def test_people_created_by_operators_and_commands_are_verified(db):
    made = user_ensure(email="Made.By@Command.test", password="pw-long-enough-1")
    assert EmailAddress.objects.filter(
        user=made.user, email="made.by@command.test", verified=True, primary=True
    ).exists()
    admin = User.objects.create_superuser("ops@example.test", "pw-long-enough-1")
    assert EmailAddress.objects.get(user=admin).verified


def test_the_demo_login_works_right_after_seed_demo(db):
    call_command("seed_demo", "--quiet")
    response = sign_in(client_for("demo.localhost"), "demo@example.com", "demo-password")
    assert response.status_code == 302 and response["Location"] == "/"


def test_tenant_owners_made_by_create_tenant_can_sign_in(seeded):
    response = sign_in(client_for("beta.localhost"), "owner@beta.test")
    assert response["Location"] == "/"


# --- The platform host (operators) -----------------------------------------------------------


def test_operators_sign_in_to_the_admin_through_allauth(db):
    User.objects.create_superuser("ops@example.test", "pw-long-enough-1")
    client = client_for("localhost")
    response = client.get("/admin/")
    assert response["Location"].startswith("/admin/login/")
    assert client.get(response["Location"])["Location"] == "/login/?next=%2Fadmin%2F"
    signed = sign_in(client, "ops@example.test", "pw-long-enough-1", next="/admin/")
    assert signed["Location"] == "/admin/"
    assert b"Site administration" in client.get("/admin/").content


def test_people_who_are_not_operators_get_no_admin(alpha_agent):
    client = client_for("localhost")
    sign_in(client, alpha_agent.email)
    assert client.get("/admin/").status_code in (302, 403)
    assert b"Site administration" not in client.get("/admin/", follow=True).content


def test_people_an_operator_adds_in_the_admin_are_verified(db):
    operator = User.objects.create_superuser("ops@example.test", "pw-long-enough-1")
    client = client_for("localhost")
    client.force_login(operator)
    response = client.post(
        "/admin/accounts/user/add/",
        {
            "email": "added@example.test",
            "password1": "Added-by-ops-42",
            "password2": "Added-by-ops-42",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    added = User.objects.get(email="added@example.test")
    assert EmailAddress.objects.get(user=added).verified
