"""The engine with a knowledge base: cited answers, offline answers, and the whole flow
(ingest, retrieve, answer over the widget socket) with the outbound network blocked."""

from __future__ import annotations

import json
import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django_tenants.utils import tenant_context

from apps.conversations.engine import TurnRunner
from apps.conversations.models import Message, MessageStatus
from apps.conversations.services import conversation_create
from apps.llm import services as llm
from tests.network import NetworkGuard

pytestmark = pytest.mark.usefixtures("committed")

REFUND_TEXT = (
    "Refund policy. Customers may return any unworn item within 30 days of delivery for a full "
    "refund. Refunds are paid to the original card within 5 business days."
)


@pytest.fixture(scope="module")
def knowledge_base(engine_tenant, django_db_blocker, tmp_path_factory):
    from django.conf import settings

    from apps.knowledge.services import knowledge_base_create, source_create_text, source_ingest

    settings.MEDIA_ROOT = tmp_path_factory.mktemp("media")
    with django_db_blocker.unblock(), tenant_context(engine_tenant):
        kb = knowledge_base_create(name=f"Help centre {uuid.uuid4().hex[:6]}")
        source = source_create_text(
            knowledge_base=kb, title="Refunds", text=REFUND_TEXT, queue=False
        )
        source_ingest(source_id=source.pk)
    return kb


def turn(tenant, conversation, text):
    runner = TurnRunner(tenant=tenant, conversation_id=conversation.pk, text=text)

    async def collect():
        return [event async for event in runner.events()]

    events = async_to_sync(collect)()
    with tenant_context(tenant):
        reply = Message.objects.get(pk=events[0].data["reply_id"])
    return events, reply


def assistant_with_kb(tenant, kb, model):
    with tenant_context(tenant):
        assistant = llm.assistant_create(
            name=f"kb-{uuid.uuid4().hex[:8]}", default_model=model, knowledge_bases=[kb]
        )
        return conversation_create(channel="cli", assistant=assistant)


def test_answers_cite_the_knowledge_base(engine_tenant, knowledge_base, fake_llm):
    conversation = assistant_with_kb(engine_tenant, knowledge_base, "chat")
    fake_llm.requests.clear()
    events, reply = turn(engine_tenant, conversation, "How long do refunds take?")
    sources = next(e for e in events if e.type == "sources").data["sources"]
    assert sources[0]["title"] == "Refunds"
    assert "5 business days" in fake_llm.requests[-1]["body"]["messages"][0]["content"]
    assert reply.content.endswith("See [1].")
    assert reply.sources[0]["title"] == "Refunds"
    assert reply.retrieval_ms is not None


def test_offline_answer_is_made_of_passages_and_says_so(engine_tenant, knowledge_base):
    conversation = assistant_with_kb(engine_tenant, knowledge_base, "down")
    _events, reply = turn(engine_tenant, conversation, "Can I get a refund?")
    assert reply.status == MessageStatus.COMPLETE
    assert "offline" in reply.content.lower()
    assert "30 days of delivery" in reply.content
    assert reply.notice and reply.sources[0]["title"] == "Refunds"


def test_the_whole_flow_runs_with_the_network_blocked(
    engine_tenant, fake_llm, monkeypatch, tmp_path
):
    """Ingest, embed, retrieve and answer over the widget socket: no connection leaves the box."""
    from django.conf import settings

    from apps.knowledge.services import knowledge_base_create, source_create_text, source_ingest
    from apps.widgets.services import widget_create
    from config.asgi import application

    settings.MEDIA_ROOT = tmp_path
    guard = NetworkGuard()
    guard.install(monkeypatch)
    with tenant_context(engine_tenant):
        kb = knowledge_base_create(name=f"Offline {uuid.uuid4().hex[:6]}")
        source = source_create_text(
            knowledge_base=kb,
            title="Warranty",
            text="Every kettle has a two year warranty.",
            queue=False,
        )
        source_ingest(source_id=source.pk)
        assistant = llm.assistant_create(
            name=f"off-{uuid.uuid4().hex[:6]}", default_model="local", knowledge_bases=[kb]
        )
        widget = widget_create(name="Offline", allowed_origins=["https://offline.test"])
        widget.assistant = assistant
        widget.save()

    async def talk():
        comm = WebsocketCommunicator(
            application,
            f"/ws/widget/?key={widget.embed_key}",
            headers=[(b"origin", b"https://offline.test")],
        )
        await comm.connect()
        await comm.send_to(
            text_data=json.dumps({"type": "aichat.hello", "session_id": None, "identity": None})
        )
        await comm.receive_from(timeout=30)
        await comm.send_to(
            text_data=json.dumps(
                {"type": "aichat.message", "client_id": "o-1", "text": "Warranty on kettles?"}
            )
        )
        frames = []
        while not frames or frames[-1].get("type") != "aichat.done":
            frames.append(json.loads(await comm.receive_from(timeout=30)))
        await comm.disconnect()
        return frames

    frames = async_to_sync(talk)()
    assert any(
        f["type"] == "aichat.sources" and f["sources"][0]["title"] == "Warranty" for f in frames
    )
    assert "You asked: Warranty on kettles?" in "".join(f.get("text", "") for f in frames)
    assert guard.attempts == []
