"""An owner adds an on-premises Ollama server in Chromium, sees the models installed on it,
lets assistants use one, and tests it with a streamed reply. Screenshots go to
var/screenshots/ (desktop and a 390 px phone)."""

from __future__ import annotations

import re

import pytest
from django_tenants.utils import tenant_context

from apps.llm import services
from apps.tenants.services import tenant_create
from tests.e2e.test_backoffice_login import sign_in

PASSWORD = "correct-horse-battery"
OWNER = "owner@northwind.test"


@pytest.fixture(scope="module")
def northwind(django_db_setup, django_db_blocker):
    """A committed tenant with a cloud account and an assistant, so the pages look lived-in."""
    with django_db_blocker.unblock():
        created = tenant_create(
            slug="northwind",
            name="Northwind Trading",
            domain="northwind.localhost",
            owner_email=OWNER,
            owner_password=PASSWORD,
        )
        with tenant_context(created.tenant):
            cloud = services.provider_create(
                name="openai-prod", kind="openai", api_key="sk-proj-example-key-c0de"
            )
            services.deployment_create(
                provider=cloud, model_name="gpt-4o-mini", alias="cloud-fallback"
            )
            services.assistant_create(
                name="Customer support",
                is_default=True,
                system_prompt="You help Northwind customers with orders and returns.",
            )
            services.assistant_create(name="Internal helpdesk", temperature=0.1)
    yield created.tenant
    with django_db_blocker.unblock():
        created.tenant.delete(force_drop=True)


def test_owner_adds_an_ollama_server_and_tests_a_model(
    browser, server_port, northwind, fake_llm, screenshot_dir
):
    fake_llm.ollama_models["phi3:mini"] = {
        "size": 2_176_178_913,
        "details": {"parameter_size": "3.8B", "quantization_level": "Q4_0", "family": "phi3"},
    }
    try:
        owner_flow(browser, f"http://northwind.localhost:{server_port}", fake_llm, screenshot_dir)
    finally:
        fake_llm.ollama_models.pop("phi3:mini", None)


def owner_flow(browser, base, fake_llm, screenshot_dir) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    sign_in(page, base, OWNER, PASSWORD)
    page.click("nav >> text=Models")
    assert page.locator("h1").inner_text().startswith("Models")
    assert "…c0de" in page.locator("table").first.inner_text()

    page.click("summary:has-text('Add a provider')")
    page.fill("#id_name", "gpu-1")
    page.select_option("#id_kind", "ollama")
    page.fill("#id_api_base", fake_llm.base_url)
    page.click("button:has-text('Add provider')")

    installed = page.locator(".ollama-panel table")
    installed.wait_for(timeout=10_000)
    row = installed.locator("tr", has_text="llama3.2:3b")
    assert "2.02 GB" in row.inner_text()
    assert "3.2B" in row.inner_text() and "Q4_K_M" in row.inner_text()
    page.screenshot(path=screenshot_dir / "llm-provider-desktop.png", full_page=True)

    row.locator("button:has-text('Use')").click()
    page.wait_for_load_state("domcontentloaded")
    assert "Model llama3.2:3b added" in page.locator(".flash").inner_text()
    page.locator(".ollama-panel .badge:has-text('In use')").wait_for(timeout=10_000)

    page.click("nav >> text=Models")
    models_row = page.locator("#models tr", has_text="llama3.2:3b")
    assert "Local" in models_row.inner_text()
    page.screenshot(path=screenshot_dir / "llm-models-desktop.png", full_page=True)

    models_row.locator("button:has-text('Test')").click()
    dialog = page.locator("#model-test")
    dialog.locator("textarea").fill("Which model are you?")
    dialog.locator("button:has-text('Send')").click()
    output = dialog.locator("[data-test-output]")
    page.wait_for_function(
        "document.querySelector('[data-test-meta]').textContent.startsWith('Answered by')",
        timeout=15_000,
    )
    assert output.inner_text().strip() == (
        "Hello from the fake model. You asked: Which model are you?"
    )
    assert re.search(r"Answered by gpu-1 · llama3.2:3b", dialog.inner_text())
    page.screenshot(path=screenshot_dir / "llm-model-test-desktop.png")
    dialog.locator("button:has-text('Close')").click()

    # Destructive actions ask first, in the page's own dialog (plain form and HTMX alike).
    page.locator("#models tr", has_text="cloud-fallback").locator(
        "button:has-text('Remove')"
    ).click()
    confirm = page.locator("#llm-confirm")
    assert "Remove cloud-fallback" in confirm.inner_text()
    confirm.locator("button:has-text('Cancel')").click()
    assert page.locator("#models tr", has_text="cloud-fallback").count() == 1
    page.locator("#models tr", has_text="cloud-fallback").locator(
        "button:has-text('Remove')"
    ).click()
    confirm.locator("[data-confirm-ok]").click()
    page.wait_for_load_state("domcontentloaded")
    assert "was removed" in page.locator(".flash").inner_text()
    assert page.locator("#models tr", has_text="cloud-fallback").count() == 0

    page.click("#models a:has-text('gpu-1')")
    phi = page.locator(".ollama-panel tr", has_text="phi3:mini")
    phi.locator("button:has-text('Delete')").click()
    assert "Delete phi3:mini (2.18 GB) from gpu-1?" in confirm.inner_text()
    page.screenshot(path=screenshot_dir / "llm-confirm-desktop.png")
    confirm.locator("[data-confirm-ok]").click()
    page.locator(".ollama-panel .notice-ok").wait_for(timeout=10_000)
    assert "phi3:mini was deleted from gpu-1" in page.locator(".ollama-panel").inner_text()
    assert "phi3:mini" not in fake_llm.ollama_models

    page.click("nav >> text=Assistants")
    assert "Customer support" in page.locator("table").inner_text()
    page.screenshot(path=screenshot_dir / "llm-assistants-desktop.png", full_page=True)
    page.click("a:has-text('Customer support')")
    page.screenshot(path=screenshot_dir / "llm-assistant-form-desktop.png", full_page=True)
    assert "Traceback" not in page.content()
    page.close()

    phone = browser.new_page(viewport={"width": 390, "height": 844})
    sign_in(phone, base, OWNER, PASSWORD)
    for name, path in (("assistants", "/llm/assistants/"), ("models", "/llm/models/")):
        phone.goto(f"{base}{path}")
        phone.screenshot(path=screenshot_dir / f"llm-{name}-phone.png", full_page=True)
    phone.click("#models a:has-text('gpu-1')")
    phone.locator(".ollama-panel table").wait_for(timeout=10_000)
    phone.screenshot(path=screenshot_dir / "llm-provider-phone.png", full_page=True)
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
    phone.close()


def test_unreachable_ollama_server_shows_a_message_not_a_traceback(
    browser, server_port, northwind, screenshot_dir, committed
):
    with tenant_context(northwind):
        provider = services.provider_create(
            name="gpu-offline", kind="ollama", api_base="http://127.0.0.1:9"
        )
    base = f"http://northwind.localhost:{server_port}"
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    sign_in(page, base, OWNER, PASSWORD)
    page.goto(f"{base}/llm/providers/{provider.pk}/")
    alert = page.locator(".ollama-panel [role=alert]")
    alert.wait_for(timeout=10_000)
    assert "Cannot reach the Ollama server at http://127.0.0.1:9" in alert.inner_text()
    page.screenshot(path=screenshot_dir / "llm-provider-unreachable-desktop.png", full_page=True)
    page.close()
