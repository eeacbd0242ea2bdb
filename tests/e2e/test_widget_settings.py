"""An owner restyles the chat widget in Chromium and sees the real widget change in the preview.

The test uses a tenant of its own (committed, since the server is another process), so the
shared alpha and beta tenants keep their settings.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEvent
from apps.tenants.services import TenantCreated, tenant_create
from apps.widgets.models import Widget

SLUG = "wgsettings"
OWNER = f"owner@{SLUG}.test"
PASSWORD = "correct-horse-battery"
VIEWPORTS = {"desktop": (1280, 900), "phone": (390, 844)}


@pytest.fixture(scope="session")
def widget_tenant(server_port, django_db_blocker) -> TenantCreated:
    """A tenant whose widget allows its own backoffice origin (as new tenants do)."""
    with django_db_blocker.unblock():
        created = tenant_create(
            slug=SLUG,
            name="Widget Settings Co",
            domain=f"{SLUG}.localhost",
            owner_email=OWNER,
            owner_password=PASSWORD,
            allowed_origins=[f"http://{SLUG}.localhost:{server_port}", "https://www.wgs.test"],
        )
        connection.set_schema_to_public()
    return created


def sign_in(browser, server_port: int, viewport: str):
    width, height = VIEWPORTS[viewport]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    base = f"http://{SLUG}.localhost:{server_port}"
    page.goto(f"{base}/login/")
    page.fill("#id_login", OWNER)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("domcontentloaded")
    return context, page, base


def test_owner_restyles_the_widget_and_the_preview_follows(
    browser, server_port, widget_tenant, screenshot_dir, django_db_blocker
):
    context, page, base = sign_in(browser, server_port, "desktop")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page.goto(f"{base}/widgets/")
    assert page.locator("h1").inner_text().startswith("Chat widget")
    assert page.locator("nav .nav-link.active").inner_text().strip() == "Widget"
    assert widget_tenant.embed_key in page.locator("#wg-snippet").inner_text()
    # The backoffice origin is allowed, so there is no hint about it.
    assert page.locator("[data-preview-origin-hint]").count() == 0

    page.fill("#id_title", "Acme Help Desk")
    page.locator("input[data-color-for=id_primary_color]").fill("#0f766e")
    assert page.input_value("#id_primary_color") == "#0f766e"
    page.fill("#id_starter_1", "Where is my order?")
    page.check("#id_position_1")  # bottom left
    page.click("#wg-editor button[type=submit]")
    page.locator("#wg-editor .wg-status-ok", has_text="Saved").wait_for()

    # The swapped-in iframe runs the real widget: launcher in an open shadow root, restyled.
    frame = page.frame_locator("#wg-preview-frame")
    frame.locator("#aichat-root").wait_for(state="attached")
    launcher = frame.locator("#aichat-root button.launcher")
    launcher.wait_for(state="attached")
    # The preview opens the chat; in a frame this narrow it fills the frame, as on a phone.
    panel = frame.locator("#aichat-panel")
    panel.wait_for()
    panel.get_by_text("Acme Help Desk").first.wait_for()
    panel.get_by_text("Where is my order?").first.wait_for()
    for part in (launcher, panel.locator(".head")):
        assert part.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(15, 118, 110)"
    assert "unavailable" not in panel.inner_text().lower()
    has_open_shadow = (
        page.frame_locator("#wg-preview-frame")
        .locator("body")
        .evaluate("() => !!document.getElementById('aichat-root').shadowRoot")
    )
    assert has_open_shadow
    page.wait_for_timeout(400)  # let the window's opening transition finish
    page.screenshot(path=screenshot_dir / "widget-settings-desktop.png")
    page.screenshot(path=screenshot_dir / "widget-settings-desktop-full.png", full_page=True)
    page.locator(".wg-preview").screenshot(path=screenshot_dir / "widget-preview-open.png")

    # Closed, the launcher sits in the corner the owner picked.
    page.click("[data-preview=toggle]")
    launcher.wait_for()
    frame_box = page.locator("#wg-preview-frame").bounding_box()
    launcher_box = launcher.bounding_box()
    assert launcher_box["x"] + launcher_box["width"] / 2 < frame_box["x"] + frame_box["width"] / 2
    page.wait_for_timeout(400)
    page.locator(".wg-preview").screenshot(path=screenshot_dir / "widget-preview-closed.png")

    with django_db_blocker.unblock(), tenant_context(widget_tenant.tenant):
        widget = Widget.objects.get(name="Website")
        assert (widget.title, widget.primary_color) == ("Acme Help Desk", "#0f766e")
        assert widget.position == "left"
        assert widget.starter_questions == ["Where is my order?"]
        secret = widget.identity_secret
    assert secret not in page.content()

    # Reveal (audited), copy, then rotate after confirming.
    page.click("#identity button:has-text('Reveal')")
    page.locator("#wg-secret-value").wait_for()
    assert page.locator("#wg-secret-value").inner_text() == secret
    page.click("#identity [data-copy]")
    page.locator("#identity [data-copy]", has_text="Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == secret

    page.click("#identity button:has-text('Rotate secret')")
    dialog = page.locator("dialog#llm-confirm")
    dialog.wait_for()
    dialog.locator("[data-confirm-ok]").click()
    page.locator("#identity .notice-ok", has_text="New secret in place").wait_for()
    assert page.locator("#wg-secret-value").count() == 0

    with django_db_blocker.unblock(), tenant_context(widget_tenant.tenant):
        rotated = Widget.objects.get(name="Website").identity_secret
        actions = set(
            AuditEvent.objects.filter(object_type="widget").values_list("action", flat=True)
        )
    connection.set_schema_to_public()
    assert rotated != secret
    assert actions == {"widget.updated", "widget.secret_revealed", "widget.secret_rotated"}
    context.close()


def test_page_fits_a_phone(browser, server_port, widget_tenant, screenshot_dir):
    context, page, base = sign_in(browser, server_port, "phone")
    page.goto(f"{base}/widgets/")
    frame = page.frame_locator("#wg-preview-frame")
    frame.locator("#aichat-panel").wait_for()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"
    page.locator(".wg-preview").scroll_into_view_if_needed()
    page.wait_for_timeout(400)
    page.screenshot(path=screenshot_dir / "widget-settings-phone.png", full_page=True)
    context.close()
