"""The widget settings page: only admins and owners see or change it, changes go through the
service with errors on the right field, and the identity secret shows only when revealed."""

from __future__ import annotations

import hashlib
import hmac
import html
import re

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEvent
from apps.core.errors import InvalidInput
from apps.llm import services as llm
from apps.tenants.models import Role
from apps.tenants.services import membership_set
from apps.widgets.forms import WidgetSettingsForm, add_service_error
from apps.widgets.models import Widget
from apps.widgets.security import identity_sign
from tests.factories import UserFactory

HOST = "alpha.localhost"
PREVIEW_ORIGIN = f"http://{HOST}"


@pytest.fixture
def people(tenant_a, seeded) -> dict:
    people = {"owner": seeded["alpha"].owner, "outsider": seeded["beta"].owner}
    for role in (Role.ADMIN, Role.AGENT, Role.VIEWER):
        person = UserFactory()
        membership_set(tenant=tenant_a, user=person, role=role)
        people[str(role)] = person
    return people


@pytest.fixture
def client_as(people):
    def make(role: str) -> Client:
        client = Client(HTTP_HOST=HOST, HTTP_USER_AGENT="pytest-browser")
        client.force_login(people[role])
        return client

    return make


@pytest.fixture
def widget(tenant_a) -> Widget:
    with tenant_context(tenant_a):
        return Widget.objects.get(name="Website")


def reload(tenant, widget: Widget) -> Widget:
    with tenant_context(tenant):
        return Widget.objects.get(pk=widget.pk)


def events(tenant, action: str) -> list[AuditEvent]:
    with tenant_context(tenant):
        return list(AuditEvent.objects.filter(action=action))


def valid_post(widget: Widget, **changes) -> dict:
    data = {
        "title": widget.title,
        "logo_url": widget.logo_url,
        "primary_color": widget.primary_color,
        "text_on_primary_color": widget.text_on_primary_color,
        "position": widget.position,
        "launcher_icon": widget.launcher_icon,
        "dark_mode": widget.dark_mode,
        "language": widget.language,
        "greeting": widget.greeting,
        "starter_1": "",
        "starter_2": "",
        "starter_3": "",
        "starter_4": "",
        "assistant": "",
        "allowed_origins": "\n".join(widget.allowed_origins),
    }
    for flag in ("show_sources", "is_enabled", "allow_wildcard_subdomains"):
        if getattr(widget, flag):
            data[flag] = "on"
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def urls(widget: Widget) -> list[str]:
    return [
        "/widgets/",
        f"/widgets/{widget.pk}/",
        f"/widgets/{widget.pk}/preview/",
        f"/widgets/{widget.pk}/secret/",
    ]


# --- Who may see and change the page -----------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "expected"),
    [("owner", 200), ("admin", 200), ("viewer", 404), ("agent", 404), ("outsider", 404)],
)
def test_pages_are_for_admins_and_owners(client_as, widget, role, expected):
    client = client_as(role)
    for url in urls(widget):
        response = client.get(url)
        assert response.status_code == expected, url
        if expected == 404:
            assert widget.embed_key not in response.content.decode(), url
            assert b"Page not found" in response.content


def test_anonymous_is_sent_to_login(widget):
    for url in urls(widget):
        response = Client(HTTP_HOST=HOST).get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/")


@pytest.mark.parametrize("role", ["viewer", "agent", "outsider"])
def test_non_admins_change_nothing(client_as, tenant_a, widget, role):
    client = client_as(role)
    secret = widget.identity_secret
    posts = [
        (f"/widgets/{widget.pk}/", valid_post(widget, title="Hijacked")),
        (f"/widgets/{widget.pk}/secret/", {}),
        (f"/widgets/{widget.pk}/secret/rotate/", {}),
    ]
    for url, data in posts:
        response = client.post(url, data, HTTP_HX_REQUEST="true")
        assert response.status_code == 404, url
        assert secret not in response.content.decode()
    after = reload(tenant_a, widget)
    assert after.title != "Hijacked"
    assert after.identity_secret == secret
    with tenant_context(tenant_a):
        assert not AuditEvent.objects.filter(object_type="widget").exists()


