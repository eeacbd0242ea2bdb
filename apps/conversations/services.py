"""Writes on conversations and messages. All synchronous; the engine calls them in the
tenant's schema through ``apps.core.tenancy.acall_in_tenant``."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.conversations.models import Channel, Conversation, Message, MessageStatus, Rating, Role
from apps.core.errors import Conflict, InvalidInput, NotFound
from apps.core.text import clean
from apps.llm.models import Assistant
from apps.llm.selectors import AssistantConfig

MAX_USER_MESSAGE_CHARS = 8000
STREAM_ALIVE_TTL_SECONDS = 20
INTERRUPTED_SUFFIX = "\n\n[This answer was interrupted.]"


def stream_is_alive(updated_at: datetime) -> bool:
    """Whether a generator is still working on a streaming message: it saved the message (begun
    it, or checkpointed it) in the last ``STREAM_ALIVE_TTL_SECONDS``. The row is its own
    heartbeat, so a crashed generator's answer stops counting as alive after that long."""
    return updated_at >= timezone.now() - timedelta(seconds=STREAM_ALIVE_TTL_SECONDS)


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


HISTORY_WINDOW = 200  # messages read per turn; older ones never fit a token budget anyway


def _history(rows: list[tuple[Any, ...]], budget: int) -> list[dict[str, str]]:
    """The newest messages that fit ``budget`` tokens, oldest first. Rows: newest first."""
    picked: list[dict[str, str]] = []
    used = 0
    for _id, role, content, status, *_ in rows:
        if not content:
            continue
        if role == Role.ASSISTANT and status in (MessageStatus.INCOMPLETE, MessageStatus.STREAMING):
            content += INTERRUPTED_SUFFIX
        cost = _estimate_tokens(content)
        if used + cost > budget:
            break
        used += cost
        picked.append({"role": role, "content": content})
    picked.reverse()
    return picked


def _mark_dead_streams(rows: list[tuple[Any, ...]]) -> None:
    """A stream whose generator is gone (crash, killed worker) becomes an incomplete answer."""
    for message_id, _role, _content, status, _client_id, updated_at, *_ in rows:
        if status != MessageStatus.STREAMING:
            continue
        if stream_is_alive(datetime.fromisoformat(updated_at)):
            raise Conflict(
                "The assistant is still answering the previous message.", code="conversation_busy"
            )
        Message.objects.filter(pk=message_id, status=MessageStatus.STREAMING).update(
            status=MessageStatus.INCOMPLETE, error_code="stream_lost", updated_at=timezone.now()
        )


def check_user_text(text: str) -> str:
    text = clean(text).strip()  # no NUL or lone surrogate: PostgreSQL could not store them
    if not text:
        raise InvalidInput("The message is empty.", code="empty_message")
    if len(text) > MAX_USER_MESSAGE_CHARS:
        raise InvalidInput(
            f"The message is too long (at most {MAX_USER_MESSAGE_CHARS} characters).",
            code="message_too_long",
        )
    return text


