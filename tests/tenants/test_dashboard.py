"""The dashboard: conversations per day (an accessible SVG chart), messages, tokens and cost
per model, feedback, unanswered questions and visitors online, from a small known data set;
a bounded number of queries that does not grow with the data; tenant beta never counted."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.conversations.models import Conversation, Message
from apps.knowledge.models import KnowledgeBase
from apps.llm.models import Assistant
from apps.tenants.dashboard import (
    DayCount,
    bar_chart,
    conversations_per_day,
    dashboard_figures,
    tick_step,
)
from apps.tenants.models import Role
from apps.tenants.services import membership_set
from tests.factories import UserFactory


@pytest.fixture
def owner_client(seeded) -> Client:
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(seeded["alpha"].owner)
    return client


def conversation(*, days_ago: float = 0, session: str = "", assistant=None) -> Conversation:
    conv = Conversation.objects.create(
        channel="widget", visitor_session=session, assistant=assistant
    )
    if days_ago:
        Conversation.objects.filter(pk=conv.pk).update(
            created_at=timezone.now() - timedelta(days=days_ago)
        )
    return conv


def message(conv: Conversation, role: str, content: str, *, minutes_ago: float = 0, **fields):
    msg = Message.objects.create(conversation=conv, role=role, content=content, **fields)
    if minutes_ago:
        Message.objects.filter(pk=msg.pk).update(
            created_at=timezone.now() - timedelta(minutes=minutes_ago)
        )
    return msg


@pytest.fixture
def data(tenant_a):
    """A small tenant history with every case the dashboard distinguishes."""
    with tenant_context(tenant_a):
        kb = KnowledgeBase.objects.create(name="Handbook")
        with_kb = Assistant.objects.create(name="Support")
        with_kb.knowledge_bases.add(kb)
        without_kb = Assistant.objects.create(name="Chit-chat")

        today = conversation(session="s-today", assistant=with_kb)
        message(today, "user", "How do I reset my password?", minutes_ago=2)
        message(
            today, "assistant", "Use the reset link.", minutes_ago=1.9, model="llama3",
            prompt_tokens=100, completion_tokens=20, cost_usd=Decimal("0.001"),
            sources=[{"title": "Handbook"}], rating="up", rating_comment="Spot on, thanks",
        )  # fmt: skip
        message(today, "user", "Where is the invoice archive?", minutes_ago=1)
        message(
            today, "assistant", "I could not find that.", minutes_ago=0.9, model="llama3",
            prompt_tokens=200, completion_tokens=30, cost_usd=Decimal("0.002"), sources=[],
        )  # fmt: skip

        other_visitor = conversation(session="s-other", assistant=without_kb)
        message(other_visitor, "user", "Tell me a joke", minutes_ago=3)
        message(
            other_visitor, "assistant", "A joke.", minutes_ago=2.9, model="gpt-4o",
            prompt_tokens=50, completion_tokens=10, cost_usd=Decimal("0.5"), sources=[],
        )  # fmt: skip

        yesterday = conversation(days_ago=1, session="s-yesterday", assistant=with_kb)
        message(yesterday, "user", "Is the API down?", minutes_ago=60 * 24)
        message(
            yesterday, "assistant", "The assistant is offline.", minutes_ago=60 * 24 - 1,
            notice="The assistant is offline; these are the best matching passages.",
            error_code="provider_unavailable", sources=[{"title": "Status"}],
        )  # fmt: skip

        three_days = conversation(days_ago=3, session="s-old", assistant=with_kb)
        message(three_days, "user", "What does the premium plan cost?", minutes_ago=60 * 72)
        message(
            three_days, "assistant", "It costs money.", minutes_ago=60 * 72 - 1, model="llama3",
            prompt_tokens=10, completion_tokens=5, cost_usd=Decimal("0.0001"),
            sources=[{"title": "Pricing"}], rating="down", rating_comment="Useless answer",
        )  # fmt: skip

        # Outside the 30-day window: counted nowhere.
        old = conversation(days_ago=45, assistant=with_kb)
        message(old, "user", "Ancient question", minutes_ago=60 * 24 * 45)
        message(
            old, "assistant", "Ancient failure", minutes_ago=60 * 24 * 45 - 1, error_code="x",
            model="ancient-model", prompt_tokens=999, rating="down", rating_comment="Ancient",
        )  # fmt: skip
    return {"today": today, "yesterday": yesterday, "three_days": three_days}


# --- Access and the empty state ------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.AGENT, Role.VIEWER])
def test_every_role_sees_the_dashboard(tenant_a, role):
    person = UserFactory()
    membership_set(tenant=tenant_a, user=person, role=role)
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(person)
    response = client.get("/")
    assert response.status_code == 200
    assert b"Conversations per day" in response.content


def test_a_new_tenant_gets_a_friendly_empty_dashboard(owner_client):
    body = owner_client.get("/").content.decode()
    assert "No conversations yet" in body
    assert "Get your assistant answering" in body
    assert "Nothing to follow up" in body
    assert "No feedback yet" in body
    assert "none yet." in body  # the chart's description
    assert "Add the assistant to your site" in body


# --- The figures ---------------------------------------------------------------------------------


def test_the_chart_is_accessible_and_counts_conversations_per_day(owner_client, data):
    body = owner_client.get("/").content.decode()
    assert 'role="img" aria-labelledby="chart-title chart-desc"' in body
    assert '<title id="chart-title">' in body
    desc = re.search(r'<desc id="chart-desc">(.*?)</desc>', body).group(1)
    assert "4 conversations in all" in desc  # the 45-day-old one is outside the window
    table = body[body.index("<caption>Conversations per day</caption>") :]
    table = table[: table.index("</table>")]
    rows = re.findall(r'<th scope="row">([^<]+)</th><td>(\d+)</td>', table)
    assert len(rows) == 30
    counts = [int(n) for _, n in rows]
    assert counts[-1] == 2 and counts[-2] == 1 and counts[-4] == 1
    assert sum(counts) == 4
    assert body.count('class="dash-bar"') == 30
    assert "No conversations yet" not in body


def test_messages_tokens_and_cost_per_model(owner_client, data):
    body = owner_client.get("/").content.decode()
    stats = body[body.index('aria-label="Key figures"') : body.index("Conversations per day")]
    assert re.search(r"Messages</h2>\s*<p class=\"stat-value\">10<", stats)
    assert "5 questions · 5 answers" in stats
    # 100+20 + 200+30 + 50+10 + 10+5 tokens; $0.5031.
    assert re.search(r"Tokens</h2>\s*<p class=\"stat-value\">425<", stats)
    assert "Cost $0.50" in stats
    models = body[body.index("Usage by model") :]
    models = models[: models.index("</table>")]
    # Most expensive first; answers without a model are listed as offline.
    assert models.index("gpt-4o") < models.index("llama3") < models.index("offline answers")
    llama = models[models.index("<code>llama3</code>") :]
    llama = llama[: llama.index("</tr>")]
    assert re.findall(r'class="num">\$?([\d.,]+)<', llama) == ["3", "310", "55", "0.0031"]
    assert "ancient-model" not in body


def test_feedback_counts_and_latest_comments(owner_client, data):
    body = owner_client.get("/").content.decode()
    feedback = body[body.index("Answer feedback") : body.index("Usage by model")]
    assert "1 helpful" in feedback and "1 not helpful" in feedback
    assert feedback.index("Spot on, thanks") < feedback.index("Useless answer")
    assert "Ancient" not in feedback
    assert f'href="/conversations/{data["today"].id}/"' in feedback
    assert "50% helpful" in body


def test_questions_the_assistant_could_not_answer(owner_client, data):
    body = owner_client.get("/").content.decode()
    section = body[body.index("could not answer") : body.index("Answer feedback")]
    # No source although the assistant has a knowledge base.
    assert "Where is the invoice archive?" in section and "No matching source" in section
    # Offline with an error code.
    assert "Is the API down?" in section and "Failed: provider_unavailable" in section
    # Rated down, although it had sources.
    assert "What does the premium plan cost?" in section and "Rated not helpful" in section
    # Answered with sources, or by an assistant without knowledge: not listed.
    assert "How do I reset my password?" not in section
    assert "Tell me a joke" not in section
    assert "Ancient question" not in section
    # Newest first, each linking to its conversation.
    assert section.index("invoice archive") < section.index("API down") < section.index("premium")
    assert f'href="/conversations/{data["yesterday"].id}/"' in section


def test_active_visitors_are_distinct_sessions_of_the_last_five_minutes(owner_client, data):
    body = owner_client.get("/").content.decode()
    active = body[body.index("Active now") :]
    # s-today (two questions) and s-other wrote in the last 5 minutes; s-yesterday did not.
    assert re.search(r'stat-value">(?:<span[^>]*></span>)?2<', active)


def test_beta_data_never_counts_on_alpha(owner_client, tenant_b):
    with tenant_context(tenant_b):
        conv = conversation(session="beta-visitor")
        message(conv, "user", "Beta secret question")
        message(conv, "assistant", "Beta answer", error_code="boom", rating="down",
                rating_comment="Beta secret comment", model="beta-model")  # fmt: skip
    body = owner_client.get("/").content.decode()
    assert "Beta secret" not in body and "beta-model" not in body
    assert "No conversations yet" in body


# --- Queries ---------------------------------------------------------------------------------------


def count_queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/").status_code == 200
    return len(queries)


def test_the_query_count_is_bounded_and_does_not_grow_with_data(owner_client, data, tenant_a,
                                                                 django_assert_max_num_queries):  # fmt: skip
    # The figures take 5 queries, the widget list 1; the rest is the framework's (tenant,
    # session, user, membership, the sidebar's tenant list).
    with tenant_context(tenant_a), CaptureQueriesContext(connection) as figures:
        dashboard_figures()
    assert len([q for q in figures if not q["sql"].startswith("SET ")]) == 5
    with django_assert_max_num_queries(18):
        owner_client.get("/")
    before = count_queries(owner_client)
    with tenant_context(tenant_a):
        for i in range(20):
            conv = conversation(days_ago=i % 7, session=f"more-{i}")
            message(conv, "user", f"Question {i}")
            message(conv, "assistant", f"Answer {i}", error_code="e", model=f"m{i % 3}",
                    rating="down", rating_comment=f"Comment {i}")  # fmt: skip
    assert count_queries(owner_client) == before


# --- The chart's arithmetic ------------------------------------------------------------------------


def test_ticks_use_round_steps():
    assert [tick_step(n) for n in (1, 3, 4, 5, 7, 9, 40, 41, 1234)] == [
        1,
        1,
        1,
        2,
        2,
        5,
        10,
        20,
        500,
    ]


def test_bar_heights_are_proportional_and_a_single_conversation_stays_visible(tenant_a):
    with tenant_context(tenant_a):
        points = conversations_per_day(today=timezone.localdate())
    chart = bar_chart(points)
    assert len(chart.bars) == 30 and all(bar.height == 0 for bar in chart.bars)
    assert chart.peak is None
    days = [DayCount(p.day, 0) for p in points]
    days[-1] = DayCount(days[-1].day, 1000)
    days[0] = DayCount(days[0].day, 1)
    chart = bar_chart(days)
    assert chart.ticks[-1].value == 1000
    assert chart.bars[-1].height == pytest.approx(chart.baseline - chart.ticks[-1].y)
    assert chart.bars[0].height == 2.0
    assert chart.x_labels[0].day == days[-1].day
