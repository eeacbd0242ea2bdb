"""The conversation list: who sees it, rows, filters, full-text search, HTMX, pagination and
isolation from the other tenant."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.conversations import selectors
from apps.conversations.models import Conversation, Folder, Tag
from apps.llm.models import Assistant
from apps.tenants.models import Role


def body(response) -> str:
    return response.content.decode()


# --- Access ----------------------------------------------------------------------------------


def test_anonymous_is_sent_to_sign_in(tenant_a):
    response = Client(HTTP_HOST="alpha.localhost").get("/conversations/")
    assert response.status_code == 302


def test_a_member_of_another_tenant_gets_404(seeded):
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(seeded["beta"].owner)
    assert client.get("/conversations/").status_code == 404


@pytest.mark.parametrize("role", [Role.VIEWER, Role.AGENT, Role.ADMIN, Role.OWNER])
def test_every_role_reads_the_list_and_sees_the_nav_link(
    client_as, tenant_a, conversation_in, role
):
    conversation_in(tenant_a, [("user", "Where is my parcel?")], title="Parcel question")
    response = client_as(role).get("/conversations/")
    assert response.status_code == 200
    assert "Parcel question" in body(response)
    assert 'href="/conversations/"' in body(response)


# --- Rows ------------------------------------------------------------------------------------


def test_rows_show_what_a_person_needs_newest_activity_first(client_as, tenant_a, conversation_in):
    with tenant_context(tenant_a):
        assistant = Assistant.objects.create(name="Helpdesk")
        tag = Tag.objects.create(name="billing", colour="orange")
    now = timezone.now()
    older = conversation_in(
        tenant_a,
        [("user", "How do refunds work?"), ("assistant", "Like this.", {"rating": "up"})],
        at=now - timedelta(hours=2),
        title="",
        assistant=assistant,
        channel="api",
    )
    newer = conversation_in(
        tenant_a,
        [("user", "Q"), ("assistant", "A", {"rating": "down"}), ("user", "Q2")],
        at=now,
        title="Newest one",
        flagged=True,
    )
    with tenant_context(tenant_a):
        newer.tags.add(tag)
    page = body(client_as(Role.VIEWER).get("/conversations/"))
    assert page.index("Newest one") < page.index("How do refunds work?")  # untitled: 1st question
    assert "Helpdesk" in page and "API" in page
    assert "Flagged" in page and "billing" in page
    assert "▲ 1" in page and "▼ 1" in page
    assert f"/conversations/{older.pk}/" in page and f"/conversations/{newer.pk}/" in page
    assert "of 2 conversations" in page


def test_conversations_without_messages_are_not_listed(client_as, tenant_a, conversation_in):
    conversation_in(tenant_a, [], title="Empty shell")
    assert "Empty shell" not in body(client_as(Role.AGENT).get("/conversations/"))


def test_pagination_25_a_page(client_as, tenant_a, conversation_in):
    now = timezone.now()
    for i in range(26):
        conversation_in(
            tenant_a, [("user", f"q{i}")], at=now - timedelta(minutes=i), title=f"T-{i:02d}-"
        )
    client = client_as(Role.AGENT)
    first = body(client.get("/conversations/"))
    assert "T-00-" in first and "T-24-" in first and "T-25-" not in first
    assert "1\u201325" in first and "of 26 conversations" in first and "page=2" in first
    second = body(client.get("/conversations/?page=2"))
    assert "T-25-" in second and "T-00-" not in second and "26\u201326" in second


def test_htmx_gets_only_the_results_fragment(client_as, tenant_a, conversation_in):
    conversation_in(tenant_a, [("user", "hello")], title="Fragment row")
    response = client_as(Role.AGENT, htmx=True).get("/conversations/?channel=widget")
    page = body(response)
    assert 'id="conversation-results"' in page and "Fragment row" in page
    assert "<html" not in page and "conv-filters" not in page
    assert "HX-Request" in response["Vary"]


# --- Filters ---------------------------------------------------------------------------------


@pytest.fixture
def varied(tenant_a, conversation_in):
    """Four conversations that differ in every filtered property."""
    now = timezone.now()
    with tenant_context(tenant_a):
        support = Assistant.objects.create(name="Support")
        sales = Assistant.objects.create(name="Sales")
        urgent = Tag.objects.create(name="urgent", colour="red")
        legal = Folder.objects.create(name="Legal")
    made = {
        "up": conversation_in(
            tenant_a,
            [("user", "a"), ("assistant", "b", {"rating": "up"})],
            at=now - timedelta(days=40),
            title="Rated-up-one",
            assistant=support,
            channel="widget",
        ),
        "down": conversation_in(
            tenant_a,
            [("user", "a"), ("assistant", "b", {"rating": "down"})],
            at=now - timedelta(days=2),
            title="Rated-down-one",
            assistant=sales,
            channel="api",
            flagged=True,
        ),
        "plain": conversation_in(
            tenant_a,
            [("user", "a"), ("assistant", "b")],
            at=now - timedelta(days=1),
            title="Unrated-one",
            assistant=support,
            channel="cli",
            folder=legal,
        ),
    }
    with tenant_context(tenant_a):
        made["plain"].tags.add(urgent)
    return {"made": made, "support": support, "sales": sales, "tag": urgent, "folder": legal}


def listed(client: Client, query: str) -> set[str]:
    page = body(client.get(f"/conversations/?{query}"))
    return {name for name in ("Rated-up-one", "Rated-down-one", "Unrated-one") if name in page}


def test_filters(client_as, varied):
    client = client_as(Role.VIEWER)
    since = (timezone.localdate() - timedelta(days=7)).isoformat()
    until = (timezone.localdate() - timedelta(days=30)).isoformat()
    assert listed(client, "") == {"Rated-up-one", "Rated-down-one", "Unrated-one"}
    assert listed(client, "rating=up") == {"Rated-up-one"}
    assert listed(client, "rating=down") == {"Rated-down-one"}
    assert listed(client, "rating=none") == {"Unrated-one"}
    assert listed(client, "flagged=1") == {"Rated-down-one"}
    assert listed(client, f"tag={varied['tag'].pk}") == {"Unrated-one"}
    assert listed(client, f"folder={varied['folder'].pk}") == {"Unrated-one"}
    assert listed(client, f"assistant={varied['sales'].pk}") == {"Rated-down-one"}
    assert listed(client, "channel=cli") == {"Unrated-one"}
    assert listed(client, f"since={since}") == {"Rated-down-one", "Unrated-one"}
    assert listed(client, f"until={until}") == {"Rated-up-one"}
    assert listed(client, f"since={since}&rating=down&channel=api") == {"Rated-down-one"}
    # The last day there is: no upper bound (its next day was an OverflowError, a 500).
    assert len(listed(client, "until=9999-12-31")) == 3
    assert "No conversation matches these filters" in body(
        client.get("/conversations/?channel=backoffice")
    )


def test_bad_filter_values_are_ignored_not_errors(client_as, varied):
    client = client_as(Role.AGENT)
    response = client.get("/conversations/?since=yesterday&rating=maybe&tag=x&folder=-1&page=zero")
    assert response.status_code == 200
    assert listed(client, "since=yesterday&rating=maybe&tag=x") == {
        "Rated-up-one",
        "Rated-down-one",
        "Unrated-one",
    }


# --- Search ----------------------------------------------------------------------------------


@pytest.fixture
def searchable(tenant_a, conversation_in):
    now = timezone.now()
    conversation_in(
        tenant_a,
        [("user", "My parcel never arrived"), ("assistant", "Parcels ship within two days.")],
        at=now - timedelta(hours=3),
        title="Parcel-conv",
    )
    conversation_in(
        tenant_a,
        [("user", "Can I get a refund for my order?"), ("assistant", "Refunds take 5 days.")],
        at=now - timedelta(hours=2),
        title="Refund-conv",
    )
    conversation_in(
        tenant_a,
        [("user", "<img src=x onerror=alert(1)> what about the refund policy?")],
        at=now - timedelta(hours=1),
        title="Script-conv",
    )


def searched(client: Client, q: str) -> str:
    return body(client.get("/conversations/", {"q": q}))


def test_search_hits_and_misses(client_as, searchable):
    client = client_as(Role.AGENT)
    page = searched(client, "parcel")
    assert "Parcel-conv" in page and "Refund-conv" not in page
    page = searched(client, "refunds")  # stemmed: matches "refund" too
    assert "Refund-conv" in page and "Script-conv" in page and "Parcel-conv" not in page
    assert "No conversation matches" in searched(client, "submarine")


def test_search_phrases_and_exclusions(client_as, searchable):
    client = client_as(Role.AGENT)
    assert "Refund-conv" in searched(client, '"refund for my order"')
    assert "Refund-conv" not in searched(client, '"order for my refund"')
    page = searched(client, "refund -policy")  # a message with "refund" but not "policy"
    assert "Refund-conv" in page and "Script-conv" not in page


def test_search_snippets_highlight_the_term_and_escape_the_text(client_as, searchable):
    page = searched(client_as(Role.AGENT), "policy")
    assert "<mark>policy</mark>" in page
    assert "<img" not in page and "onerror=alert(1)>" not in page
    assert "onerror=alert(1)&gt;" in page  # the visitor's text, escaped


def test_highlight_escapes_everything_but_its_own_marks():
    marked = selectors.highlight('<b>x</b> & \x02"refund"\x03 <i>')
    assert marked == "&lt;b&gt;x&lt;/b&gt; &amp; <mark>&quot;refund&quot;</mark> &lt;i&gt;"


def test_a_common_word_search_walks_the_list_with_the_same_results(
    client_as, searchable, monkeypatch
):
    monkeypatch.setattr(selectors, "SEARCH_PROBE", 1)  # every word counts as common
    page = searched(client_as(Role.AGENT), "refund")
    assert "Refund-conv" in page and "Script-conv" in page and "Parcel-conv" not in page
    assert "of many matching conversations" in page
    assert page.index("Script-conv") < page.index("Refund-conv")  # newest activity first


@pytest.fixture
def phrases(tenant_a, conversation_in):
    now = timezone.now()
    for i in range(3):
        conversation_in(
            tenant_a,
            [("user", f"the return value of call {i}"), ("assistant", "it is fine")],
            at=now - timedelta(minutes=i),
            title=f"Phrase-{i}",
        )
    conversation_in(
        tenant_a,
        [("user", "value, and a return"), ("assistant", "values returned")],
        at=now,
        title="Words-only",
    )


def test_a_phrase_matches_only_adjacent_words(client_as, phrases):
    page = searched(client_as(Role.AGENT), '"return value"')
    assert all(f"Phrase-{i}" in page for i in range(3)) and "Words-only" not in page
    assert "of 3 conversations" in page


def test_a_common_phrase_is_walked(client_as, phrases, monkeypatch):
    monkeypatch.setattr(selectors, "SEARCH_PROBE", 1)
    monkeypatch.setattr(selectors, "PAGE_SIZE", 2)
    page = searched(client_as(Role.AGENT), '"return value"')
    assert "Phrase-0" in page and "Phrase-1" in page and "Phrase-2" not in page
    assert "Words-only" not in page and "of many matching conversations" in page
    assert "page=2" in page


def test_word_pairs_of_a_query(db, tenant_a):
    with tenant_context(tenant_a):
        assert selectors.phrase_word_pairs('"the return value" refund') == ["return valu"]
        assert selectors.phrase_word_pairs('"of the" x') == []  # stop words only
        assert selectors.phrase_word_pairs('"big red fox" "green tea"') == [
            "big red", "green tea", "red fox"
        ]  # fmt: skip
        assert selectors.phrase_word_pairs('-"return value" refund') == []
        assert selectors.phrase_word_pairs('"return value" or refund') == []
        assert selectors.phrase_word_pairs("return value") == []


def test_search_combines_with_filters(client_as, searchable, tenant_a):
    with tenant_context(tenant_a):
        Conversation.objects.filter(title="Refund-conv").update(flagged=True)
    page = searched(client_as(Role.AGENT), "refund")
    assert "Script-conv" in page
    flagged = body(client_as(Role.AGENT).get("/conversations/", {"q": "refund", "flagged": "1"}))
    assert "Refund-conv" in flagged and "Script-conv" not in flagged


def test_a_stopword_only_search_finds_nothing_without_error(client_as, searchable):
    response = client_as(Role.AGENT).get("/conversations/", {"q": "the"})
    assert response.status_code == 200
    assert "No conversation matches" in body(response)


# --- Isolation -------------------------------------------------------------------------------


def test_the_other_tenants_conversations_tags_and_folders_never_show(
    client_as, tenant_a, tenant_b, conversation_in
):
    conversation_in(tenant_a, [("user", "alpha parcel question")], title="Alpha-conv")
    conversation_in(tenant_b, [("user", "beta parcel question")], title="Beta-conv")
    with tenant_context(tenant_b):
        beta_tag = Tag.objects.create(name="beta-only-tag")
        beta_folder = Folder.objects.create(name="beta-only-folder")
    client = client_as(Role.OWNER)
    page = body(client.get("/conversations/"))
    assert "Alpha-conv" in page and "Beta-conv" not in page
    assert "beta-only-tag" not in page and "beta-only-folder" not in page
    assert "Beta-conv" not in searched(client, "parcel")
    assert "Alpha-conv" not in body(client.get(f"/conversations/?tag={beta_tag.pk}"))
    assert "Alpha-conv" not in body(client.get(f"/conversations/?folder={beta_folder.pk}"))
