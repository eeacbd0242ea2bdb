"""Switching tenants without signing in again: a signed, single-use, 60-second token from
tenant A's host, redeemed on tenant B's host."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import signing
from django.test import Client

from apps.accounts.services import (
    SWITCH_TOKEN_SALT,
    tenant_switch_token_issue,
    tenant_switch_token_redeem,
)
from apps.core.errors import AppError
from apps.tenants.models import Membership, Role
from tests.accounts.conftest import client_for, sign_in, totp_code


@pytest.fixture
def member_of_both(make_person):
    return make_person(alpha=Role.ADMIN, beta=Role.AGENT)


def switch_link(client, slug: str = "beta") -> str:
    """Follow tenant A's switch link; return the handoff URL it sends the browser to."""
    response = client.get(f"/accounts/switch/{slug}/")
    assert response.status_code == 302, response.status_code
    return response["Location"]


def handoff(url: str, client=None):
    parts = urlsplit(url)
    client = client or client_for(parts.hostname)
    return client, client.get(f"{parts.path}?{parts.query}")


def test_the_switcher_links_to_the_switch_view(member_of_both):
    client = client_for("alpha.localhost")
    client.force_login(member_of_both)
    body = client.get("/").content.decode()
    assert 'href="/accounts/switch/beta/"' in body
    assert "http://beta.localhost" not in body  # no bare link to a host without a session


def test_switching_signs_the_person_in_on_the_other_host(member_of_both):
    alpha = client_for("alpha.localhost")
    sign_in(alpha, member_of_both.email)
    url = switch_link(alpha)
    assert url.startswith("http://beta.localhost/accounts/handoff/?token=")
    beta, response = handoff(url)
    assert response.status_code == 302 and response["Location"] == "/"
    page = beta.get("/")
    assert page.status_code == 200 and b"Beta Corp" in page.content
    assert int(beta.session["_auth_user_id"]) == member_of_both.pk


def test_the_port_the_browser_used_is_kept(member_of_both):
    alpha = client_for("alpha.localhost:8000")
    alpha.force_login(member_of_both)
    assert switch_link(alpha).startswith("http://beta.localhost:8000/accounts/handoff/")


def test_a_replayed_token_is_refused(member_of_both):
    alpha = client_for("alpha.localhost")
    alpha.force_login(member_of_both)
    url = switch_link(alpha)
    handoff(url)
    other_browser, response = handoff(url)
    assert response.status_code == 400
    assert b"already been used" in response.content
    assert other_browser.get("/").status_code == 302


def test_an_expired_token_is_refused(member_of_both, tenant_b, monkeypatch):
    token = tenant_switch_token_issue(
        user=member_of_both, target=tenant_b, mfa_verified=False, from_tenant=None
    )
    real_time = signing.time.time
    monkeypatch.setattr(signing.time, "time", lambda: real_time() + 61)
    with pytest.raises(AppError) as refused:
        tenant_switch_token_redeem(token=token, tenant=tenant_b)
    assert refused.value.code == "switch_token_expired"


def test_an_expired_token_link_shows_a_page_not_a_session(member_of_both, tenant_b, monkeypatch):
    token = tenant_switch_token_issue(
        user=member_of_both, target=tenant_b, mfa_verified=False, from_tenant=None
    )
    real_time = signing.time.time
    monkeypatch.setattr(signing.time, "time", lambda: real_time() + 61)
    beta = client_for("beta.localhost")
    response = beta.get(f"/accounts/handoff/?token={token}")
    assert response.status_code == 400 and b"expired" in response.content
    assert beta.get("/").status_code == 302


def test_a_tampered_token_is_refused(member_of_both, make_person, tenant_b):
    token = tenant_switch_token_issue(
        user=member_of_both, target=tenant_b, mfa_verified=False, from_tenant=None
    )
    data = signing.loads(token, salt=SWITCH_TOKEN_SALT)
    intruder = make_person(beta=Role.OWNER)
    forged = signing.dumps({**data, "u": intruder.pk}, salt="not-the-salt", compress=True)
    flipped = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for bad in (forged, flipped, "garbage", ""):
        beta = client_for("beta.localhost")
        response = beta.get("/accounts/handoff/", {"token": bad})
        assert response.status_code == 400, bad
        assert beta.get("/").status_code == 302


