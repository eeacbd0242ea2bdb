"""A tenant owner's day in the backoffice, in real Chromium against real daphne and Celery.

Sign in, create a knowledge base, drop a document on it and watch it become ready (a real
Celery worker ingests it; the page polls), try a question and see the passage, then read a
visitor's conversation with its sources and tool call, search for it, flag it and leave a
private note. Screenshots at desktop and phone widths land in var/screenshots/.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from apps.tenants.services import TenantCreated, tenant_create
from tests.conversations.conftest import write_conversation

SLUG = "journey"
OWNER = "owner@journey.test"
PASSWORD = "journey-horse-battery"
DOCUMENT = """# Returns and refunds

You can return any item within 30 days of delivery. Refunds reach your card within
5 working days after the parcel arrives at our warehouse in Lyon.

## Damaged parcels

Take a photo of the damage and write to support; we send a replacement the same day.
"""


@pytest.fixture(scope="module")
def journey(server_port, worker_process, django_db_blocker) -> TenantCreated:
    with django_db_blocker.unblock():
        created = tenant_create(
            slug=SLUG,
            name="Journey Outfitters",
            domain=f"{SLUG}.localhost",
            owner_email=OWNER,
            owner_password=PASSWORD,
        )
        write_conversation(
            created.tenant,
            [
                ("user", "Can I still return the boots I bought last month?"),
                (
                    "assistant",
                    "Yes: returns are accepted within 30 days of delivery.",
                    {
                        "sources": [
                            {"title": "Returns and refunds", "page": 1, "snippet": "30 days"}
                        ],
                        "tool_calls": [
                            {
                                "name": "order_status",
                                "arguments": {"order": "A-1042"},
                                "summary": "Order A-1042 delivered on 2 November",
                            }
                        ],
                        "model": "llama3.2:3b",
                        "prompt_tokens": 412,
                        "completion_tokens": 38,
                    },
                ),
            ],
            visitor_id="customer-7731",
            title="Boots return",
        )
        connection.set_schema_to_public()
    return created


def sign_in(browser, server_port: int, width: int, height: int):
    page = browser.new_page(viewport={"width": width, "height": height})
    base = f"http://{SLUG}.localhost:{server_port}"
    page.goto(f"{base}/login/")
    page.fill("#id_login", OWNER)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("domcontentloaded")
    return page, base


def test_upload_a_document_and_watch_it_become_ready(
    browser, server_port, journey, screenshot_dir, tmp_path
):
    page, base = sign_in(browser, server_port, 1280, 900)
    page.goto(f"{base}/knowledge/")
    page.fill("#id_name", "Help centre")
    page.click("form button[type=submit]:has-text('Create')")
    page.wait_for_url("**/knowledge/*/")
    assert page.locator("h1").inner_text() == "Help centre"

    document = tmp_path / "returns.md"
    document.write_text(DOCUMENT)
    page.set_input_files("[data-dropzone] input[type=file]", str(document))
    assert page.locator("[data-dropzone-files]").inner_text() == "returns.md"
    page.screenshot(path=screenshot_dir / "knowledge-upload-desktop.png")
    page.click("#upload-form button[type=submit]")
    page.wait_for_load_state("domcontentloaded")
    assert "Queued for ingestion" in page.locator(".flash").inner_text()

    # The worker ingests it; the sources table polls until the badge says ready.
    page.locator("#sources .badge-ok").wait_for(state="visible", timeout=90_000)
    row = page.locator("#sources tbody tr").first
    assert "returns" in row.inner_text().lower()
    assert int(row.locator("td.num").inner_text().split()[0]) >= 1
    page.screenshot(path=screenshot_dir / "knowledge-ready-desktop.png", full_page=True)

    page.fill("input[name=question]", "How long do refunds take?")
    page.click("button:has-text('Search')")
    page.locator("#try-results").get_by_text("5 working days").first.wait_for(timeout=20_000)
    page.screenshot(path=screenshot_dir / "knowledge-try-desktop.png", full_page=True)
    page.close()


@pytest.mark.parametrize("viewport", [(1280, 900), (390, 844)], ids=["desktop", "phone"])
def test_read_search_flag_and_annotate_a_conversation(
    browser, server_port, journey, screenshot_dir, viewport, django_db_blocker
):
    name = "desktop" if viewport[0] > 600 else "phone"
    page, base = sign_in(browser, server_port, *viewport)
    page.goto(f"{base}/conversations/")
    page.fill("#conv-q", "boots")
    page.click(".conv-filters button[type=submit]")
    page.wait_for_url("**/conversations/?q=boots")  # no empty filters in the address
    rows = page.locator("text=Boots return")
    rows.first.wait_for()
    page.screenshot(path=screenshot_dir / f"conversations-search-{name}.png", full_page=True)
    rows.first.click()
    page.wait_for_url("**/conversations/*/")

    body = page.locator("main").inner_text()
    assert "Can I still return the boots" in body
    assert "returns are accepted within 30 days" in body
    assert "Returns and refunds" in body  # the cited source
    page.click("summary:has-text('1 tool call')")  # the tool call, collapsed by default
    assert "order_status" in page.locator(".bubble-tools").inner_text()
    assert "customer-7731" in body  # the verified visitor

    if name == "desktop":
        page.click("button:has-text('Flag')")
        page.get_by_text("Flagged").first.wait_for()
        page.fill("textarea[name=body]", "Customer called back; refund approved.")
        page.click("button:has-text('Add note')")
        page.get_by_text("refund approved").first.wait_for()
        from apps.conversations.models import Conversation, Note

        with django_db_blocker.unblock(), tenant_context(journey.tenant):
            conversation = Conversation.objects.get(title="Boots return")
            assert conversation.flagged
            assert Note.objects.filter(conversation=conversation).count() == 1
        connection.set_schema_to_public()
    page.screenshot(path=screenshot_dir / f"conversation-detail-{name}.png", full_page=True)

    page.goto(f"{base}/")  # the dashboard now counts it
    assert page.locator(".stat-value").first.inner_text().strip() == "1"
    page.screenshot(path=screenshot_dir / f"dashboard-with-data-{name}.png", full_page=True)
    page.close()
