"""Reads on the audit log (current tenant schema)."""

from __future__ import annotations

from datetime import date

from django.db.models import CharField, F, Func, QuerySet, Value

from apps.audit.models import AuditEvent


def audit_events(
    *, action: str = "", actor: str = "", since: date | None = None
) -> QuerySet[AuditEvent]:
    """Newest first; ``action`` matches a prefix ("widget." finds every widget event)."""
    events = AuditEvent.objects.all()
    if action:
        events = events.filter(action__startswith=action)
    if actor:
        events = events.filter(actor_label__icontains=actor)
    if since:
        events = events.filter(created_at__date__gte=since)
    return events.order_by("-created_at", "-id")


def audit_action_families() -> list[str]:
    """The distinct first parts of actions ("widget", "tool", ...), for the filter."""
    families = (
        AuditEvent.objects.order_by()  # no default ordering inside DISTINCT
        .annotate(
            family=Func(
                F("action"), Value("."), Value(1), function="split_part", output_field=CharField()
            )
        )
        .values_list("family", flat=True)
        .distinct()
    )
    return sorted(families)
