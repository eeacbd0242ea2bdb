"""Fixtures for the backoffice conversation pages: clients per role on alpha's host, and a
helper that writes a conversation with its messages in a tenant's schema."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.conversations.models import Conversation, Message
from apps.tenants.models import Role, Tenant
from apps.tenants.services import membership_set
from tests.factories import UserFactory


@pytest.fixture
def client_as(tenant_a) -> Callable[..., Client]:
    """A client on alpha's host signed in as a new member with ``role`` (``.user`` set)."""

    def make(role: str = Role.AGENT, *, htmx: bool = False) -> Client:
        person = UserFactory()
        membership_set(tenant=tenant_a, user=person, role=role)
        headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        client = Client(HTTP_HOST="alpha.localhost", **headers)
        client.force_login(person)
        client.user = person  # type: ignore[attr-defined]
        return client

    return make


@pytest.fixture
def owner_client(seeded) -> Client:
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(seeded["alpha"].owner)
    return client


def write_conversation(
    tenant: Tenant,
    messages: list[tuple[str, str] | tuple[str, str, dict[str, Any]]],
    *,
    at: datetime | None = None,
    **fields: Any,
) -> Conversation:
    """A conversation in ``tenant`` whose messages (role, text[, other fields]) are a minute
    apart, ending at ``at`` (default now); ``last_message_at`` is set like the engine does."""
    end = at or timezone.now()
    start = end - timedelta(minutes=max(len(messages) - 1, 0))
    with tenant_context(tenant):
        fields.setdefault("channel", "widget")
        conversation = Conversation.objects.create(**fields)
        for i, entry in enumerate(messages):
            role, text = entry[0], entry[1]
            extra: dict[str, Any] = entry[2] if len(entry) > 2 else {}  # type: ignore[misc]
            message = Message.objects.create(
                conversation=conversation, role=role, content=text, **extra
            )
            Message.objects.filter(pk=message.pk).update(created_at=start + timedelta(minutes=i))
        Conversation.objects.filter(pk=conversation.pk).update(
            created_at=start, last_message_at=end if messages else None
        )
        conversation.refresh_from_db()
    return conversation


@pytest.fixture
def conversation_in(db) -> Callable[..., Conversation]:
    return write_conversation
