"""Reads on widgets (current tenant schema)."""

from __future__ import annotations

from django.db.models import QuerySet
from django_tenants.utils import tenant_context

from apps.tenants.models import Tenant, WidgetRoute
from apps.widgets.models import Widget


def dashboard_widget_summary() -> QuerySet[Widget]:
    return Widget.objects.order_by("name").only("id", "name", "embed_key", "allowed_origins")


def widget_by_embed_key(embed_key: str) -> tuple[Tenant, Widget] | None:
    """Find the tenant from the public route, then the widget inside that tenant's schema."""
    route = WidgetRoute.objects.select_related("tenant").filter(embed_key=embed_key).first()
    if route is None or not route.tenant.is_active:
        return None
    with tenant_context(route.tenant):
        widget = Widget.objects.filter(embed_key=embed_key).first()
    return (route.tenant, widget) if widget else None
