"""Reads on tenants and memberships."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.accounts.models import User
from apps.tenants.models import Membership, Tenant


def membership_for(*, user: User, tenant: Tenant) -> Membership | None:
    if not user.is_authenticated:
        return None
    return (
        Membership.objects.select_related("tenant")
        .filter(user=user, tenant=tenant, tenant__is_active=True)
        .first()
    )


def memberships_of(*, user: User) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(user=user, tenant__is_active=True)
        .select_related("tenant")
        .prefetch_related("tenant__domains")
        .order_by("tenant__name")
    )


def tenant_primary_host(tenant: Tenant) -> str | None:
    domains = list(tenant.domains.all())
    primary = next((d for d in domains if d.is_primary), domains[0] if domains else None)
    return primary.domain if primary else None
