"""Reads on people (multi-factor state) and API keys."""

from __future__ import annotations

from typing import Any

from allauth.account.internal.flows.login import get_authentication_records
from allauth.mfa.models import Authenticator
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest

from apps.accounts.models import ApiKey
from apps.accounts.services import API_KEY_PREFIX, SWITCH_AUTH_METHOD, api_key_secret_matches
from apps.tenants.models import Membership, Tenant


def api_key_resolve(plaintext: str) -> ApiKey | None:
    """The active key matching ``sk_<prefix>_<secret>``, or None (same answer for all misses)."""
    if not plaintext.startswith(API_KEY_PREFIX):
        return None
    prefix, _, secret = plaintext[len(API_KEY_PREFIX) :].partition("_")
    if not prefix or not secret:
        return None
    api_key = (
        ApiKey.objects.select_related("tenant")
        .filter(prefix=prefix, revoked_at__isnull=True, tenant__is_active=True)
        .first()
    )
    if api_key is None or not api_key_secret_matches(api_key, secret):
        return None
    return api_key


# --- Multi-factor authentication -----------------------------------------------------------


def user_has_totp(user: Any) -> bool:
    """Whether the person has an authenticator app (TOTP) set up."""
    if not getattr(user, "is_authenticated", False):
        return False
    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


def session_mfa_verified(request: HttpRequest) -> bool:
    """Whether this session's sign-in included a second factor.

    allauth records each authentication step in the session; a tenant switch carries the
    answer over from the session it came from.
    """
    records = get_authentication_records(request, request.user)
    return any(
        record.get("method") == "mfa"
        or (record.get("method") == SWITCH_AUTH_METHOD and record.get("mfa"))
        for record in records
    )


def tenants_requiring_mfa(*, user: Any) -> list[str]:
    """Names of the active tenants the person belongs to that require two-factor sign-in."""
    return list(
        Tenant.objects.filter(memberships__user=user, is_active=True, require_mfa=True)
        .order_by("name")
        .values_list("name", flat=True)
    )


def tenant_members_mfa(*, tenant: Tenant) -> QuerySet[Membership]:
    """The tenant's members with ``has_totp`` (whether each has an authenticator app)."""
    totp = Authenticator.objects.filter(user=OuterRef("user"), type=Authenticator.Type.TOTP)
    return (
        Membership.objects.filter(tenant=tenant)
        .select_related("user")
        .annotate(has_totp=Exists(totp))
        .order_by("has_totp", "user__email")
    )


def tenant_mfa_summary(*, tenant: Tenant) -> tuple[int, int]:
    """(members, members with an authenticator app) of the tenant."""
    members = Membership.objects.filter(tenant=tenant)
    with_totp = members.filter(
        user__in=Authenticator.objects.filter(type=Authenticator.Type.TOTP).values("user")
    )
    return members.count(), with_totp.count()
