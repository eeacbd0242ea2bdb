"""Answering from the command line (``manage.py ask``): the same engine as the widget."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

from apps.conversations.engine import TurnRunner
from apps.conversations.models import Channel
from apps.conversations.services import TurnPlan, conversation_create, turn_begin
from apps.core.errors import NotFound
from apps.core.tenancy import call_in_tenant
from apps.llm.selectors import assistant_get
from apps.tenants.models import Tenant


def _start(assistant_name: str | None, kb_name: str | None) -> tuple[Any, int | None]:
    from apps.core.warmup import preload
    from apps.knowledge.models import KnowledgeBase
    from apps.llm.router import tenant_router

    assistant = assistant_get(name=assistant_name)
    # Load what a turn loads on first use and build the tenant's router before the turn
    # starts, as a server does at start-up, so the timings printed and stored are the turn's.
    preload()
    tenant_router()
    kb_id = None
    if kb_name:
        kb = KnowledgeBase.objects.filter(name=kb_name).first()
        if kb is None:
            raise NotFound(f"No knowledge base named '{kb_name}'.", code="kb_not_found")
        kb_id = kb.pk
    conversation = conversation_create(channel=Channel.CLI, assistant=assistant)
    return conversation.pk, kb_id


def answer_for_cli(
    *,
    tenant: Tenant,
    assistant_name: str | None,
    kb_name: str | None,
    question: str,
    on_delta: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Answer one question in a new conversation; stream text to ``on_delta``; return a summary."""
    conversation_id, kb_id = call_in_tenant(tenant, _start, assistant_name, kb_name)

    def begin() -> TurnPlan:
        plan = turn_begin(conversation_id=conversation_id, text=question)
        if kb_id is not None:  # --kb narrows retrieval to that knowledge base
            plan.assistant = dataclasses.replace(plan.assistant, knowledge_base_ids=(kb_id,))
        return plan

    runner = TurnRunner(tenant=tenant, begin=begin)

    async def run() -> list[Any]:
        events = []
        async for event in runner.events():
            events.append(event)
            if event.type == "delta" and on_delta is not None:
                on_delta(event.data["text"])
        return events

    events = asyncio.run(run())
    outcome = runner.outcome
    done = events[-1].data if events else {}
    return {
        "conversation_id": str(conversation_id),
        "answer": runner.content,
        "status": done.get("status"),
        "notice": done.get("notice"),
        "error_code": done.get("error_code"),
        "sources": outcome.sources if outcome else [],
        "model": outcome.model if outcome else "",
        "provider": outcome.provider if outcome else "",
        "tokens": {
            "prompt": outcome.prompt_tokens if outcome else 0,
            "completion": outcome.completion_tokens if outcome else 0,
        },
        "cost_usd": float(outcome.cost_usd) if outcome else 0.0,
        "timings": {
            "ttft_ms": outcome.ttft_ms if outcome else None,
            "latency_ms": outcome.latency_ms if outcome else None,
            "retrieval_ms": outcome.retrieval_ms if outcome else None,
        },
    }
