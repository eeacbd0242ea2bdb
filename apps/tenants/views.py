"""Backoffice pages of a tenant (the tenant comes from the host name)."""

from __future__ import annotations

from typing import Any

from django.views.generic import TemplateView

from apps.tenants.permissions import TenantMemberView
from apps.widgets.selectors import dashboard_widget_summary


class DashboardView(TenantMemberView, TemplateView):
    template_name = "backoffice/dashboard.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["widgets"] = dashboard_widget_summary()
        context["membership"] = self.membership
        return context