# The hot path of every turn, in one statement and one round trip: read the conversation and
# its recent messages, insert the empty reply and then the question, and touch the
# conversation. (The ORM version took six round trips and ~5 ms of query building per turn;
# see docs/benchmarks.md.) Turns of one conversation (two tabs, a retried request) are
# serialised by the partial unique index "one streaming reply per conversation": a reply
# inserted while another streams is skipped (ON CONFLICT DO NOTHING), and so is its question,
# which is inserted from the reply's RETURNING. A concurrent insert waits for the other
# statement to commit before it checks. Nothing is inserted either when the client_id was
# already used (a retry: the stored answer is replayed). The statement is its own
# transaction, with synchronous_commit off: it spares the turn a disk flush (3-6 ms here) at
# the cost of losing it if PostgreSQL itself crashes within ~0.6 s, when the answer being
# generated would be lost too. Final answers are committed with the default.
_BEGIN_SQL = """
WITH conv AS (
    SELECT assistant_id, visitor_id, set_config('synchronous_commit', 'off', true) AS durability
    FROM conversations_conversation WHERE id = %(conversation)s
),
recent AS (
    SELECT id, role, content, status, client_id, created_at, updated_at
    FROM conversations_message WHERE conversation_id = %(conversation)s
    ORDER BY created_at DESC, id DESC LIMIT %(window)s
),
blocked AS (
    SELECT 1 FROM recent
    WHERE status = 'streaming' OR (%(client_id)s <> '' AND role = 'user' AND client_id = %(client_id)s)
),
reply AS (
    INSERT INTO conversations_message (
        id, conversation_id, role, content, status, client_id, sources, tool_calls, notice,
        error_code, model, provider, prompt_tokens, completion_tokens, cost_usd, seq, rating,
        rating_comment, created_at, updated_at
    )
    SELECT %(reply_id)s::uuid, %(conversation)s, 'assistant', '', 'streaming', '', '[]', '[]',
           '', '', '', '', 0, 0, 0, 0, '', '', %(reply_at)s::timestamptz, %(now)s
    FROM conv WHERE NOT EXISTS (SELECT 1 FROM blocked)
    ON CONFLICT (conversation_id) WHERE status = 'streaming' DO NOTHING
    RETURNING id
),
question AS (
    INSERT INTO conversations_message (
        id, conversation_id, role, content, status, client_id, sources, tool_calls, notice,
        error_code, model, provider, prompt_tokens, completion_tokens, cost_usd, seq, rating,
        rating_comment, created_at, updated_at
    )
    SELECT %(user_id)s::uuid, %(conversation)s, 'user', %(text)s, 'complete', %(client_id)s,
           '[]', '[]', '', '', '', '', 0, 0, 0, 0, '', '', %(now)s::timestamptz, %(now)s
    FROM reply
    RETURNING id
),
touched AS (
    UPDATE conversations_conversation
    SET last_message_at = %(now)s, title = CASE WHEN title = '' THEN %(title)s ELSE title END
    WHERE id = %(conversation)s AND EXISTS (SELECT 1 FROM question)
)
SELECT conv.assistant_id, conv.visitor_id, (SELECT count(*) FROM question),
       (SELECT coalesce(json_agg(json_build_array(id, role, content, status, client_id,
                                                  updated_at)), '[]')
        FROM recent)
FROM conv
"""


def _replay(
    conversation_id: Any, client_id: str, config: AssistantConfig, visitor_id: str
) -> TurnPlan | None:
    """The stored question and answer for a client_id the client sends again, if any."""
    existing = Message.objects.filter(
        conversation_id=conversation_id, client_id=client_id, role=Role.USER
    ).first()
    if existing is None:
        return None
    reply = (
        Message.objects.filter(
            conversation_id=conversation_id,
            created_at__gte=existing.created_at,
            role=Role.ASSISTANT,
        )
        .order_by("created_at")
        .first()
    )
    if reply is None:
        return None
    return TurnPlan(
        conversation_id=conversation_id,
        user_message_id=existing.pk,
        reply_id=reply.pk,
        text=existing.content,
        assistant=config,
        history=[],
        visitor_id=visitor_id,
        replayed=True,
        reply_content=reply.content,
        reply_status=reply.status,
        reply_sources=reply.sources,
    )


def turn_begin(*, conversation_id: Any, text: str, client_id: str = "") -> TurnPlan:
    """Persist the user's message and an empty streaming reply before any model is called.

    One statement (``_BEGIN_SQL``); a second try only after marking a dead stream incomplete,
    or after losing a race to a concurrent turn of the same conversation.
    """
    from apps.llm.router import tenant_router

    text = check_user_text(text)
    client_id = client_id[:64]
    for _attempt in range(2):
        now = timezone.now()
        user_id, reply_id = uuid.uuid4(), uuid.uuid4()
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    _BEGIN_SQL,
                    {
                        "conversation": conversation_id,
                        "window": HISTORY_WINDOW,
                        "client_id": client_id,
                        "user_id": user_id,
                        "reply_id": reply_id,
                        "text": text,
                        "title": text[:80],
                        "now": now,
                        "reply_at": now + timedelta(microseconds=1),  # always after the question
                    },
                )
                found = cursor.fetchone()
        except IntegrityError:
            # The same client_id, begun and finished by a concurrent request since this
            # statement's snapshot: the next try sees it and replays it.
            if connection.in_atomic_block:
                raise
            continue
        if found is None:
            raise NotFound("Conversation not found.", code="conversation_not_found")
        assistant_id, visitor_id, inserted, recent = found
        config = tenant_router().assistant(assistant_id)
        rows = [tuple(row) for row in (json.loads(recent) if isinstance(recent, str) else recent)]
        if inserted:
            # The reply's updated_at says it is alive until its first checkpoint renews it.
            history = _history(rows, config.history_budget_tokens - _estimate_tokens(text))
            return TurnPlan(
                conversation_id=conversation_id,
                user_message_id=user_id,
                reply_id=reply_id,
                text=text,
                assistant=config,
                history=history,
                visitor_id=visitor_id,
            )
        if client_id and any(r[1] == Role.USER and r[4] == client_id for r in rows):
            replay = _replay(conversation_id, client_id, config, visitor_id)
            if replay is not None:
                return replay
        _mark_dead_streams(rows)  # raises "busy" if one is alive; else the retry inserts
    raise Conflict(
        "The assistant is still answering the previous message.", code="conversation_busy"
    )


