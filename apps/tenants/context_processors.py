"""Template context for backoffice pages: the current tenant and the user's other tenants
(with the links that switch to them without signing in again)."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.http import HttpRequest
from django.urls import reverse

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
                # Another tenant's host has its own session: the switch view hands the
                # person over with a one-time token instead of a second sign-in.
                url = (
                    "/"
                    if membership.tenant.pk == current.pk
                    else reverse("accounts:switch", args=[membership.tenant.slug])
                )
                switch.append(
                    {"tenant": membership.tenant, "host": host, "role": membership.role, "url": url}
                )
        context["tenant_switch"] = switch
        context["current_role"] = next(
            (s["role"] for s in switch if s["tenant"].pk == current.pk), None
        )
    return context
