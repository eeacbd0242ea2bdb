"""Two-factor authentication: setting up an authenticator app, signing in with it, recovery
codes, and a tenant that requires it of every member (tenant beta, without the requirement,
is unaffected)."""

from __future__ import annotations

import pytest
from allauth.mfa.models import Authenticator
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEvent
from apps.tenants.models import Role
from tests.accounts.conftest import PASSWORD, client_for, sign_in, totp_code, wrong_code

ACTIVATE = "/accounts/2fa/totp/activate/"


def start_activation(client) -> str:
    response = client.get(ACTIVATE)
    assert response.status_code == 200, response.get("Location")
    return response.context["form"].secret


def test_a_member_turns_on_totp_with_a_code_from_the_app(alpha_agent):
    client = client_for("alpha.localhost")
    sign_in(client, alpha_agent.email)
    secret = start_activation(client)  # just signed in: no second password prompt
    response = client.post(ACTIVATE, {"code": totp_code(secret)})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/2fa/recovery-codes/"
    assert Authenticator.objects.filter(user=alpha_agent, type="totp").exists()
    codes = client.get(response["Location"])
    assert codes.status_code == 200 and len(codes.context["unused_codes"]) == 10


def test_a_wrong_code_does_not_turn_totp_on(alpha_agent):
    client = client_for("alpha.localhost")
    sign_in(client, alpha_agent.email)
    secret = start_activation(client)
    response = client.post(ACTIVATE, {"code": wrong_code(secret)})
    assert response.status_code == 200
    assert response.context["form"].errors["code"] == ["Incorrect code."]
    assert not Authenticator.objects.filter(user=alpha_agent).exists()


def test_an_old_sign_in_must_confirm_the_password_before_setting_up(alpha_agent):
    client = client_for("alpha.localhost")
    client.force_login(alpha_agent)  # a session with no recent password entry
    response = client.get(ACTIVATE)
    assert response.status_code == 302 and response["Location"].startswith(
        "/accounts/reauthenticate/"
    )
    client.post(response["Location"], {"password": PASSWORD})
    assert client.get(ACTIVATE).status_code == 200


def test_sign_in_asks_for_the_code_after_the_password(alpha_agent, with_totp):
    secret = with_totp(alpha_agent)
    client = client_for("alpha.localhost")
    response = sign_in(client, alpha_agent.email)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/2fa/authenticate/"
    assert client.get("/").status_code == 302  # not signed in with the password alone
    response = client.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_a_wrong_code_at_sign_in_is_refused(alpha_agent, with_totp):
    secret = with_totp(alpha_agent)
    client = client_for("alpha.localhost")
    sign_in(client, alpha_agent.email)
    response = client.post("/accounts/2fa/authenticate/", {"code": wrong_code(secret)})
    assert response.status_code == 200
    assert b"Incorrect code" in response.content
    assert client.get("/").status_code == 302


def test_a_recovery_code_signs_in_once(alpha_agent, with_totp):
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes

    with_totp(alpha_agent)
    code = RecoveryCodes(
        Authenticator.objects.get(user=alpha_agent, type="recovery_codes")
    ).get_unused_codes()[0]
    client = client_for("alpha.localhost")
    sign_in(client, alpha_agent.email)
    assert client.post("/accounts/2fa/authenticate/", {"code": code})["Location"] == "/"
    again = client_for("alpha.localhost")
    sign_in(again, alpha_agent.email)
    assert again.post("/accounts/2fa/authenticate/", {"code": code}).status_code == 200


# --- A tenant that requires two-factor authentication ----------------------------------------


@pytest.fixture
def alpha_requires_mfa(tenant_a):
    tenant_a.require_mfa = True
    tenant_a.save(update_fields=["require_mfa"])
    return tenant_a


def test_a_member_without_totp_is_sent_to_set_it_up(alpha_requires_mfa, make_person):
    person = make_person(alpha=Role.ADMIN, beta=Role.ADMIN)
    client = client_for("alpha.localhost")
    sign_in(client, person.email)
    for path in ("/", "/llm/assistants/", "/widgets/", "/audit/", "/knowledge/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"] == ACTIVATE, path
    page = client.get(ACTIVATE)
    assert b"Alpha Corp requires two-factor authentication" in page.content


