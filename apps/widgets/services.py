"""Creating and changing widgets (tenant data) and their public key routes."""

from __future__ import annotations

import secrets

from django.db import connection, transaction

from apps.core.keys import random_token
from apps.tenants.models import WidgetRoute
from apps.widgets.models import Widget

EMBED_KEY_PREFIX = "ek_"


def embed_key_generate() -> str:
    return EMBED_KEY_PREFIX + random_token(24)


@transaction.atomic
def widget_create(*, name: str, allowed_origins: list[str] | None = None) -> Widget:
    """Create a widget in the current tenant and register its embed key publicly."""
    tenant = connection.tenant  # type: ignore[attr-defined]  # django-tenants backend
    widget = Widget(
        name=name,
        embed_key=embed_key_generate(),
        allowed_origins=allowed_origins or [],
        identity_secret=secrets.token_urlsafe(32),
    )
    widget.full_clean()
    widget.save()
    route = WidgetRoute(embed_key=widget.embed_key, tenant_id=tenant.pk)
    route.full_clean()
    route.save()
    return widget
