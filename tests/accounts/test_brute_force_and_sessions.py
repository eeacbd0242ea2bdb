"""Failed sign-ins are throttled per account (counted in Redis); sessions expire when idle and
after an absolute lifetime."""

from __future__ import annotations

import time

import pytest
from django.contrib.sessions.models import Session

from apps.accounts.middleware import LAST_SEEN_AT, SIGNED_IN_AT
from tests.accounts.conftest import PASSWORD, client_for, sign_in

LOCKOUT = b"Too many failed login attempts"


def test_five_failures_lock_the_account_even_for_the_right_password(settings, alpha_agent):
    assert settings.LOGIN_FAILURES_PER_ACCOUNT == 5
    for _ in range(5):
        response = sign_in(client_for("alpha.localhost"), alpha_agent.email, "guess")
        assert LOCKOUT not in response.content
    locked = sign_in(client_for("alpha.localhost"), alpha_agent.email, PASSWORD)
    assert locked.status_code == 200
    assert LOCKOUT in locked.content
    client = client_for("alpha.localhost")
    sign_in(client, alpha_agent.email, PASSWORD)
    assert client.get("/").status_code == 302  # still not signed in


def test_failures_count_across_every_tenant_host(make_person):
    person = make_person(alpha="agent", beta="agent")
    for host in (
        "alpha.localhost",
        "beta.localhost",
        "localhost",
        "alpha.localhost",
        "beta.localhost",
    ):
        sign_in(client_for(host), person.email, "guess")
    for host in ("alpha.localhost", "beta.localhost", "localhost"):
        assert LOCKOUT in sign_in(client_for(host), person.email).content, host


def test_a_successful_sign_in_does_not_count_as_a_failure(alpha_agent):
    for _ in range(6):
        assert sign_in(client_for("alpha.localhost"), alpha_agent.email)["Location"] == "/"


def test_other_accounts_are_not_locked_by_someone_elses_failures(alpha_agent, make_person):
    for _ in range(6):
        sign_in(client_for("alpha.localhost"), alpha_agent.email, "guess")
    other = make_person(alpha="agent")
    assert sign_in(client_for("alpha.localhost"), other.email)["Location"] == "/"


def test_the_lock_lifts_when_the_window_has_passed(settings, alpha_agent):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login_failed": "3/2s/key"}
    for _ in range(3):
        sign_in(client_for("alpha.localhost"), alpha_agent.email, "guess")
    assert LOCKOUT in sign_in(client_for("alpha.localhost"), alpha_agent.email).content
    time.sleep(2.2)
    assert sign_in(client_for("alpha.localhost"), alpha_agent.email)["Location"] == "/"


def test_production_settings_limit_failures_per_account_and_per_address():
    from config.settings import base

    assert base.ACCOUNT_RATE_LIMITS["login_failed"] == "20/m/ip,5/300s/key"


# --- Session lifetime ------------------------------------------------------------------------


def age_session(client, **seconds_ago: float) -> None:
    session = client.session
    for key, ago in seconds_ago.items():
        session[key] = time.time() - ago
    session.save()


def test_a_session_ends_after_its_absolute_lifetime(settings, alpha_agent):
    client = client_for("alpha.localhost")
    sign_in(client, alpha_agent.email)
    assert client.get("/").status_code == 200
    age_session(client, **{SIGNED_IN_AT: settings.SESSION_MAX_AGE + 5})
    response = client.get("/knowledge/")
    assert response.status_code == 302 and response["Location"] == "/login/?next=/knowledge/"
    assert client.get("/").status_code == 302  # signed out, not just redirected


def test_htmx_requests_of_an_ended_session_are_sent_to_sign_in(settings, alpha_agent):
    client = client_for("alpha.localhost")
    sign_in(client, alpha_agent.email)
    age_session(client, **{SIGNED_IN_AT: settings.SESSION_MAX_AGE + 5})
    response = client.get("/knowledge/", HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == "/login/"


def stored_expiry(client):
    return Session.objects.get(session_key=client.session.session_key).expire_date


def test_activity_pushes_the_idle_expiry_at_most_once_a_minute(settings, alpha_agent):
    client = client_for("alpha.localhost")
    sign_in(client, alpha_agent.email)
    first_expiry = stored_expiry(client)
    client.get("/")
    assert stored_expiry(client) == first_expiry  # seen moments ago: no write
    age_session(client, **{LAST_SEEN_AT: 120})
    first_expiry = stored_expiry(client)
    time.sleep(0.01)
    client.get("/")
    assert stored_expiry(client) > first_expiry


@pytest.mark.parametrize("name", ["SESSION_COOKIE_AGE", "SESSION_MAX_AGE"])
def test_session_lifetimes_are_bounded(settings, name):
    assert 0 < getattr(settings, name) <= 12 * 60 * 60
