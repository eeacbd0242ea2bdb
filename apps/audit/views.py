"""The audit log page: who did what, when, from where, on what. Read-only."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.views.generic import TemplateView

from apps.audit.selectors import audit_action_families, audit_events
from apps.core.pagination import paginate
from apps.tenants.models import Role
from apps.tenants.permissions import TenantMemberView


class AuditLogView(TenantMemberView, TemplateView):
    template_name = "audit/list.html"
    minimum_role = Role.ADMIN

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        params = self.request.GET
        try:
            since = date.fromisoformat(params.get("since", "")) if params.get("since") else None
        except ValueError:
            since = None
        action = params.get("action", "")[:64]
        actor = params.get("actor", "")[:254]
        context.update(
            events=paginate(self.request, audit_events(action=action, actor=actor, since=since)),
            families=audit_action_families(),
            filters={"action": action, "actor": actor, "since": since.isoformat() if since else ""},
        )
        return context
