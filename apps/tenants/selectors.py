"""Reads on tenants and memberships."""

from __future__ import annotations

import hashlib

from django.db.models import Case, F, IntegerField, QuerySet, Value, When
from django.utils import timezone

from apps.accounts.models import ApiKey, User
from apps.tenants.models import Invitation, Membership, Role, Tenant

ROLES_BY_RANK = (Role.OWNER, Role.ADMIN, Role.AGENT, Role.VIEWER)


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


# --- Team -------------------------------------------------------------------------------------------


def team_members(*, tenant: Tenant) -> QuerySet[Membership]:
    """Owners first, then admins, agents and viewers; alphabetical by email within a role."""
    rank = Case(
        *(When(role=role, then=Value(i)) for i, role in enumerate(ROLES_BY_RANK)),
        default=Value(len(ROLES_BY_RANK)),
        output_field=IntegerField(),
    )
    return (
        Membership.objects.filter(tenant=tenant)
        .select_related("user")
        .annotate(role_rank=rank)
        .order_by("role_rank", "user__email")
    )


def team_owner_count(*, tenant: Tenant) -> int:
    return Membership.objects.filter(tenant=tenant, role=Role.OWNER).count()


def invitations_pending(*, tenant: Tenant) -> QuerySet[Invitation]:
    """Invitations not yet accepted or revoked, newest first (expired ones included: they can
    be resent)."""
    return (
        Invitation.objects.filter(tenant=tenant, accepted_at__isnull=True, revoked_at__isnull=True)
        .select_related("invited_by")
        .order_by("-created_at", "-id")
    )


def invitation_token_hash(token: str) -> str:
    """Only this SHA-256 of an invitation token is stored; the token itself travels by email."""
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_for_token(*, tenant: Tenant, token: str) -> Invitation | None:
    """The pending, unexpired invitation of ``tenant`` behind ``token``; None for every other
    case (unknown, another tenant's, expired, revoked, used), all alike."""
    if not token or len(token) > 128:
        return None
    return (
        Invitation.objects.select_related("tenant", "invited_by")
        .filter(
            tenant=tenant,
            tenant__is_active=True,
            token_hash=invitation_token_hash(token),
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .first()
    )


def account_exists(*, email: str) -> bool:
    return User.objects.filter(email__iexact=email.strip()).exists()


def tenant_api_keys(*, tenant: Tenant) -> QuerySet[ApiKey]:
    """Every key of ``tenant`` (active first, then revoked), newest first within each."""
    return (
        ApiKey.objects.filter(tenant=tenant)
        .select_related("created_by")
        .order_by(F("revoked_at").desc(nulls_first=True), "-created_at", "-id")
    )
