"""The API keys page (/api-keys/): the tenant's keys, creating one (its secret shown exactly
once) and revoking one. Admins and owners only; everybody else gets the same 404 page.

Keys live in the public schema with their tenant: every lookup here is filtered by the
current tenant, so another tenant's key is never listed and "revoking" it is simply not found.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache

from apps.accounts.services import ApiKeyCreated
from apps.core.errors import AppError
from apps.core.pagination import paginate
from apps.tenants.forms import ApiKeyForm, add_service_error
from apps.tenants.models import Role
from apps.tenants.permissions import TenantMemberView
from apps.tenants.selectors import tenant_api_keys
from apps.tenants.services import tenant_api_key_create, tenant_api_key_revoke
from apps.tenants.views import base_url, client_ip


@method_decorator(never_cache, name="dispatch")
class ApiKeyAdminView(TenantMemberView, View):
    minimum_role = Role.ADMIN

    def keys_page(
        self,
        form: ApiKeyForm | None = None,
        created: ApiKeyCreated | None = None,
        status: int = 200,
    ) -> HttpResponse:
        context = {
            "keys": paginate(self.request, tenant_api_keys(tenant=self.tenant)),
            "form": form or ApiKeyForm(),
            "created": created,
            "base_url": base_url(self.request),
        }
        return render(self.request, "api_keys/list.html", context, status=status)


class ApiKeysView(ApiKeyAdminView):
    def get(self, request: HttpRequest) -> HttpResponse:
        return self.keys_page()

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ApiKeyForm(request.POST)
        if form.is_valid():
            try:
                created = tenant_api_key_create(
                    tenant=self.tenant,
                    name=form.cleaned_data["name"],
                    scopes=form.cleaned_data["scopes"],
                    actor=request.user,  # type: ignore[arg-type]
                    ip_address=client_ip(request),
                )
            except AppError as exc:
                add_service_error(form, exc)
            else:
                # Rendered, not redirected: the secret exists only in this response.
                return self.keys_page(created=created)
        return self.keys_page(form=form, status=400)


class ApiKeyRevokeView(ApiKeyAdminView):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        api_key = tenant_api_key_revoke(
            tenant=self.tenant,
            api_key_id=pk,
            actor=request.user,  # type: ignore[arg-type]
            ip_address=client_ip(request),
        )
        messages.success(request, f"The key {api_key.name} was revoked; it stops working at once.")
        return redirect("backoffice:api-keys")