def test_htmx_fragments_are_refused_too(alpha_requires_mfa, alpha_agent):
    client = client_for("alpha.localhost")
    client.force_login(alpha_agent)
    response = client.get("/conversations/", HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == ACTIVATE
    assert b"conversation" not in response.content.lower()


def test_the_security_page_stays_reachable_to_set_it_up(alpha_requires_mfa, alpha_agent):
    client = client_for("alpha.localhost")
    client.force_login(alpha_agent)
    response = client.get("/accounts/security/")
    assert response.status_code == 200
    assert b"Required by Alpha Corp" in response.content


def test_once_set_up_the_tenant_opens(alpha_requires_mfa, alpha_agent, with_totp):
    with_totp(alpha_agent)
    client = client_for("alpha.localhost")
    client.force_login(alpha_agent)
    assert client.get("/").status_code == 200


def test_another_tenant_without_the_requirement_is_unaffected(alpha_requires_mfa, make_person):
    person = make_person(alpha=Role.AGENT, beta=Role.AGENT)
    client = client_for("beta.localhost")
    sign_in(client, person.email)
    assert client.get("/").status_code == 200
    assert client.get("/conversations/").status_code == 200


def test_totp_cannot_be_turned_off_while_a_tenant_requires_it(
    alpha_requires_mfa, alpha_agent, with_totp
):
    secret = with_totp(alpha_agent)
    client = client_for("alpha.localhost")
    sign_in(client, alpha_agent.email)
    client.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)})
    response = client.post("/accounts/2fa/totp/deactivate/")
    assert response.status_code == 200
    assert b"requires two-factor authentication" in response.content
    assert Authenticator.objects.filter(user=alpha_agent, type="totp").exists()


# --- The tenant's security settings (owners) ---------------------------------------------------


def test_an_owner_requires_mfa_and_it_is_audited(seeded, tenant_a, with_totp):
    owner = seeded["alpha"].owner
    with_totp(owner)
    client = client_for("alpha.localhost")
    client.force_login(owner)
    page = client.get("/security/")
    assert page.status_code == 200 and b"Require two-factor authentication" in page.content
    response = client.post("/security/", {"require_mfa": "on"})
    assert response.status_code == 302
    tenant_a.refresh_from_db()
    assert tenant_a.require_mfa
    with tenant_context(tenant_a):
        event = AuditEvent.objects.get(action="security.mfa_required")
    assert event.actor_id == owner.pk and event.data == {"require_mfa": True}
    client.post("/security/", {})
    tenant_a.refresh_from_db()
    assert not tenant_a.require_mfa


def test_an_owner_without_totp_cannot_require_it(seeded, tenant_a):
    client = client_for("alpha.localhost")
    client.force_login(seeded["alpha"].owner)
    response = client.post("/security/", {"require_mfa": "on"})
    assert response.status_code == 400
    assert b"Set up two-factor authentication for your own account first" in response.content
    tenant_a.refresh_from_db()
    assert not tenant_a.require_mfa


@pytest.mark.parametrize("role", [Role.ADMIN, Role.AGENT, Role.VIEWER])
def test_only_owners_see_the_security_settings(make_person, tenant_a, role):
    client = client_for("alpha.localhost")
    client.force_login(make_person(alpha=role))
    assert client.get("/security/").status_code == 404
    assert client.post("/security/", {"require_mfa": "on"}).status_code == 404


def test_the_security_settings_list_who_lacks_totp(seeded, make_person, with_totp):
    owner = seeded["alpha"].owner
    with_totp(owner)
    make_person("no-app@example.test", alpha=Role.AGENT)
    make_person("beta-only@example.test", beta=Role.AGENT)
    client = client_for("alpha.localhost")
    client.force_login(owner)
    body = client.get("/security/").content.decode()
    assert "no-app@example.test" in body
    assert "beta-only@example.test" not in body
    assert "2 members, 1 without an authenticator app" in body
