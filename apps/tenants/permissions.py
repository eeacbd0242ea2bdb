"""Role checks for tenant pages: the tenant and the membership are resolved once, here."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.mixins import LoginRequiredMixin
from django.db import connection
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from apps.accounts.selectors import user_has_totp
from apps.core.errors import NotFound
from apps.core.views import not_found
from apps.tenants.models import Role
from apps.tenants.selectors import membership_for

ROLE_RANK = {Role.VIEWER: 0, Role.AGENT: 1, Role.ADMIN: 2, Role.OWNER: 3}


def role_at_least(role: str, minimum: str) -> bool:
    return ROLE_RANK[Role(role)] >= ROLE_RANK[Role(minimum)]


class TenantMemberView(LoginRequiredMixin):
    """Base for backoffice views: requires a membership with at least ``minimum_role``.

    Non-members and members with too small a role get the same 404 page, so a page never
    tells an outsider whether something exists; a ``NotFound`` raised by the view (an unknown
    or other tenant's object) answers the same page.

    When the tenant requires two-factor authentication, a member without an authenticator
    app is sent to set one up (HTMX requests included) and reaches nothing else here.
    """

    minimum_role: str = Role.VIEWER
    # Roles below the minimum are refused; so are these (agents work on conversations only,
    # so configuration pages that viewers may read still refuse agents).
    excluded_roles: frozenset[str] = frozenset()

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        tenant = getattr(connection, "tenant", None)
        membership = membership_for(user=request.user, tenant=tenant) if tenant else None
        if (
            membership is None
            or not role_at_least(membership.role, self.minimum_role)
            or membership.role in self.excluded_roles
        ):
            return not_found(request)
        if membership.tenant.require_mfa and not user_has_totp(request.user):
            return mfa_setup_required(request)
        self.membership = membership
        self.tenant = membership.tenant
        try:
            return super().dispatch(request, *args, **kwargs)
        except NotFound:
            return not_found(request)


def mfa_setup_required(request: HttpRequest) -> HttpResponseBase:
    """Send the person to authenticator setup (the page explains the tenant's requirement)."""
    url = reverse("mfa_activate_totp")
    if request.headers.get("HX-Request") == "true":
        return HttpResponseClientRedirect(url)
    return redirect(url)
