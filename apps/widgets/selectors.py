"""Reads on widgets and on what a widget session may see."""

from __future__ import annotations

import re
from typing import Any, TypeGuard

from django.db.models import QuerySet
from django_tenants.utils import tenant_context

from apps.conversations.models import Conversation, Message, MessageStatus, Role
from apps.core.text import is_clean
from apps.tenants.models import Tenant, WidgetRoute
from apps.widgets.models import Widget
from apps.widgets.streams import ReplyState

WELCOME_MESSAGES = 100


def dashboard_widget_summary() -> QuerySet[Widget]:
    return Widget.objects.order_by("name").only("id", "name", "embed_key", "allowed_origins")


def widget_by_embed_key(embed_key: str) -> tuple[Tenant, Widget] | None:
    """Find the tenant from the public route, then the widget inside that tenant's schema."""
    if not embed_key or len(embed_key) > 64:
        return None
    route = WidgetRoute.objects.select_related("tenant").filter(embed_key=embed_key).first()
    if route is None or not route.tenant.is_active:
        return None
    with tenant_context(route.tenant):
        widget = Widget.objects.filter(embed_key=embed_key, is_enabled=True).first()
    return (route.tenant, widget) if widget else None


def widget_public_config(widget: Widget) -> dict[str, Any]:
    """Display settings only: the one thing a page on an allowed origin may read."""
    return {
        "title": widget.title,
        "greeting": widget.greeting,
        "starter_questions": list(widget.starter_questions)[:4],
        "colors": {
            "primary": widget.primary_color,
            "text_on_primary": widget.text_on_primary_color,
        },
        "logo_url": widget.logo_url or None,
        "position": widget.position,
        "launcher_icon": widget.launcher_icon,
        "dark_mode": widget.dark_mode,
        "language": widget.language,
        "show_sources": widget.show_sources,
    }


SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def is_session_id(value: Any) -> TypeGuard[str]:
    """Whether ``value`` can be a session id: the UUIDs the welcome hands out, or any token of
    letters, digits, '-' and '_' up to 64 characters (nothing else is stored or looked up)."""
    return isinstance(value, str) and SESSION_ID.fullmatch(value) is not None


def is_client_id(value: Any) -> TypeGuard[str]:
    """Whether ``value`` can be a message's client_id: a storable string of 1 to 64 characters
    (the page makes them up, so anything else is refused rather than stored)."""
    return isinstance(value, str) and 0 < len(value) <= 64 and is_clean(value)


def session_conversation(
    *, widget: Widget, session_id: str, visitor_id: str | None
) -> Conversation | None:
    """The conversation a session id opens, if it belongs to this widget and this visitor.

    A conversation of a verified visitor is never opened by a page without that identity.
    """
    if not is_session_id(session_id):
        return None
    conversation = Conversation.objects.filter(widget=widget, visitor_session=session_id).first()
    if conversation is None:
        return None
    if conversation.visitor_id and conversation.visitor_id != (visitor_id or ""):
        return None
    return conversation


def welcome_messages(conversation: Conversation | None) -> list[dict[str, Any]]:
    if conversation is None:
        return []
    rows = list(
        conversation.messages.order_by("-created_at", "-id")[:WELCOME_MESSAGES].values(
            "id",
            "role",
            "content",
            "status",
            "sources",
            "rating",
            "seq",
            "tool_calls",
            "notice",
            "client_id",
        )
    )
    rows.reverse()
    return [
        {
            "id": str(row["id"]),
            "role": row["role"],
            "content": row["content"],
            "status": row["status"] if row["role"] == Role.ASSISTANT else MessageStatus.COMPLETE,
            "sources": row["sources"] or [],
            "feedback": row["rating"] or None,
            "seq": row["seq"] if row["role"] == Role.ASSISTANT else 0,
            "tools": [
                call.get("summary") for call in row["tool_calls"] or [] if call.get("summary")
            ],
            "notice": row["notice"] or None,
            "client_id": row["client_id"] or None,
        }
        for row in rows
    ]


def session_reply_state(
    *, widget: Widget, session_id: str, visitor_id: str | None, message_id: str
) -> ReplyState | None:
    """The state of an answer of this session (None for unknown or another session's)."""
    from apps.conversations.services import stream_is_alive

    conversation = session_conversation(widget=widget, session_id=session_id, visitor_id=visitor_id)
    if conversation is None:
        return None
    try:
        message = (
            Message.objects.filter(conversation=conversation, pk=message_id, role=Role.ASSISTANT)
            .only("status", "seq", "updated_at")
            .first()
        )
    except Exception:
        return None
    if message is None:
        return None
    return ReplyState(
        status=message.status,
        seq=message.seq,
        alive=message.status == "streaming" and stream_is_alive(message.updated_at),
    )


def session_welcome(
    *, widget: Widget, session_id: str | None, visitor_id: str | None
) -> dict[str, Any]:
    """The welcome frame: the session's conversation, or a fresh session id (nothing stored
    until the first message)."""
    import uuid

    conversation = session_conversation(
        widget=widget, session_id=session_id or "", visitor_id=visitor_id
    )
    return {
        "type": "aichat.welcome",
        "session_id": session_id if conversation is not None else str(uuid.uuid4()),
        "identity_verified": visitor_id is not None,
        "messages": welcome_messages(conversation),
    }
