"""Template context for backoffice pages: the current tenant and the user's other tenants."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.http import HttpRequest

from apps.tenants.selectors import memberships_of, tenant_primary_host


def tenant(request: HttpRequest) -> dict[str, Any]:
    current = getattr(connection, "tenant", None)
    if current is None or current.schema_name == "public":
        return {"current_tenant": None}
    context: dict[str, Any] = {"current_tenant": current}
    if request.user.is_authenticated:
        switch: list[dict[str, Any]] = []
        for membership in memberships_of(user=request.user):
            host = tenant_primary_host(membership.tenant)
            if host:
                switch.append({"tenant": membership.tenant, "host": host, "role": membership.role})
        context["tenant_switch"] = switch
        context["current_role"] = next(
            (s["role"] for s in switch if s["tenant"].pk == current.pk), None
        )
    return context
