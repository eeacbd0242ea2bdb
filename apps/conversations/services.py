"""Writes on conversations and messages. All synchronous; the engine calls them in the
tenant's schema through ``apps.core.tenancy.acall_in_tenant``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.conversations.models import Channel, Conversation, Message, MessageStatus, Rating, Role
from apps.core.errors import Conflict, InvalidInput, NotFound
from apps.llm.models import Assistant
from apps.llm.selectors import AssistantConfig, assistant_config

MAX_USER_MESSAGE_CHARS = 8000
STREAM_ALIVE_TTL_SECONDS = 20
INTERRUPTED_SUFFIX = "\n\n[This answer was interrupted.]"


def stream_alive_key(message_id: Any) -> str:
    return f"stream-alive:{message_id}"


def stream_heartbeat(message_id: Any) -> None:
    """Tell other processes that this message's stream is being generated right now."""
    cache.set(stream_alive_key(message_id), 1, STREAM_ALIVE_TTL_SECONDS)


def stream_heartbeat_clear(message_id: Any) -> None:
    cache.delete(stream_alive_key(message_id))


def conversation_create(
    *,
    channel: str,
    assistant: Assistant | None = None,
    widget_id: Any = None,
    visitor_session: str = "",
    visitor_id: str = "",
    title: str = "",
) -> Conversation:
    if channel not in Channel.values:
        raise InvalidInput(f"Unknown channel '{channel}'.", code="invalid_channel")
    conversation = Conversation(
        channel=channel,
        assistant=assistant,
        widget_id=widget_id,
        visitor_session=visitor_session,
        visitor_id=visitor_id,
        title=title[:200],
    )
    conversation.full_clean()
    conversation.save()
    return conversation


@dataclass
class TurnPlan:
    """Everything the engine needs for one turn, read in one transaction."""

    conversation_id: Any
    user_message_id: Any
    reply_id: Any
    text: str
    assistant: AssistantConfig
    history: list[dict[str, str]]
    visitor_id: str
    replayed: bool = False  # the client retried: the reply already exists
    reply_content: str = ""
    reply_status: str = MessageStatus.STREAMING
    reply_sources: list[dict[str, Any]] = field(default_factory=list)
    # OpenAI-compatible API: the client's own messages (it keeps the history), its tools
    # (their calls go back to the client), and sampling settings that override the assistant.
    request_messages: list[dict[str, Any]] | None = None
    client_tools: list[dict[str, Any]] | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    use_assistant_prompt: bool = True
    persist: bool = True


def _estimate_tokens(text: str) -> int:
    # ~4 characters per token for English text, plus per-message overhead. An estimate keeps
    # the hot path free of tokenizer files (which would otherwise be downloaded).
    return len(text) // 4 + 4


def _history(conversation: Conversation, before: datetime, budget: int) -> list[dict[str, str]]:
    rows = (
        conversation.messages.filter(created_at__lt=before)
        .exclude(content="")
        .order_by("-created_at", "-id")
        .values_list("role", "content", "status")[:200]
    )
    picked: list[dict[str, str]] = []
    used = 0
    for role, content, status in rows:
        if status == MessageStatus.INCOMPLETE and role == Role.ASSISTANT:
            content += INTERRUPTED_SUFFIX
        cost = _estimate_tokens(content)
        if used + cost > budget:
            break
        used += cost
        picked.append({"role": role, "content": content})
    picked.reverse()
    return picked


def _mark_dead_streams(conversation: Conversation) -> None:
    """A stream whose generator is gone (crash, killed worker) becomes an incomplete answer."""
    for message in conversation.messages.filter(status=MessageStatus.STREAMING).only("id"):
        if cache.get(stream_alive_key(message.id)):
            raise Conflict(
                "The assistant is still answering the previous message.", code="conversation_busy"
            )
        Message.objects.filter(pk=message.pk, status=MessageStatus.STREAMING).update(
            status=MessageStatus.INCOMPLETE, error_code="stream_lost", updated_at=timezone.now()
        )


def check_user_text(text: str) -> str:
    text = text.strip()
    if not text:
        raise InvalidInput("The message is empty.", code="empty_message")
    if len(text) > MAX_USER_MESSAGE_CHARS:
        raise InvalidInput(
            f"The message is too long (at most {MAX_USER_MESSAGE_CHARS} characters).",
            code="message_too_long",
        )
    return text


