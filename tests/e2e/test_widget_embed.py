"""The widget embedded in a page of another origin, in real Chromium, against real daphne.

A host page served on its own port embeds /widget.js from the backend, asks a question, sees
the answer stream, reloads mid-answer and sees the answer complete exactly once. A page on an
origin the widget does not allow gets no conversation.
"""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest
from django_tenants.utils import tenant_context

from tests.conftest import free_port

QUESTION = "Tell me about shipping"
SOURCE_TITLE = "Shipping policy"
# The fake model cites passage [1] when the prompt carries knowledge-base passages.
ANSWER = ("Hello from the fake model. You asked: " + QUESTION + " See [1]. ") * 10
EXPECTED = " ".join(ANSWER.split()[:60])


class HostSite:
    """A static site on its own port: a different origin from the backend."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def origin(self) -> str:
        return f"http://localhost:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()


def host_page(root: Path, name: str, backend_port: int, key: str) -> None:
    (root / name).write_text(
        f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Acme Shop</title>
<style>body{{font-family:Georgia,serif;margin:0;background:#fafaf7}} header{{background:#1f2937;color:#fff;padding:18px 32px}}
main{{padding:32px;max-width:760px}} h1{{margin:0;font-size:22px}} * {{ font-family: "Comic Sans MS", cursive !important; }}</style>
</head><body><header><h1>Acme Shop</h1></header>
<main><h2>Free shipping on orders over $50</h2><p>Browse our catalogue, or ask our assistant anything.</p></main>
<script src="http://127.0.0.1:{backend_port}/widget.js" data-key="{key}" async></script>
</body></html>"""
    )


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    allowed = HostSite(tmp_path_factory.mktemp("allowed"))
    other = HostSite(tmp_path_factory.mktemp("other"))
    yield allowed, other
    allowed.stop()
    other.stop()


@pytest.fixture(scope="module")
def slow_provider():
    from tests.fakes.llm_server import FakeLLMServer

    server = FakeLLMServer(token_delay=0.06, tokens=60).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def embedded(engine_tenant, sites, slow_provider, server_port, django_db_blocker):
    from apps.knowledge import services as knowledge
    from apps.llm import services as llm
    from apps.widgets.services import widget_create

    allowed, other = sites
    with django_db_blocker.unblock(), tenant_context(engine_tenant):
        provider = llm.provider_create(
            name="e2e-slow", kind="openai_compatible", api_base=f"{slow_provider.base_url}/v1"
        )
        llm.deployment_create(provider=provider, model_name="echo", alias="e2e-slow")
        kb = knowledge.knowledge_base_create(name="E2E shop help")
        source = knowledge.source_create_text(
            knowledge_base=kb,
            title=SOURCE_TITLE,
            text="Shipping is free on orders over $50. Standard shipping takes 3 to 5 days; "
            "express shipping arrives the next working day.",
            queue=False,
        )
        assert knowledge.source_ingest(source_id=source.pk) == "ingested"
        assistant = llm.assistant_create(name="E2E", default_model="e2e-slow", knowledge_bases=[kb])
        widget = widget_create(name="E2E shop", allowed_origins=[allowed.origin], title="Acme help")
        widget.assistant = assistant
        widget.save()
    for site in (allowed, other):
        host_page(site.root, "index.html", server_port, widget.embed_key)
    return widget


def bot_text(page) -> str:
    return page.locator("#aichat-root .msg.bot .bubble.md").last.inner_text()


def test_ask_stream_reload_mid_answer_and_finish_exactly_once(
    browser, sites, embedded, screenshot_dir
):
    allowed, _ = sites
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{allowed.origin}/index.html")
    launcher = page.locator("#aichat-root .launcher")
    launcher.wait_for(state="visible")
    page.screenshot(path=screenshot_dir / "widget-launcher-desktop.png")
    launcher.click()
    page.locator("#aichat-root textarea").first.fill(QUESTION)
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => { const r = document.querySelector('#aichat-root').shadowRoot;"
        " const b = [...r.querySelectorAll('.msg.bot .bubble.md')].pop();"
        " return b && b.innerText.split(' ').length > 8; }",
        timeout=20000,
    )
    page.screenshot(path=screenshot_dir / "widget-streaming-desktop.png")
    partial = bot_text(page)
    assert partial and EXPECTED.startswith(partial.strip()[:20])

    page.reload()  # mid-answer: the window reopens and the answer resumes
    page.wait_for_function(
        "n => { const r = document.querySelector('#aichat-root')?.shadowRoot;"
        " const b = r && [...r.querySelectorAll('.msg.bot .bubble.md')].pop();"
        " return b && b.innerText.trim().split(/\\s+/).length >= n; }",
        arg=len(EXPECTED.split()),
        timeout=30000,
    )
    page.wait_for_timeout(1000)  # anything duplicated after the end would show up now
    final = " ".join(bot_text(page).split())
    assert final == EXPECTED  # every word, once
    assert page.locator("#aichat-root .msg.user").count() == 1
    cited = page.locator("#aichat-root .msg.bot .src li")
    cited.first.wait_for(state="visible", timeout=5000)
    assert SOURCE_TITLE in cited.all_inner_texts()  # the answer cites the knowledge base
    page.screenshot(path=screenshot_dir / "widget-answered-desktop.png")
    page.close()


def test_phone_viewport_opens_full_screen(browser, sites, embedded, screenshot_dir):
    allowed, _ = sites
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page.goto(f"{allowed.origin}/index.html")
    page.locator("#aichat-root .launcher").click()
    panel = page.locator("#aichat-root .panel")
    panel.wait_for(state="visible")
    box = panel.bounding_box()
    assert box["width"] >= 389 and box["height"] >= 800
    page.screenshot(path=screenshot_dir / "widget-open-phone.png")
    page.close()


def test_a_page_on_another_origin_gets_no_chat(browser, sites, embedded, engine_tenant, committed):
    from apps.conversations.models import Conversation

    def conversations() -> int:
        with tenant_context(engine_tenant):
            return Conversation.objects.filter(widget=embedded).count()

    before = conversations()
    _, other = sites
    page = browser.new_page()
    page.add_init_script(
        "window.__aichatErrors = []; window.addEventListener('aichat:error', e => window.__aichatErrors.push(e.detail));"
    )
    page.goto(f"{other.origin}/index.html")
    page.locator("#aichat-root .launcher").click()
    page.wait_for_function(
        "() => window.__aichatErrors.some(e => e.code === 'origin_not_allowed')", timeout=15000
    )
    codes = page.evaluate("() => window.__aichatErrors.map(e => e.code)")
    assert "origin_not_allowed" in codes
    assert (
        page.locator("#aichat-root textarea").count() == 0
        or page.locator("#aichat-root textarea").first.is_disabled()
    )
    assert conversations() == before
    page.close()
