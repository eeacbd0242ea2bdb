"""Writes on widgets and widget sessions."""

from __future__ import annotations

import secrets
from typing import Any

from django.db import connection, transaction

from apps.conversations.models import Channel, Message, Role
from apps.conversations.services import conversation_create, message_rate
from apps.core.errors import InvalidInput, NotFound
from apps.core.keys import random_token
from apps.llm.models import Assistant
from apps.tenants.models import WidgetRoute
from apps.widgets.models import Widget
from apps.widgets.security import check_origin_rule
from apps.widgets.selectors import session_conversation

EMBED_KEY_PREFIX = "ek_"
DISPLAY_FIELDS = {
    "name", "title", "greeting", "starter_questions", "primary_color", "text_on_primary_color",
    "logo_url", "position", "launcher_icon", "dark_mode", "language", "show_sources", "is_enabled",
    "allow_wildcard_subdomains",
}  # fmt: skip


def embed_key_generate() -> str:
    return EMBED_KEY_PREFIX + random_token(24)


def check_origins(origins: list[str]) -> list[str]:
    cleaned = []
    for origin in origins:
        if not origin.strip():
            continue
        try:
            cleaned.append(check_origin_rule(origin))
        except ValueError as exc:
            raise InvalidInput(str(exc), code="invalid_origin") from exc
    return list(dict.fromkeys(cleaned))


@transaction.atomic
def widget_create(*, name: str, allowed_origins: list[str] | None = None, **display: Any) -> Widget:
    """Create a widget in the current tenant and register its embed key publicly."""
    tenant = connection.tenant  # type: ignore[attr-defined]  # django-tenants backend
    widget = Widget(
        name=name,
        embed_key=embed_key_generate(),
        allowed_origins=check_origins(allowed_origins or []),
        identity_secret=secrets.token_urlsafe(32),
        **{k: v for k, v in display.items() if k in DISPLAY_FIELDS},
    )
    widget.full_clean()
    widget.save()
    route = WidgetRoute(embed_key=widget.embed_key, tenant_id=tenant.pk)
    route.full_clean()
    route.save()
    return widget


@transaction.atomic
def widget_update(
    *,
    widget: Widget,
    allowed_origins: list[str] | None = None,
    assistant: Assistant | str | None = "unchanged",
    **display: Any,
) -> Widget:
    unknown = set(display) - DISPLAY_FIELDS
    if unknown:
        raise InvalidInput(f"Unknown widget setting(s): {', '.join(sorted(unknown))}.")
    for field, value in display.items():
        setattr(widget, field, value)
    if allowed_origins is not None:
        widget.allowed_origins = check_origins(allowed_origins)
    if assistant != "unchanged":
        widget.assistant = assistant  # type: ignore[assignment]
    widget.full_clean()
    widget.save()
    return widget


def widget_secret_rotate(*, widget: Widget) -> Widget:
    widget.identity_secret = secrets.token_urlsafe(32)
    widget.save(update_fields=["identity_secret", "updated_at"])
    return widget


def session_conversation_ensure(*, widget: Widget, session_id: str, visitor_id: str | None) -> Any:
    """The session's conversation id, created on the first message of a session."""
    conversation = session_conversation(widget=widget, session_id=session_id, visitor_id=visitor_id)
    if conversation is not None:
        return conversation.pk
    assistant = widget.assistant or Assistant.objects.filter(is_default=True).first()
    return conversation_create(
        channel=Channel.WIDGET,
        assistant=assistant,
        widget_id=widget.pk,
        visitor_session=session_id,
        visitor_id=visitor_id or "",
    ).pk


def session_feedback(
    *,
    widget: Widget,
    session_id: str,
    visitor_id: str | None,
    message_id: str,
    rating: str,
    comment: str,
) -> None:
    conversation = session_conversation(widget=widget, session_id=session_id, visitor_id=visitor_id)
    message = None
    if conversation is not None:
        try:
            message = Message.objects.filter(
                conversation=conversation, pk=message_id, role=Role.ASSISTANT
            ).first()
        except Exception:
            message = None
    if message is None:
        raise NotFound("Unknown message.", code="not_found")
    message_rate(message=message, rating=rating, comment=comment)