@transaction.atomic
def turn_begin(*, conversation_id: Any, text: str, client_id: str = "") -> TurnPlan:
    """Persist the user's message and an empty streaming reply before any model is called."""
    text = check_user_text(text)
    conversation = (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("assistant")
        .filter(pk=conversation_id)
        .first()
    )
    if conversation is None:
        raise NotFound("Conversation not found.", code="conversation_not_found")
    assistant = conversation.assistant
    config = assistant_config(assistant)
    if client_id:
        existing = conversation.messages.filter(client_id=client_id, role=Role.USER).first()
        if existing is not None:
            reply = conversation.messages.filter(
                created_at__gte=existing.created_at, role=Role.ASSISTANT
            ).first()
            if reply is not None:
                return TurnPlan(
                    conversation_id=conversation.pk,
                    user_message_id=existing.pk,
                    reply_id=reply.pk,
                    text=existing.content,
                    assistant=config,
                    history=[],
                    visitor_id=conversation.visitor_id,
                    replayed=True,
                    reply_content=reply.content,
                    reply_status=reply.status,
                    reply_sources=reply.sources,
                )
    _mark_dead_streams(conversation)
    now = timezone.now()
    history = _history(conversation, now, config.history_budget_tokens - _estimate_tokens(text))
    try:
        with transaction.atomic():
            user_message = Message.objects.create(
                conversation=conversation, role=Role.USER, content=text, client_id=client_id[:64]
            )
    except IntegrityError as exc:  # the same client_id raced in from another connection
        raise Conflict("This message was already received.", code="duplicate_message") from exc
    reply = Message.objects.create(
        conversation=conversation, role=Role.ASSISTANT, status=MessageStatus.STREAMING
    )
    stream_heartbeat(reply.pk)
    Conversation.objects.filter(pk=conversation.pk).update(
        last_message_at=now, title=conversation.title or text[:80]
    )
    return TurnPlan(
        conversation_id=conversation.pk,
        user_message_id=user_message.pk,
        reply_id=reply.pk,
        text=text,
        assistant=config,
        history=history,
        visitor_id=conversation.visitor_id,
    )


def reply_checkpoint(*, reply_id: Any, content: str, seq: int) -> None:
    """Save the answer so far (a crash after this loses nothing before ``seq``)."""
    Message.objects.filter(pk=reply_id, status=MessageStatus.STREAMING).update(
        content=content, seq=seq, updated_at=timezone.now()
    )
    stream_heartbeat(reply_id)


@dataclass
class TurnOutcome:
    content: str
    status: str
    seq: int
    sources: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    model: str = ""
    provider: str = ""
    latency_ms: int | None = None
    ttft_ms: int | None = None
    retrieval_ms: int | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    error_code: str = ""
    notice: str = ""


def reply_finish(*, reply_id: Any, outcome: TurnOutcome) -> None:
    now = timezone.now()
    Message.objects.filter(pk=reply_id).update(
        content=outcome.content,
        status=outcome.status,
        seq=outcome.seq,
        sources=outcome.sources,
        tool_calls=outcome.tool_calls,
        model=outcome.model[:200],
        provider=outcome.provider[:100],
        latency_ms=outcome.latency_ms,
        ttft_ms=outcome.ttft_ms,
        retrieval_ms=outcome.retrieval_ms,
        prompt_tokens=outcome.prompt_tokens,
        completion_tokens=outcome.completion_tokens,
        cost_usd=outcome.cost_usd,
        error_code=outcome.error_code[:64],
        notice=outcome.notice[:300],
        completed_at=now,
        updated_at=now,
    )
    Conversation.objects.filter(messages__pk=reply_id).update(last_message_at=now)
    stream_heartbeat_clear(reply_id)


def message_rate(*, message: Message, rating: str, comment: str = "") -> Message:
    if message.role != Role.ASSISTANT:
        raise InvalidInput("Only answers can be rated.", code="not_an_answer")
    if rating not in Rating.values:
        raise InvalidInput("A rating is 'up' or 'down'.", code="invalid_rating")
    message.rating = rating
    message.rating_comment = comment.strip()[:2000]
    message.save(update_fields=["rating", "rating_comment", "updated_at"])
    return message