def test_another_tenants_widget_is_not_found(client_as, tenant_b):
    with tenant_context(tenant_b):
        beta_widget = Widget.objects.get()
    client = client_as("owner")
    for url in urls(beta_widget)[1:]:
        assert client.get(url).status_code == 404, url
    assert client.post(f"/widgets/{beta_widget.pk}/secret/").status_code == 404


def test_sidebar_links_the_page_for_admins_only(client_as, widget):
    assert b'href="/widgets/"' in client_as("admin").get("/").content
    assert b'href="/widgets/"' not in client_as("viewer").get("/").content


# --- The page -----------------------------------------------------------------------------------


def test_page_shows_settings_snippet_and_preview(client_as, widget):
    body = client_as("admin").get("/widgets/").content.decode()
    snippet = f'&lt;script src="http://{HOST}/widget.js" data-key="{widget.embed_key}" async&gt;'
    assert snippet in body
    assert f'src="/widgets/{widget.pk}/preview/?v=' in body
    assert 'name="primary_color"' in body and 'type="color"' in body
    assert "https://www.alpha.test" in body  # the current allowed origins, one per line


def test_page_never_shows_the_secret_until_revealed(client_as, tenant_a, widget):
    client = client_as("owner")
    for url in urls(widget):
        assert widget.identity_secret not in client.get(url).content.decode(), url
    fragment = client.get(f"/widgets/{widget.pk}/secret/", HTTP_HX_REQUEST="true")
    assert widget.identity_secret not in fragment.content.decode()
    assert "Reveal" in fragment.content.decode()
    assert events(tenant_a, "widget.secret_revealed") == []


def test_preview_page_embeds_the_widget_and_may_be_framed_by_the_backoffice(client_as, widget):
    response = client_as("admin").get(f"/widgets/{widget.pk}/preview/")
    body = response.content.decode()
    assert f'<script src="http://{HOST}/widget.js" data-key="{widget.embed_key}" async>' in body
    assert 'addEventListener("aichat:ready"' in body  # opens the chat
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert "no-cache" in response["Cache-Control"]
    assert widget.identity_secret not in body