def test_a_token_for_another_tenant_is_refused_on_this_host(member_of_both, tenant_b):
    token = tenant_switch_token_issue(
        user=member_of_both, target=tenant_b, mfa_verified=False, from_tenant=None
    )
    alpha = client_for("alpha.localhost")
    response = alpha.get("/accounts/handoff/", {"token": token})
    assert response.status_code == 400
    assert alpha.get("/").status_code == 302


def test_no_switch_to_a_tenant_the_person_is_not_in(alpha_agent):
    alpha = client_for("alpha.localhost")
    alpha.force_login(alpha_agent)
    assert alpha.get("/accounts/switch/beta/").status_code == 404
    assert alpha.get("/accounts/switch/no-such-tenant/").status_code == 404


def test_a_person_removed_meanwhile_is_refused(member_of_both, tenant_b):
    alpha = client_for("alpha.localhost")
    alpha.force_login(member_of_both)
    url = switch_link(alpha)
    Membership.objects.filter(user=member_of_both, tenant=tenant_b).delete()
    beta, response = handoff(url)
    assert response.status_code == 404
    assert beta.get("/").status_code == 302


def test_a_link_made_in_another_browser_is_refused(member_of_both):
    alpha = Client(HTTP_HOST="alpha.localhost", HTTP_USER_AGENT="Firefox/128")
    alpha.force_login(member_of_both)
    url = switch_link(alpha)
    parts = urlsplit(url)
    elsewhere = Client(HTTP_HOST="beta.localhost", HTTP_USER_AGENT="Chrome/126")
    assert elsewhere.get(f"{parts.path}?{parts.query}").status_code == 400
    same = Client(HTTP_HOST="beta.localhost", HTTP_USER_AGENT="Firefox/128")
    assert same.get(f"{parts.path}?{parts.query}").status_code == 302


def test_a_changed_password_kills_outstanding_switch_links(member_of_both):
    alpha = client_for("alpha.localhost")
    alpha.force_login(member_of_both)
    url = switch_link(alpha)
    member_of_both.set_password("a-new-password-9")
    member_of_both.save()
    _, response = handoff(url)
    assert response.status_code == 400


def test_a_tenant_requiring_mfa_refuses_a_session_without_it(member_of_both, tenant_b, with_totp):
    tenant_b.require_mfa = True
    tenant_b.save(update_fields=["require_mfa"])
    with_totp(member_of_both)
    alpha = client_for("alpha.localhost")
    alpha.force_login(member_of_both)  # a session that never passed the second factor
    beta, response = handoff(switch_link(alpha))
    assert response.status_code == 403
    assert b"requires two-factor authentication" in response.content
    assert beta.get("/").status_code == 302


def test_a_tenant_requiring_mfa_accepts_a_session_that_passed_it(
    member_of_both, tenant_b, with_totp
):
    tenant_b.require_mfa = True
    tenant_b.save(update_fields=["require_mfa"])
    secret = with_totp(member_of_both)
    alpha = client_for("alpha.localhost")
    sign_in(alpha, member_of_both.email)
    alpha.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)})
    beta, response = handoff(switch_link(alpha))
    assert response.status_code == 302
    assert beta.get("/").status_code == 200


def test_without_totp_the_requirement_sends_the_switched_person_to_set_it_up(
    member_of_both, tenant_b
):
    tenant_b.require_mfa = True
    tenant_b.save(update_fields=["require_mfa"])
    alpha = client_for("alpha.localhost")
    sign_in(alpha, member_of_both.email)
    beta, response = handoff(switch_link(alpha))
    assert response.status_code == 302
    assert beta.get("/")["Location"] == "/accounts/2fa/totp/activate/"


def test_the_switched_session_keeps_the_original_sign_in_time(member_of_both):
    from apps.accounts.middleware import SIGNED_IN_AT

    alpha = client_for("alpha.localhost")
    sign_in(alpha, member_of_both.email)
    session = alpha.session
    session[SIGNED_IN_AT] -= 3600
    session.save()
    beta, _ = handoff(switch_link(alpha))
    assert abs(beta.session[SIGNED_IN_AT] - alpha.session[SIGNED_IN_AT]) < 1


def test_a_switch_token_names_no_secret_in_clear(member_of_both, tenant_b):
    token = tenant_switch_token_issue(
        user=member_of_both, target=tenant_b, mfa_verified=True, from_tenant=None
    )
    query = parse_qs(urlsplit(f"http://x/?token={token}").query)
    assert query["token"] == [token]  # URL-safe as it is
    assert member_of_both.email not in token
