"""Writing to the audit log. Rows are never updated or deleted (a trigger enforces it)."""

from __future__ import annotations

from typing import Any

from apps.audit.models import AuditEvent


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
        data=data or {},
    )
    event.full_clean()
    event.save()
    return event
