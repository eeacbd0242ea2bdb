"""A tenant owner signs in on their own host in Chromium; another tenant's host refuses them."""

from __future__ import annotations

import pytest

VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}


def sign_in(page, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/")
    page.fill("#id_login", email)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("domcontentloaded")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_owner_signs_in_and_sees_the_embed_snippet(
    browser, server_port, seeded, screenshot_dir, viewport
):
    width, height = VIEWPORTS[viewport]
    page = browser.new_page(viewport={"width": width, "height": height})
    base = f"http://alpha.localhost:{server_port}"
    page.goto(f"{base}/")
    assert "/login/" in page.url
    page.screenshot(path=screenshot_dir / f"login-{viewport}.png")

    sign_in(page, base, "owner@alpha.test", "correct-horse-battery")

    assert page.locator("h1").inner_text().startswith("Welcome")
    assert seeded["alpha"].embed_key in page.locator("pre.code").inner_text()
    assert page.locator(".tenant-name").first.inner_text() == "Alpha Corp"
    page.screenshot(path=screenshot_dir / f"dashboard-{viewport}.png", full_page=True)
    page.close()


def test_wrong_password_shows_an_error(browser, server_port):
    page = browser.new_page()
    sign_in(page, f"http://alpha.localhost:{server_port}", "owner@alpha.test", "wrong")
    assert page.locator(".form-error").is_visible()
    assert "Traceback" not in page.content()
    page.close()


def test_owner_of_alpha_gets_not_found_on_beta(browser, server_port, seeded):
    page = browser.new_page()
    sign_in(
        page, f"http://beta.localhost:{server_port}", "owner@alpha.test", "correct-horse-battery"
    )
    assert page.locator("h1").inner_text() == "Page not found"
    assert seeded["beta"].embed_key not in page.content()
    page.close()
