"""Rate limits of widget traffic, shared by the WebSocket and the HTTP fallback."""

from __future__ import annotations

from django.conf import settings

from apps.core.ratelimit import hit
from apps.tenants.models import Tenant
from apps.widgets.models import Widget


async def message_retry_after(
    *, tenant: Tenant, widget: Widget, session_id: str, ip: str
) -> float | None:
    """Seconds to wait before this visitor may send again (per session, IP and widget)."""
    schema = tenant.schema_name
    for bucket, (limit, window) in (
        (f"{schema}:session:{session_id}", settings.WIDGET_MESSAGES_PER_SESSION),
        (f"{schema}:ip:{ip}", settings.WIDGET_MESSAGES_PER_IP),
        (f"{schema}:widget:{widget.pk}", settings.WIDGET_MESSAGES_PER_WIDGET),
    ):
        retry_after = await hit(bucket, limit=limit, window=window)
        if retry_after:
            return retry_after
    return None
