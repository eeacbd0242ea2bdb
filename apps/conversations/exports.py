"""CSV and JSON exports of one conversation or of a filtered list, streamed.

Rows are read in keyset batches (never the whole list in memory, no server-side cursor held
between batches), each batch explicitly in the tenant's schema. Under ASGI the batches are
pulled through ``sync_to_async`` one at a time: Django would otherwise read a synchronous
iterator to its end before sending anything. Columns are fixed and long texts cut; CSV cells
that a spreadsheet would read as a formula are prefixed with an apostrophe. Private notes are
never exported.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django_tenants.utils import tenant_context

from apps.conversations.models import Conversation, Message
from apps.conversations.selectors import ConversationRow, conversation_rows
from apps.tenants.models import Tenant

BATCH_SIZE = 1000
MESSAGE_BATCH_SIZE = 500
CONTENT_MAX_CHARS = 32_000
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}

LIST_COLUMNS = [
    "id", "title", "channel", "assistant", "verified_visitor", "started_at", "last_activity_at",
    "messages", "rated_up", "rated_down", "flagged", "folder", "tags",
]  # fmt: skip
MESSAGE_COLUMNS = [
    "created_at", "role", "status", "content", "model", "provider", "prompt_tokens",
    "completion_tokens", "cost_usd", "ttft_ms", "latency_ms", "rating", "rating_comment",
    "sources", "tool_calls", "error_code", "notice",
]  # fmt: skip


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell that spreadsheets show as text, never run as a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        value = "; ".join(str(item) for item in value)
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


# --- Rows ------------------------------------------------------------------------------------


def conversation_record(row: ConversationRow) -> dict[str, Any]:
    conversation = row.conversation
    return {
        "id": str(conversation.pk),
        "title": row.heading[:200],
        "channel": conversation.channel,
        "assistant": conversation.assistant.name if conversation.assistant else "",
        "verified_visitor": conversation.visitor_id,
        "started_at": _iso(conversation.created_at),
        "last_activity_at": _iso(conversation.last_message_at),
        "messages": row.messages,
        "rated_up": row.rated_up,
        "rated_down": row.rated_down,
        "flagged": conversation.flagged,
        "folder": conversation.folder.name if conversation.folder else "",
        "tags": [tag.name for tag in row.tags],
    }


def _summaries(items: Any, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    if not isinstance(items, list):
        return []
    return [
        {key: item.get(key) for key in keys if key in item}
        for item in items
        if isinstance(item, dict)
    ]


def message_record(message: Message) -> dict[str, Any]:
    return {
        "created_at": _iso(message.created_at),
        "role": message.role,
        "status": message.status,
        "content": message.content[:CONTENT_MAX_CHARS],
        "model": message.model,
        "provider": message.provider,
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
        "cost_usd": str(message.cost_usd),
        "ttft_ms": message.ttft_ms,
        "latency_ms": message.latency_ms,
        "rating": message.rating,
        "rating_comment": message.rating_comment[:2000],
        "sources": _summaries(message.sources, ("title", "url", "page")),
        "tool_calls": _summaries(message.tool_calls, ("name", "ok", "summary", "error_code")),
        "error_code": message.error_code,
        "notice": message.notice,
    }


def _message_csv_values(record: dict[str, Any]) -> list[Any]:
    values = dict(record)
    values["sources"] = [
        " ".join(str(part) for part in (s.get("title"), s.get("url")) if part)
        for s in record["sources"]
    ]
    values["tool_calls"] = [str(call.get("name", "")) for call in record["tool_calls"]]
    return [csv_cell(values[column]) for column in MESSAGE_COLUMNS]


def list_batches(tenant: Tenant, conversations: QuerySet[Conversation]) -> Iterator[list[dict]]:
    """The filtered list in batches, newest activity first (keyset on the list's order)."""
    last: tuple[Any, Any] | None = None
    while True:
        with tenant_context(tenant):
            page = conversations
            if last is not None:
                page = page.filter(last_message_at__lte=last[0]).exclude(
                    last_message_at=last[0], id__gte=last[1]
                )
            keys = list(page.values_list("last_message_at", "pk")[:BATCH_SIZE])
            if not keys:
                return
            records = [conversation_record(row) for row in conversation_rows([k[1] for k in keys])]
        yield records
        if len(keys) < BATCH_SIZE:
            return
        last = keys[-1]


def message_batches(tenant: Tenant, conversation: Conversation) -> Iterator[list[dict]]:
    last: tuple[Any, Any] | None = None
    while True:
        with tenant_context(tenant):
            messages = Message.objects.filter(conversation=conversation).defer("search")
            if last is not None:
                messages = messages.filter(created_at__gte=last[0]).exclude(
                    created_at=last[0], id__lte=last[1]
                )
            batch = list(messages.order_by("created_at", "id")[:MESSAGE_BATCH_SIZE])
        if not batch:
            return
        yield [message_record(message) for message in batch]
        if len(batch) < MESSAGE_BATCH_SIZE:
            return
        last = (batch[-1].created_at, batch[-1].pk)


# --- Formats ---------------------------------------------------------------------------------


def csv_chunks(header: list[str], batches: Iterator[list[list[Any]]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for rows in batches:
        writer.writerows(rows)
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    if buffer.getvalue():
        yield buffer.getvalue().encode()


def json_array_chunks(batches: Iterator[list[dict]]) -> Iterator[bytes]:
    yield b"["
    first = True
    for records in batches:
        parts = [
            json.dumps(record, default=_json_default, ensure_ascii=False) for record in records
        ]
        if parts:
            yield (("\n" if first else ",\n") + ",\n".join(parts)).encode()
            first = False
    yield b"\n]\n"


def list_export_chunks(
    tenant: Tenant, conversations: QuerySet[Conversation], fmt: str
) -> Iterator[bytes]:
    batches = list_batches(tenant, conversations)
    if fmt == "csv":
        rows = ([[csv_cell(r[c]) for c in LIST_COLUMNS] for r in batch] for batch in batches)
        return csv_chunks(LIST_COLUMNS, rows)
    return json_array_chunks(batches)


def conversation_export_chunks(
    tenant: Tenant, conversation: Conversation, fmt: str
) -> Iterator[bytes]:
    batches = message_batches(tenant, conversation)
    if fmt == "csv":
        rows = ([_message_csv_values(r) for r in batch] for batch in batches)
        return csv_chunks(MESSAGE_COLUMNS, rows)
    with tenant_context(tenant):
        head = conversation_rows([conversation.pk])
    summary = conversation_record(head[0]) if head else {"id": str(conversation.pk)}

    def chunks() -> Iterator[bytes]:
        yield b'{"conversation": '
        yield json.dumps(summary, ensure_ascii=False).encode()
        yield b', "messages": '
        yield from json_array_chunks(batches)
        yield b"}\n"

    return chunks()


# --- Response --------------------------------------------------------------------------------


async def _pulled(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    pull: Callable[..., Any] = sync_to_async(next, thread_sensitive=True)
    while True:
        chunk = await pull(chunks, None)
        if chunk is None:
            return
        yield chunk


def streamed_download(
    request: HttpRequest, chunks: Iterator[bytes], *, fmt: str, filename: str
) -> StreamingHttpResponse:
    content: Iterator[bytes] | AsyncIterator[bytes] = (
        _pulled(chunks) if isinstance(request, ASGIRequest) else chunks
    )
    response = StreamingHttpResponse(content, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
