"""Backoffice pages of a tenant (the tenant comes from the host name): the dashboard.

The team, invitation and API key pages live in ``team_views``, ``invitation_views`` and
``api_key_views``.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.views.generic import TemplateView

from apps.tenants.dashboard import WINDOW_DAYS, dashboard_figures
from apps.tenants.permissions import TenantMemberView
from apps.widgets.selectors import dashboard_widget_summary


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def base_url(request: HttpRequest) -> str:
    """Scheme and host this page was served on (the tenant's backoffice host)."""
    return f"{request.scheme}://{request.get_host()}"


class DashboardView(TenantMemberView, TemplateView):
    template_name = "backoffice/dashboard.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["widgets"] = list(dashboard_widget_summary())
        context["membership"] = self.membership
        context["figures"] = dashboard_figures()
        context["window_days"] = WINDOW_DAYS
        return context
