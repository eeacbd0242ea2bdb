"""Exports: CSV and JSON of one conversation and of the filtered list, streamed in batches,
safe to open in a spreadsheet, audited, never including notes or another tenant's rows."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEvent
from apps.conversations import exports
from apps.conversations.models import Note, Tag
from apps.tenants.models import Role


def content(response) -> str:
    assert response.streaming
    return b"".join(response.streaming_content).decode()


@pytest.fixture
def conversation(tenant_a, conversation_in):
    made = conversation_in(
        tenant_a,
        [
            ("user", '=HYPERLINK("https://evil.test","click")'),
            (
                "assistant",
                "-2+3 is the answer, line one\nline two",
                {
                    "model": "llama3.1:8b",
                    "prompt_tokens": 10,
                    "completion_tokens": 5,
                    "rating": "up",
                    "rating_comment": "@everyone great",
                    "sources": [{"title": "Guide", "url": "https://docs.alpha.test/g", "page": 2}],
                    "tool_calls": [{"name": "order_status", "ok": True, "result": "secret-ish"}],
                },
            ),
        ],
        title="+Export me",
    )
    with tenant_context(tenant_a):
        Note.objects.create(conversation=made, body="PRIVATE-NOTE-TEXT")
    return made


def test_one_conversation_as_csv_is_formula_safe_and_audited(client_as, tenant_a, conversation):
    client = client_as(Role.VIEWER)
    response = client.get(f"/conversations/{conversation.pk}/export.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert f'conversation-{conversation.pk}.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(content(response))))
    assert rows[0] == exports.MESSAGE_COLUMNS
    question, answer = (dict(zip(rows[0], row, strict=True)) for row in rows[1:])
    assert question["content"] == '\'=HYPERLINK("https://evil.test","click")'
    assert answer["content"] == "'-2+3 is the answer, line one\nline two"
    assert answer["rating_comment"] == "'@everyone great"
    assert answer["model"] == "llama3.1:8b" and answer["prompt_tokens"] == "10"
    assert (
        answer["sources"] == "Guide https://docs.alpha.test/g"
        and answer["tool_calls"] == "order_status"
    )
    assert "PRIVATE-NOTE-TEXT" not in content(
        client.get(f"/conversations/{conversation.pk}/export.csv")
    )
    with tenant_context(tenant_a):
        event = AuditEvent.objects.filter(action="conversation.exported").latest("id")
    assert event.object_id == str(conversation.pk) and event.data == {"format": "csv"}
    assert event.actor_id == client.user.pk


def test_one_conversation_as_json(client_as, conversation):
    response = client_as(Role.AGENT).get(f"/conversations/{conversation.pk}/export.json")
    assert response["Content-Type"] == "application/json"
    data = json.loads(content(response))
    assert data["conversation"]["id"] == str(conversation.pk)
    assert data["conversation"]["title"] == "+Export me"  # JSON is data: no prefixing
    assert [m["role"] for m in data["messages"]] == ["user", "assistant"]
    answer = data["messages"][1]
    assert answer["sources"] == [{"title": "Guide", "url": "https://docs.alpha.test/g", "page": 2}]
    assert answer["tool_calls"] == [{"name": "order_status", "ok": True}]  # no raw results
    assert "PRIVATE-NOTE-TEXT" not in json.dumps(data)


@pytest.fixture
def listed(tenant_a, tenant_b, conversation_in):
    now = timezone.now()
    with tenant_context(tenant_a):
        vip = Tag.objects.create(name="vip")
    made = [
        conversation_in(
            tenant_a,
            [("user", f"question number {i}"), ("assistant", "answer")],
            at=now - timedelta(minutes=i),
            title=f"Alpha-{i}",
            flagged=i % 2 == 0,
        )
        for i in range(5)
    ]
    with tenant_context(tenant_a):
        made[0].tags.add(vip)
    conversation_in(tenant_b, [("user", "question number 9")], title="Beta-secret")
    return made


def test_the_filtered_list_as_csv_in_batches(client_as, tenant_a, listed, monkeypatch):
    monkeypatch.setattr(exports, "BATCH_SIZE", 2)  # several batches: the keyset must hold
    client = client_as(Role.VIEWER)
    response = client.get("/conversations/export.csv")
    rows = list(csv.DictReader(io.StringIO(content(response))))
    assert [row["title"] for row in rows] == [f"Alpha-{i}" for i in range(5)]
    assert rows[0]["tags"] == "vip" and rows[0]["flagged"] == "yes" and rows[0]["messages"] == "2"
    flagged = list(
        csv.DictReader(io.StringIO(content(client.get("/conversations/export.csv?flagged=1"))))
    )
    assert [row["title"] for row in flagged] == ["Alpha-0", "Alpha-2", "Alpha-4"]
    with tenant_context(tenant_a):
        event = AuditEvent.objects.filter(action="conversations.exported").latest("id")
    assert event.data == {"format": "csv", "filters": ["flagged"]}


def test_the_filtered_list_as_json_with_a_search(client_as, listed, monkeypatch):
    monkeypatch.setattr(exports, "BATCH_SIZE", 2)
    client = client_as(Role.AGENT)
    everything = json.loads(content(client.get("/conversations/export.json")))
    assert [item["title"] for item in everything] == [f"Alpha-{i}" for i in range(5)]
    found = json.loads(content(client.get("/conversations/export.json", {"q": '"number 3"'})))
    assert [item["title"] for item in found] == ["Alpha-3"]
    assert json.loads(content(client.get("/conversations/export.json?channel=cli"))) == []


def test_exports_never_include_the_other_tenant(client_as, listed, tenant_b, conversation_in):
    client = client_as(Role.OWNER)
    assert "Beta-secret" not in content(client.get("/conversations/export.csv"))
    assert "Beta-secret" not in content(client.get("/conversations/export.json?q=question"))
    theirs = conversation_in(tenant_b, [("user", "beta only")], title="Beta-two")
    assert client.get(f"/conversations/{theirs.pk}/export.csv").status_code == 404


def test_unknown_formats_and_strangers_get_404(client_as, seeded, conversation):
    assert client_as(Role.OWNER).get("/conversations/export.xlsx").status_code == 404
    assert (
        client_as(Role.OWNER).get(f"/conversations/{conversation.pk}/export.pdf").status_code == 404
    )
    stranger = Client(HTTP_HOST="alpha.localhost")
    stranger.force_login(seeded["beta"].owner)
    assert stranger.get("/conversations/export.csv").status_code == 404


def test_csv_cells_that_start_a_formula_are_prefixed():
    for risky in ("=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"):
        assert exports.csv_cell(risky) == "'" + risky
    assert exports.csv_cell("plain") == "plain"
    assert exports.csv_cell(-1) == -1  # numbers are numbers
    assert exports.csv_cell(["=a", "b"]) == "'=a; b"


def test_under_asgi_chunks_are_pulled_one_at_a_time():
    pulled: list[int] = []

    def chunks():
        for i in range(3):
            pulled.append(i)
            yield f"chunk{i}".encode()

    async def first_two() -> list[bytes]:
        stream = exports._pulled(chunks())
        got = [await anext(stream), await anext(stream)]
        await stream.aclose()
        return got

    assert async_to_sync(first_two)() == [b"chunk0", b"chunk1"]
    assert pulled == [0, 1]  # the third chunk was never produced: nothing read ahead
