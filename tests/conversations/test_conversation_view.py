"""One conversation's page: everything said, safely rendered, with the answers' details; who
sees which controls; and a conversation of another tenant is never found."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from apps.conversations.models import Message, Note
from apps.llm.models import Assistant
from apps.tenants.models import Role

ANSWER = {
    "model": "llama3.1:8b",
    "provider": "ollama",
    "prompt_tokens": 812,
    "completion_tokens": 95,
    "cost_usd": Decimal("0.0042"),
    "ttft_ms": 321,
    "latency_ms": 2468,
    "rating": "down",
    "rating_comment": "Wrong <b>answer</b>",
    "sources": [
        {"title": "Returns policy", "url": "https://docs.alpha.test/returns", "page": 3,
         "snippet": "Items can be returned within 30 days."},
        {"title": "Sneaky", "url": "javascript:alert(1)", "snippet": "x"},
        "not a source",
    ],
    "tool_calls": [
        {"name": "order_status", "arguments": '{"order_id": "A-1001"}', "ok": False,
         "summary": "", "result": "upstream timeout", "error_code": "tool_timeout",
         "duration_ms": 5000.4},
    ],
}  # fmt: skip


@pytest.fixture
def conversation(tenant_a, conversation_in):
    with tenant_context(tenant_a):
        assistant = Assistant.objects.create(name="Helpdesk")
    return conversation_in(
        tenant_a,
        [
            ("user", "Hello <script>alert('visitor')</script>\nsecond line"),
            ("assistant", "Try <img src=x onerror=alert(1)> **this**", ANSWER),
        ],
        title="Returns question",
        assistant=assistant,
        visitor_id="customer-42",
    )


def page_of(client: Client, conversation) -> str:
    response = client.get(f"/conversations/{conversation.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_whole_conversation_is_shown_escaped(client_as, conversation):
    page = page_of(client_as(Role.VIEWER), conversation)
    assert "bubble-user" in page and "bubble-assistant" in page
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "Hello &lt;script&gt;alert(&#x27;visitor&#x27;)&lt;/script&gt;\nsecond line" in page
    # Answers are Markdown: the emphasis renders, the HTML the model wrote stays text.
    assert "Try &lt;img src=x onerror=alert(1)&gt; <strong>this</strong>" in page
    assert "Wrong &lt;b&gt;answer&lt;/b&gt;" in page  # the rating comment


def test_answer_markdown_renders_safely(client_as, tenant_a, conversation_in):
    answer = (
        "# Steps\n\n1. Open **Settings**\n2. Run `make run`\n\n"
        "| plan | price |\n| --- | --- |\n| pro | $9 |\n\n"
        "[docs](https://docs.example.com) [bad](javascript:alert(1)) "
        "![pixel](https://tracker.example.com/p.png) <iframe src=x></iframe>"
    )
    conversation = conversation_in(tenant_a, [("user", "How?"), ("assistant", answer)])
    page = page_of(client_as(Role.VIEWER), conversation)
    assert "<h1>Steps</h1>" in page and "<strong>Settings</strong>" in page
    assert "<code>make run</code>" in page and "<td>pro</td>" in page
    assert (
        '<a href="https://docs.example.com" target="_blank" rel="noopener noreferrer nofollow">'
        in page
    )
    assert 'href="javascript' not in page  # not a link, only text
    assert "<img" not in page and "tracker.example.com/p.png" in page  # never fetched
    assert "<iframe" not in page and "&lt;iframe src=x&gt;" in page


def test_answers_show_sources_tool_calls_and_accounting(client_as, conversation):
    page = page_of(client_as(Role.VIEWER), conversation)
    assert 'href="https://docs.alpha.test/returns"' in page and "p. 3" in page
    assert "Items can be returned within 30 days." in page
    assert "javascript:" not in page and "Sneaky" in page  # shown, never linked
    assert "1 tool call" in page and "order_status" in page and "tool_timeout" in page
    assert "upstream timeout" in page and "Failed" in page
    assert "llama3.1:8b" in page and "812 + 95 tokens" in page and "$0.0042" in page
    assert "first token 321 ms" in page and "total 2468 ms" in page
    assert "Not helpful" in page


def test_verified_visitor_and_anonymous_session(client_as, tenant_a, conversation, conversation_in):
    client = client_as(Role.VIEWER)
    assert "Verified visitor" in page_of(client, conversation) and "customer-42" in page_of(
        client, conversation
    )
    anonymous = conversation_in(tenant_a, [("user", "hi")], visitor_session="sess-abcdef123456")
    page = page_of(client, anonymous)
    assert "Anonymous" in page and "Verified visitor" not in page


def test_viewers_read_without_controls(client_as, conversation):
    page = page_of(client_as(Role.VIEWER), conversation)
    assert "Flag for review" not in page and "Add note" not in page
    assert "Delete conversation" not in page
    assert "Export" in page


def test_agents_curate_but_do_not_delete(client_as, conversation):
    page = page_of(client_as(Role.AGENT), conversation)
    assert "Flag for review" in page and "Add note" in page and "Add a tag" in page
    assert "Delete conversation" not in page


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OWNER])
def test_admins_and_owners_may_delete(client_as, conversation, role):
    assert "Delete conversation" in page_of(client_as(role), conversation)


def test_notes_show_to_staff_on_the_page(client_as, tenant_a, conversation):
    with tenant_context(tenant_a):
        Note.objects.create(conversation=conversation, author_label="a@alpha.test", body="VIP <3")
    page = page_of(client_as(Role.VIEWER), conversation)
    assert "VIP &lt;3" in page and "a@alpha.test" in page


def test_long_conversations_are_paginated(client_as, tenant_a, conversation):
    with tenant_context(tenant_a):
        Message.objects.bulk_create(
            Message(conversation=conversation, role="user", content=f"line {i}") for i in range(120)
        )
    client = client_as(Role.VIEWER)
    first = page_of(client, conversation)
    assert first.count('class="bubble ') == 100 and "Later messages" in first
    second = client.get(f"/conversations/{conversation.pk}/?page=2").content.decode()
    assert second.count('class="bubble ') == 22 and "Earlier messages" in second


def test_another_tenants_conversation_is_not_found(client_as, tenant_b, conversation_in):
    theirs = conversation_in(tenant_b, [("user", "beta secret")], title="Beta title")
    response = client_as(Role.OWNER).get(f"/conversations/{theirs.pk}/")
    assert response.status_code == 404
    assert "beta secret" not in response.content.decode()


def test_an_unknown_id_is_not_found(client_as):
    assert client_as(Role.OWNER).get(f"/conversations/{uuid.uuid4()}/").status_code == 404
    assert client_as(Role.OWNER).get("/conversations/not-a-uuid/").status_code == 404


def test_non_members_get_404(seeded, conversation):
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(seeded["beta"].owner)
    assert client.get(f"/conversations/{conversation.pk}/").status_code == 404
