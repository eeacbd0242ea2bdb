"""OpenID Connect single sign-on, end to end against a fake provider on loopback: it signs in
existing accounts with the same verified address, and nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from allauth.socialaccount.models import SocialAccount

from apps.accounts.models import User
from apps.tenants.models import Membership, Role
from config.settings.base import oidc_provider_settings
from tests.accounts.conftest import client_for, totp_code
from tests.accounts.oidc_provider import CLIENT_ID, CLIENT_SECRET, FakeOIDCProvider
from tests.factories import UserFactory

LOGIN_URL = "/accounts/oidc/corp/login/"
CALLBACK = "http://alpha.localhost/accounts/oidc/corp/login/callback/"


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeOIDCProvider]:
    fake = FakeOIDCProvider().start()
    yield fake
    fake.stop()


@pytest.fixture
def oidc_on(settings, provider):
    settings.SOCIALACCOUNT_PROVIDERS = oidc_provider_settings(
        provider_id="corp",
        name="Corp SSO",
        server_url=provider.url,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
    )
    provider.claims = {}
    return provider


def claims_for(email: str, *, verified: bool = True, sub: str | None = None) -> dict:
    return {"sub": sub or f"sub-{email}", "email": email, "email_verified": verified, "name": "X"}


def single_sign_on(client, provider: FakeOIDCProvider, **post):
    """Press the button, let the provider sign the person in, come back with the code."""
    start = client.post(LOGIN_URL + "?process=login", post)
    assert start.status_code == 302, start.status_code
    assert start["Location"].startswith(f"{provider.url}/authorize?")
    back = requests.get(start["Location"], allow_redirects=False, timeout=5)
    callback = urlsplit(back.headers["Location"])
    return client.get(f"{callback.path}?{callback.query}")


def test_the_login_page_offers_the_provider(oidc_on, tenant_a):
    body = client_for("alpha.localhost").get("/login/").content.decode()
    assert "Sign in with Corp SSO" in body
    assert f'action="{LOGIN_URL}?process=login"' in body


def test_no_button_and_no_endpoint_without_configuration(settings, tenant_a):
    assert settings.SOCIALACCOUNT_PROVIDERS == {}
    client = client_for("alpha.localhost")
    assert b"Sign in with" not in client.get("/login/").content
    assert client.post(LOGIN_URL).status_code == 404


def test_the_redirect_carries_client_id_redirect_uri_state_and_pkce(oidc_on, tenant_a):
    response = client_for("alpha.localhost").post(LOGIN_URL + "?process=login")
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == [CALLBACK]
    assert query["response_type"] == ["code"]
    assert "openid" in query["scope"][0].split()
    assert len(query["state"][0]) >= 12
    assert query["code_challenge_method"] == ["S256"]


def test_an_existing_verified_account_signs_in(oidc_on, make_person):
    person = make_person("sso.person@example.test", alpha=Role.AGENT)
    oidc_on.claims = claims_for("SSO.Person@example.test")
    client = client_for("alpha.localhost")
    response = single_sign_on(client, oidc_on, next="/knowledge/")
    assert response.status_code == 302 and response["Location"] == "/knowledge/"
    assert client.get("/").status_code == 200
    assert SocialAccount.objects.filter(user=person, provider="corp").exists()  # auto-connected
    assert oidc_on.token_requests[-1]["code_verifier"]  # PKCE was used
    # Next time the connection itself finds the account.
    again = client_for("alpha.localhost")
    assert single_sign_on(again, oidc_on)["Location"] == "/"


def test_an_unknown_address_creates_no_account(oidc_on, tenant_a):
    oidc_on.claims = claims_for("stranger@example.test")
    client = client_for("alpha.localhost")
    response = single_sign_on(client, oidc_on)
    assert response.status_code == 200
    assert b"Accounts are by invitation" in response.content
    assert not User.objects.filter(email="stranger@example.test").exists()
    assert client.get("/").status_code == 302


def test_an_address_the_provider_has_not_verified_is_not_trusted(oidc_on, make_person):
    make_person("unverified.claim@example.test", alpha=Role.AGENT)
    oidc_on.claims = claims_for("unverified.claim@example.test", verified=False)
    client = client_for("alpha.localhost")
    single_sign_on(client, oidc_on)
    assert client.get("/").status_code == 302


def test_a_local_address_that_is_not_verified_is_not_taken_over(oidc_on, tenant_a):
    from apps.tenants.services import membership_set

    person = UserFactory(email="not.yet@example.test")  # no verified address here
    membership_set(tenant=tenant_a, user=person, role=Role.AGENT)
    oidc_on.claims = claims_for("not.yet@example.test")
    client = client_for("alpha.localhost")
    single_sign_on(client, oidc_on)
    assert client.get("/").status_code == 302
    person.refresh_from_db()
    assert person.has_usable_password()  # allauth would have wiped it; nothing happened


def test_single_sign_on_never_creates_memberships(oidc_on, make_person):
    person = make_person("beta.only@example.test", beta=Role.VIEWER)
    oidc_on.claims = claims_for("beta.only@example.test")
    client = client_for("alpha.localhost")
    single_sign_on(client, oidc_on)
    assert client.get("/").status_code == 404  # signed in, but not a member of alpha
    assert list(Membership.objects.filter(user=person).values_list("tenant__slug", flat=True)) == [
        "beta"
    ]


def test_two_factor_still_applies_after_single_sign_on(oidc_on, make_person, with_totp):
    person = make_person("with.app@example.test", alpha=Role.AGENT)
    secret = with_totp(person)
    oidc_on.claims = claims_for("with.app@example.test")
    client = client_for("alpha.localhost")
    response = single_sign_on(client, oidc_on)
    assert response["Location"] == "/accounts/2fa/authenticate/"
    assert client.get("/").status_code == 302
    client.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)})
    assert client.get("/").status_code == 200


def test_a_provider_error_shows_a_page_not_a_traceback(oidc_on, tenant_a):
    client = client_for("alpha.localhost")
    client.post(LOGIN_URL + "?process=login")
    response = client.get("/accounts/oidc/corp/login/callback/?code=forged&state=forged")
    assert response.status_code == 401
    assert b"Single sign-on failed" in response.content
