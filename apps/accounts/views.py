"""Pages of the signed-in person and of a tenant's security settings; tenant switching.

allauth serves sign-in, password and authenticator flows itself (templates/account/,
templates/mfa/); these views add what is specific to this product.
"""

from __future__ import annotations

import time
from typing import Any, cast

from allauth.account.internal.flows.login import record_authentication
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialAccount
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.mixins import LoginRequiredMixin
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.generic import TemplateView

from apps.accounts.forms import TenantSecurityForm
from apps.accounts.middleware import SIGNED_IN_AT
from apps.accounts.models import User
from apps.accounts.selectors import (
    session_mfa_verified,
    tenant_members_mfa,
    tenant_mfa_summary,
    tenants_requiring_mfa,
    user_has_totp,
)
from apps.accounts.services import (
    SWITCH_AUTH_METHOD,
    tenant_mfa_requirement_set,
    tenant_switch_token_issue,
    tenant_switch_token_redeem,
)
from apps.core.errors import AppError
from apps.core.pagination import paginate
from apps.tenants.models import Role, Tenant
from apps.tenants.permissions import TenantMemberView
from apps.tenants.selectors import membership_for, tenant_primary_host


def _current_tenant() -> Tenant | None:
    tenant = getattr(connection, "tenant", None)
    if tenant is None or tenant.schema_name == "public":
        return None
    return tenant


class SecurityView(LoginRequiredMixin, TemplateView):
    """The signed-in person's sign-in settings: password, email, authenticator app, codes.

    Reachable even when a tenant's two-factor requirement blocks its other pages: this is
    where a member sets the authenticator up. Inside the backoffice shell for members of the
    host's tenant, on its own card elsewhere (the platform host).
    """

    def get_template_names(self) -> list[str]:
        tenant = _current_tenant()
        if tenant is not None and membership_for(user=self.request.user, tenant=tenant):  # type: ignore[arg-type]
            return ["accounts/security.html"]
        return ["accounts/security_standalone.html"]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = cast(User, self.request.user)
        authenticators = {a.type: a for a in Authenticator.objects.filter(user_id=user.pk)}
        codes = authenticators.get(Authenticator.Type.RECOVERY_CODES)
        context.update(
            totp=authenticators.get(Authenticator.Type.TOTP),
            recovery_codes_left=len(codes.wrap().get_unused_codes()) if codes else None,
            email_addresses=EmailAddress.objects.filter(user_id=user.pk).order_by(
                "-primary", "email"
            ),
            social_accounts=SocialAccount.objects.filter(user_id=user.pk),
            has_password=user.has_usable_password(),
            directory_managed=bool(getattr(user, "directory_dn", "")),
            mfa_required_by=tenants_requiring_mfa(user=user),
        )
        return context


class TenantSecurityView(TenantMemberView, TemplateView):
    """Owners decide whether every member needs an authenticator app; audited."""

    template_name = "accounts/tenant_security.html"
    minimum_role = Role.OWNER

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        initial = {"require_mfa": self.tenant.require_mfa}
        context.setdefault("form", TenantSecurityForm(initial=initial))
        total, with_totp = tenant_mfa_summary(tenant=self.tenant)
        context.update(
            members=paginate(self.request, tenant_members_mfa(tenant=self.tenant)),
            members_total=total,
            members_without=total - with_totp,
            own_totp=user_has_totp(self.request.user),
        )
        return context

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = TenantSecurityForm(request.POST)
        if form.is_valid():
            require = form.cleaned_data["require_mfa"]
            try:
                tenant_mfa_requirement_set(
                    tenant=self.tenant,
                    require=require,
                    actor=request.user,  # type: ignore[arg-type]
                    ip_address=request.META.get("REMOTE_ADDR"),
                )
            except AppError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(
                    request,
                    "Two-factor authentication is now required for every member."
                    if require
                    else "Two-factor authentication is now optional.",
                )
                return redirect("accounts:tenant-security")
        return self.render_to_response(self.get_context_data(form=form), status=400)


def _host_base_url(request: HttpRequest, host: str) -> str:
    """``scheme://host[:port]`` for another tenant's host, keeping this request's scheme and
    the port the browser used (not the server's own port behind a proxy)."""
    current = request.get_host()
    port = current.rsplit(":", 1)[1] if ":" in current and not current.endswith("]") else ""
    return f"{request.scheme}://{host}{':' + port if port else ''}"


class TenantSwitchView(LoginRequiredMixin, View):
    """From this host to another tenant the person belongs to, without signing in again."""

    @method_decorator(never_cache)
    def get(self, request: HttpRequest, slug: str) -> HttpResponseBase:
        target = Tenant.objects.filter(slug=slug, is_active=True).first()
        host = tenant_primary_host(target) if target else None
        if target is None or host is None:
            return render(request, "errors/404.html", status=404)
        current = _current_tenant()
        if current is not None and current.pk == target.pk:
            return redirect("/")
        try:
            token = tenant_switch_token_issue(
                user=request.user,  # type: ignore[arg-type]
                target=target,
                mfa_verified=session_mfa_verified(request),
                from_tenant=current,
                signed_in_at=request.session.get(SIGNED_IN_AT),
                user_agent=request.headers.get("User-Agent", ""),
            )
        except AppError:
            return render(request, "errors/404.html", status=404)
        url = f"{_host_base_url(request, host)}{reverse('accounts:handoff')}?token={token}"
        return HttpResponseRedirect(url)


class TenantHandoffView(View):
    """Redeems a switch token on the target tenant's host and signs the person in here."""

    @method_decorator(never_cache)
    def get(self, request: HttpRequest) -> HttpResponseBase:
        tenant = _current_tenant()
        if tenant is None:
            return render(request, "errors/404.html", status=404)
        try:
            redeemed = tenant_switch_token_redeem(
                token=request.GET.get("token", "")[:2048],
                tenant=tenant,
                user_agent=request.headers.get("User-Agent", ""),
            )
        except AppError as exc:
            return render(
                request,
                "accounts/switch_failed.html",
                {"message": exc.message, "code": exc.code, "tenant": tenant},
                status=exc.http_status,
            )
        user = redeemed.user
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        record_authentication(
            request,
            user,
            SWITCH_AUTH_METHOD,
            tenant=redeemed.from_tenant_slug,
            mfa=redeemed.mfa_verified,
        )
        if redeemed.signed_in_at is not None:
            # The session's absolute lifetime runs from the original sign-in, not the switch.
            request.session[SIGNED_IN_AT] = min(time.time(), redeemed.signed_in_at)
        return redirect("backoffice:dashboard")


def security_redirect(request: HttpRequest) -> HttpResponse:
    """allauth's own two-factor overview is replaced by the Security page."""
    return redirect("accounts:security")
