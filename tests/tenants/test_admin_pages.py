"""The Django admin on the platform host: every registered model's pages open for operators.

Tenant-only models are not in the admin (their tables live in tenant schemas, and the public
host has none of them), so no page can crash on a missing table.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from apps.accounts.models import User

PUBLIC_URLS = "config.urls_public"


def admin_url(name: str, *args: object) -> str:
    return reverse(f"admin:{name}", args=args, urlconf=PUBLIC_URLS)


@pytest.fixture
def operator_client(db) -> Client:
    operator = User.objects.create_superuser(email="ops@platform.test", password="x" * 20)
    client = Client(HTTP_HOST="localhost")
    client.force_login(operator)
    client.operator = operator  # type: ignore[attr-defined]
    return client


def test_every_admin_page_opens(operator_client, seeded, rf):
    assert operator_client.get(admin_url("index")).status_code == 200
    request = rf.get("/admin/")
    request.user = operator_client.operator
    failures = []
    for model, model_admin in admin.site._registry.items():
        prefix = f"{model._meta.app_label}_{model._meta.model_name}"
        pages = [admin_url(f"{prefix}_changelist")]
        if model_admin.has_add_permission(request):
            pages.append(admin_url(f"{prefix}_add"))
        first = model._default_manager.first()
        if first is not None:
            pages.append(admin_url(f"{prefix}_change", first.pk))
        for url in pages:
            status = operator_client.get(url).status_code
            if status != 200:
                failures.append(f"{url}: {status}")
    assert not failures, failures


def test_no_tenant_only_model_is_in_the_admin(settings):
    tenant_only = {
        app.split(".")[-1] for app in settings.TENANT_APPS if app not in settings.SHARED_APPS
    }
    registered = {model._meta.app_label for model in admin.site._registry}
    assert not (registered & tenant_only), registered & tenant_only
    assert apps.get_model("tenants", "Invitation") in admin.site._registry


def test_invitation_tokens_never_show_in_the_admin(operator_client, seeded, tenant_a):
    from apps.tenants.services import invitation_create

    invitation = invitation_create(
        tenant=tenant_a,
        email="someone@example.com",
        role="agent",
        actor=seeded["alpha"].owner,
        base_url="http://alpha.localhost",
    ).invitation
    page = operator_client.get(
        admin_url("tenants_invitation_change", invitation.pk)
    ).content.decode()
    assert "someone@example.com" in page
    assert invitation.token_hash not in page