def test_preview_hint_when_the_backoffice_origin_is_not_allowed(client_as, tenant_a, widget):
    client = client_as("admin")
    body = client.get("/widgets/").content.decode()
    assert "not an allowed origin" in body
    assert f'data-add-origin="{PREVIEW_ORIGIN}"' in body

    data = valid_post(widget, allowed_origins=f"https://www.alpha.test\n{PREVIEW_ORIGIN}")
    response = client.post(f"/widgets/{widget.pk}/", data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "not an allowed origin" not in response.content.decode()
    assert reload(tenant_a, widget).allowed_origins == ["https://www.alpha.test", PREVIEW_ORIGIN]


def test_disabled_widget_says_so_in_the_preview(client_as, widget):
    data = valid_post(widget, is_enabled=None)
    body = client_as("admin").post(f"/widgets/{widget.pk}/", data, HTTP_HX_REQUEST="true")
    assert "This widget is disabled" in body.content.decode()


# --- Saving ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_admin_saves_settings_and_it_is_audited(client_as, people, tenant_a, widget, role):
    with tenant_context(tenant_a):
        assistant = llm.assistant_create(name="Sales")
    data = valid_post(
        widget,
        title="Alpha help",
        greeting="Hi! Ask me about **orders**.",
        primary_color="#0F766E",
        text_on_primary_color="#fff",
        position="left",
        launcher_icon="sparkle",
        dark_mode="dark",
        language="fr",
        starter_1="Where is my order?",
        starter_3="How do refunds work?",
        assistant=str(assistant.pk),
        logo_url="https://cdn.alpha.test/logo.png",
        allowed_origins="https://www.alpha.test\n  https://shop.alpha.test:8443/ \n\n",
        show_sources=None,
    )
    response = client_as(role).post(f"/widgets/{widget.pk}/", data)
    assert response.status_code == 302
    assert response["Location"] == f"/widgets/{widget.pk}/"

    after = reload(tenant_a, widget)
    assert after.title == "Alpha help"
    assert after.greeting == "Hi! Ask me about **orders**."
    assert after.primary_color == "#0F766E"
    assert after.text_on_primary_color == "#fff"
    assert (after.position, after.launcher_icon) == ("left", "sparkle")
    assert (after.dark_mode, after.language) == ("dark", "fr")
    assert after.starter_questions == ["Where is my order?", "How do refunds work?"]
    assert after.assistant_id == assistant.pk
    assert after.logo_url == "https://cdn.alpha.test/logo.png"
    assert after.allowed_origins == ["https://www.alpha.test", "https://shop.alpha.test:8443"]
    assert after.show_sources is False
    assert after.identity_secret == widget.identity_secret

    [event] = events(tenant_a, "widget.updated")
    assert event.actor_id == people[role].pk
    assert event.object_type == "widget" and event.object_id == str(widget.pk)
    assert event.ip_address == "127.0.0.1"
    assert event.user_agent == "pytest-browser"
    assert set(event.data["changed"]) >= {"title", "primary_color", "allowed_origins"}
    assert "identity_secret" not in str(event.data)


def test_htmx_save_swaps_in_the_editor_with_a_fresh_preview(client_as, tenant_a, widget):
    data = valid_post(widget, title="Fresh")
    response = client_as("admin").post(f"/widgets/{widget.pk}/", data, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="wg-editor"' in body and "<html" not in body
    assert "Saved. The preview shows the new settings." in body
    assert 'value="Fresh"' in body
    # The iframe's address changes with every save, so HTMX's swap reloads the preview.
    version = int(reload(tenant_a, widget).updated_at.timestamp())
    assert f'src="/widgets/{widget.pk}/preview/?v={version}"' in body


def test_saving_without_changes_records_nothing(client_as, tenant_a, widget):
    response = client_as("admin").post(f"/widgets/{widget.pk}/", valid_post(widget))
    assert response.status_code == 302
    assert events(tenant_a, "widget.updated") == []


@pytest.mark.parametrize("color", ["red", "#12", "#12345g", "rgb(1,2,3)"])
def test_invalid_colour_is_a_field_error_and_saves_nothing(client_as, tenant_a, widget, color):
    data = valid_post(widget, title="Should not stick", primary_color=color)
    response = client_as("admin").post(f"/widgets/{widget.pk}/", data)
    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors.keys() == {"primary_color"}
    assert "Nothing was saved" in response.content.decode()
    after = reload(tenant_a, widget)
    assert after.title == widget.title and after.primary_color == widget.primary_color
    assert events(tenant_a, "widget.updated") == []


@pytest.mark.parametrize(
    "origin",
    [
        "https://shop.alpha.test/checkout",  # a path is not an origin
        "ftp://files.alpha.test",
        "shop.alpha.test",  # no scheme
        "https://a.*.alpha.test",  # a wildcard in the middle
        "https://exa mple.com",
        "https://user@shop.alpha.test",
    ],
)
def test_bad_origin_is_a_field_error_and_saves_nothing(client_as, tenant_a, widget, origin):
    data = valid_post(
        widget, title="Should not stick", allowed_origins=f"https://ok.test\n{origin}"
    )
    response = client_as("admin").post(f"/widgets/{widget.pk}/", data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200  # HTMX swaps the form with its errors in
    form = response.context["form"]
    assert list(form.errors) == ["allowed_origins"]
    assert html.escape(origin.split("://")[-1].split("/")[0]) in response.content.decode()
    after = reload(tenant_a, widget)
    assert after.allowed_origins == widget.allowed_origins and after.title == widget.title


def test_colour_and_origin_mistakes_show_together(client_as, tenant_a, widget):
    data = valid_post(widget, primary_color="#12", allowed_origins="ftp://files.alpha.test")
    response = client_as("admin").post(f"/widgets/{widget.pk}/", data)
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"primary_color", "allowed_origins"}


def test_service_errors_land_on_their_fields(in_tenant_a):
    form = WidgetSettingsForm(data={})
    form.is_valid()
    add_service_error(form, InvalidInput("bad origin", code="invalid_origin"))
    add_service_error(form, ValidationError({"starter_questions": ["too long"], "x": ["odd"]}))
    add_service_error(form, InvalidInput("something else", code="mystery"))
    assert "bad origin" in form.errors["allowed_origins"]
    assert "too long" in form.errors["starter_1"]
    assert {"odd", "something else"} <= set(form.non_field_errors())


def test_wildcard_origin_needs_the_opt_in(client_as, tenant_a, widget):
    client = client_as("admin")
    data = valid_post(widget, allowed_origins="https://*.alpha.test")
    response = client.post(f"/widgets/{widget.pk}/", data)
    assert response.status_code == 400
    assert "Allow subdomain wildcards" in response.context["form"].errors["allowed_origins"][0]

    too_broad = valid_post(widget, allowed_origins="https://*.test", allow_wildcard_subdomains="on")
    assert client.post(f"/widgets/{widget.pk}/", too_broad).status_code == 400
    assert reload(tenant_a, widget).allowed_origins == widget.allowed_origins

    data["allow_wildcard_subdomains"] = "on"
    assert client.post(f"/widgets/{widget.pk}/", data).status_code == 302
    after = reload(tenant_a, widget)
    assert after.allowed_origins == ["https://*.alpha.test"]
    assert after.allow_wildcard_subdomains is True


def test_too_long_title_and_bad_choice_are_field_errors(client_as, tenant_a, widget):
    data = valid_post(widget, title="x" * 81, position="top")
    response = client_as("admin").post(f"/widgets/{widget.pk}/", data)
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"title", "position"}
    assert reload(tenant_a, widget).title == widget.title


# --- Identity secret ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_reveal_shows_the_secret_and_is_audited(client_as, people, tenant_a, widget, role):
    response = client_as(role).post(f"/widgets/{widget.pk}/secret/", HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert widget.identity_secret in body
    assert 'id="identity"' in body and "<html" not in body
    [event] = events(tenant_a, "widget.secret_revealed")
    assert event.actor_id == people[role].pk
    assert event.object_id == str(widget.pk)
    assert event.ip_address == "127.0.0.1"
    assert widget.identity_secret not in str(event.data)


def test_reveal_without_javascript_renders_the_whole_page(client_as, tenant_a, widget):
    response = client_as("admin").post(f"/widgets/{widget.pk}/secret/")
    assert response.status_code == 200
    body = response.content.decode()
    assert widget.identity_secret in body and 'id="wg-editor"' in body
    assert len(events(tenant_a, "widget.secret_revealed")) == 1


def test_the_python_sample_signs_like_the_server_verifies(client_as, widget, monkeypatch):
    body = client_as("admin").post(f"/widgets/{widget.pk}/secret/").content.decode()
    sample = html.unescape(re.search(r"<code>(import hashlib.*?)</code>", body, re.S).group(1))
    monkeypatch.setenv("AICHAT_WIDGET_SECRET", widget.identity_secret)
    scope = {"user_id": 42}
    exec(sample, scope)  # noqa: S102 - our own documentation sample
    assert scope["signature"] == identity_sign(widget, "42")
    expected = hmac.new(widget.identity_secret.encode(), b"42", hashlib.sha256).hexdigest()
    assert scope["signature"] == expected


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_rotate_replaces_the_secret_and_is_audited(client_as, people, tenant_a, widget, role):
    response = client_as(role).post(f"/widgets/{widget.pk}/secret/rotate/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    after = reload(tenant_a, widget)
    assert after.identity_secret != widget.identity_secret
    body = response.content.decode()
    assert "New secret in place" in body
    assert after.identity_secret not in body and widget.identity_secret not in body
    [event] = events(tenant_a, "widget.secret_rotated")
    assert event.actor_id == people[role].pk
    assert event.object_id == str(widget.pk)
    assert after.identity_secret not in str(event.data)


def test_rotate_asks_for_confirmation_and_works_without_javascript(client_as, tenant_a, widget):
    client = client_as("admin")
    assert b"hx-confirm=" in client.get("/widgets/").content
    response = client.post(f"/widgets/{widget.pk}/secret/rotate/")
    assert response.status_code == 302
    assert response["Location"] == f"/widgets/{widget.pk}/#identity"
    assert reload(tenant_a, widget).identity_secret != widget.identity_secret


def test_rotate_is_post_only(client_as, tenant_a, widget):
    assert client_as("admin").get(f"/widgets/{widget.pk}/secret/rotate/").status_code == 405
    assert reload(tenant_a, widget).identity_secret == widget.identity_secret
