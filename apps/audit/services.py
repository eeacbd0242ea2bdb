"""Writing to the audit log. Rows are never updated or deleted (a trigger enforces it)."""

from __future__ import annotations

from typing import Any

from apps.audit.models import AuditEvent
from apps.core.text import storable_json


def audit_record(
    *,
    action: str,
    actor: Any = None,
    object_type: str = "",
    object_id: str = "",
    ip_address: str | None = None,
    user_agent: str = "",
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the current tenant's audit log."""
    event = AuditEvent(
        actor_id=getattr(actor, "pk", None),
        actor_label=str(getattr(actor, "email", "") or ""),
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        ip_address=ip_address,
        user_agent=user_agent[:300],
        # What a tool was called with comes from a model or a form: keep the row storable,
        # or the event would be lost (a NUL or NaN in the arguments failed the insert).
        data=storable_json(data or {}),
    )
    event.full_clean()
    event.save()
    return event