def api_turn_store(*, assistant: Assistant | None, text: str, title: str) -> tuple[Any, Any, Any]:
    """Store one OpenAI-compatible API request as a conversation: the last user message (when
    there is one) and an empty streaming reply, all or nothing. Returns the three ids."""
    with transaction.atomic():
        conversation = conversation_create(channel=Channel.API, assistant=assistant, title=title)
        user_message_id = (
            Message.objects.create(conversation=conversation, role=Role.USER, content=text).pk
            if text
            else None
        )
        reply_id = Message.objects.create(
            conversation=conversation, role=Role.ASSISTANT, status=MessageStatus.STREAMING
        ).pk
    return conversation.pk, user_message_id, reply_id


_CHECKPOINT_SQL = """
    UPDATE conversations_message AS m
    SET content = v.content, seq = v.seq, updated_at = %s
    FROM unnest(%s::uuid[], %s::text[], %s::int[]) AS v (id, content, seq)
    WHERE m.id = v.id AND m.status = 'streaming' AND m.seq < v.seq
"""


def reply_checkpoints(*, items: list[tuple[Any, str, int]]) -> int:
    """Save the answers so far of several replies, ``(reply_id, content, seq)``, at once.

    One statement for all the answers a process is streaming in this tenant (a crash after it
    loses nothing before each ``seq``), and the heartbeat of each (``stream_is_alive``). A
    reply that has finished meanwhile, or that a newer checkpoint already passed, is left
    alone. Checkpoints are frequent and each supersedes the last, so no disk flush is waited
    for. Returns how many replies were saved.
    """
    if not items:
        return 0
    ids, contents, seqs = (list(column) for column in zip(*items, strict=True))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF")
        cursor.execute(_CHECKPOINT_SQL, [timezone.now(), [str(i) for i in ids], contents, seqs])
        return cursor.rowcount


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


_FINISH_SQL = """
WITH reply AS (
    UPDATE conversations_message
    SET content = %(content)s, status = %(status)s, seq = %(seq)s, sources = %(sources)s::jsonb,
        tool_calls = %(tool_calls)s::jsonb, model = %(model)s, provider = %(provider)s,
        latency_ms = %(latency_ms)s, ttft_ms = %(ttft_ms)s, retrieval_ms = %(retrieval_ms)s,
        prompt_tokens = %(prompt_tokens)s, completion_tokens = %(completion_tokens)s,
        cost_usd = %(cost_usd)s, error_code = %(error_code)s, notice = %(notice)s,
        completed_at = %(now)s, updated_at = %(now)s
    WHERE id = %(reply)s
    RETURNING conversation_id
)
UPDATE conversations_conversation AS c SET last_message_at = %(now)s
FROM reply WHERE c.id = reply.conversation_id
"""


def reply_finish(*, reply_id: Any, outcome: TurnOutcome) -> None:
    """Save a finished (or stopped, or interrupted) answer and what it cost, and touch its
    conversation: one statement, so one round trip and one commit flushed to disk."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _FINISH_SQL,
            {
                "reply": reply_id,
                "content": outcome.content,
                "status": outcome.status,
                "seq": outcome.seq,
                "sources": json.dumps(outcome.sources, cls=DjangoJSONEncoder),
                "tool_calls": json.dumps(outcome.tool_calls, cls=DjangoJSONEncoder),
                "model": outcome.model[:200],
                "provider": outcome.provider[:100],
                "latency_ms": outcome.latency_ms,
                "ttft_ms": outcome.ttft_ms,
                "retrieval_ms": outcome.retrieval_ms,
                "prompt_tokens": outcome.prompt_tokens,
                "completion_tokens": outcome.completion_tokens,
                "cost_usd": outcome.cost_usd,
                "error_code": outcome.error_code[:64],
                "notice": outcome.notice[:300],
                "now": now,
            },
        )


def message_rate(*, message: Message, rating: str, comment: str = "") -> Message:
    if message.role != Role.ASSISTANT:
        raise InvalidInput("Only answers can be rated.", code="not_an_answer")
    if rating not in Rating.values:
        raise InvalidInput("A rating is 'up' or 'down'.", code="invalid_rating")
    message.rating = rating
    message.rating_comment = clean(comment).strip()[:2000]
    message.save(update_fields=["rating", "rating_comment", "updated_at"])
    return message
