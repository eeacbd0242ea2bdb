"""Accepting an invitation: /invite/<token>/ on the tenant's host, no sign-in needed to open it.

What the page shows depends on who opens it:
- the invited person, signed in: a button that joins the workspace;
- someone else, signed in: who the invitation is for, and a way to sign out;
- nobody signed in, an account exists for the address: a link to sign in and come back;
- nobody signed in, no account: a form that creates the account, joins and signs in.
Unknown, expired, revoked and used links, and links of another tenant, all get one page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render, resolve_url
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache

from apps.core.errors import AppError, NotFound
from apps.tenants.forms import InvitationSignupForm, add_service_error
from apps.tenants.models import Invitation, Role, Tenant
from apps.tenants.selectors import account_exists, invitation_for_token
from apps.tenants.services import invitation_accept
from apps.tenants.views import client_ip

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


@method_decorator(never_cache, name="dispatch")
class InvitationAcceptView(View):
    tenant: Tenant

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        tenant = getattr(connection, "tenant", None)
        if not isinstance(tenant, Tenant):
            return render(request, "errors/404.html", status=404)
        self.tenant = tenant
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        invitation = invitation_for_token(tenant=self.tenant, token=token)
        if invitation is None:
            return invalid(request)
        form = None
        if not request.user.is_authenticated and not account_exists(email=invitation.email):
            form = InvitationSignupForm(email=invitation.email)
        return self.page(invitation, form)

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        invitation = invitation_for_token(tenant=self.tenant, token=token)
        if invitation is None:
            return invalid(request)
        if request.user.is_authenticated:
            try:
                invitation_accept(
                    tenant=self.tenant,
                    token=token,
                    user=request.user,
                    ip_address=client_ip(request),
                )
            except NotFound:
                return invalid(request)
            except AppError as exc:
                return self.page(invitation, None, error=exc.message, status=400)
            return joined(request, self.tenant)
        if account_exists(email=invitation.email):
            return redirect(self.login_url())
        form = InvitationSignupForm(request.POST, email=invitation.email)
        if form.is_valid():
            try:
                accepted = invitation_accept(
                    tenant=self.tenant,
                    token=token,
                    full_name=form.cleaned_data["full_name"],
                    password=form.cleaned_data["password1"],
                    ip_address=client_ip(request),
                )
            except NotFound:
                return invalid(request)
            except AppError as exc:
                if exc.code == "account_exists":
                    return redirect(self.login_url())
                add_service_error(form, exc)
            else:
                login(request, accepted.user, backend=MODEL_BACKEND)
                return joined(request, self.tenant)
        return self.page(invitation, form, status=400)

    def login_url(self) -> str:
        return f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': self.request.path})}"

    def page(
        self,
        invitation: Invitation,
        form: InvitationSignupForm | None,
        error: str = "",
        status: int = 200,
    ) -> HttpResponse:
        user = self.request.user
        if user.is_authenticated:
            state = "accept" if user.email.lower() == invitation.email else "mismatch"
        else:
            state = "signup" if form is not None else "signin"
        context = {
            "invitation": invitation,
            "tenant": self.tenant,
            "role": Role(invitation.role).label,
            "inviter": invitation.invited_by.display_name if invitation.invited_by else "",
            "state": state,
            "form": form,
            "error": error,
            "login_url": self.login_url(),
        }
        return render(self.request, "team/invitation.html", context, status=status)


def invalid(request: HttpRequest) -> HttpResponse:
    return render(request, "team/invitation_invalid.html", status=404)


def joined(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    messages.success(request, f"Welcome to {tenant.name}!")
    return redirect("backoffice:dashboard")
