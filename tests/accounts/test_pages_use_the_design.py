"""Every allauth page a person can reach renders on our sign-in card, never allauth's bare
default layout (its "Menu:" list and unstyled forms)."""

from __future__ import annotations

import pytest

from apps.tenants.models import Role
from tests.accounts.conftest import client_for, sign_in

ANONYMOUS_PAGES = [
    "/login/",
    "/accounts/login/",
    "/accounts/signup/",
    "/accounts/inactive/",
    "/accounts/password/reset/",
    "/accounts/password/reset/done/",
    "/accounts/password/reset/key/done/",
    "/accounts/password/reset/key/1-bad-key/",
    "/accounts/confirm-email/",
    "/accounts/confirm-email/not-a-key/",
    "/accounts/3rdparty/login/cancelled/",
    "/accounts/3rdparty/login/error/",
]

SIGNED_IN_PAGES = [
    "/logout/",
    "/accounts/email/",
    "/accounts/password/change/",
    "/accounts/reauthenticate/",
    "/accounts/2fa/totp/activate/",
    "/accounts/3rdparty/",
]

WITH_TOTP_PAGES = [
    "/accounts/2fa/totp/deactivate/",
    "/accounts/2fa/recovery-codes/",
    "/accounts/2fa/recovery-codes/generate/",
    "/accounts/2fa/reauthenticate/",
]


def assert_designed(response, path: str) -> None:
    assert response.status_code in (200, 400, 401, 403), (path, response.status_code)
    body = response.content.decode()
    assert 'class="auth-card' in body, path
    assert "/static/css/app.css" in body, path
    assert "Menu:" not in body, path  # allauth's default layout


@pytest.mark.parametrize("host", ["alpha.localhost", "localhost"])
@pytest.mark.parametrize("path", ANONYMOUS_PAGES)
def test_anonymous_pages(tenant_a, host, path):
    assert_designed(client_for(host).get(path), path)


@pytest.mark.parametrize("path", SIGNED_IN_PAGES)
def test_signed_in_pages(make_person, path):
    client = client_for("alpha.localhost")
    sign_in(client, make_person(alpha=Role.AGENT).email)
    assert_designed(client.get(path), path)


@pytest.mark.parametrize("path", WITH_TOTP_PAGES)
def test_pages_of_people_with_an_authenticator(make_person, with_totp, path):
    person = make_person(alpha=Role.AGENT)
    with_totp(person)
    client = client_for("alpha.localhost")
    client.force_login(person)
    response = client.get(path, follow=True)
    assert_designed(response, path)


def test_the_code_prompt_during_sign_in(make_person, with_totp):
    person = make_person(alpha=Role.AGENT)
    with_totp(person)
    client = client_for("alpha.localhost")
    sign_in(client, person.email)
    assert_designed(client.get("/accounts/2fa/authenticate/"), "authenticate")


def test_the_security_page_on_the_platform_host(make_person):
    client = client_for("localhost")
    client.force_login(make_person())
    assert_designed(client.get("/accounts/security/"), "security")
