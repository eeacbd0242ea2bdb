"""Writes on people (sign-in addresses, directory sync, tenant switching) and API keys."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from allauth.account.models import EmailAddress
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.crypto import constant_time_compare
from django_tenants.utils import schema_context, tenant_context

from apps.accounts.directory import RoleGroup, roles_from_groups
from apps.accounts.models import ApiKey, User
from apps.audit.services import audit_record
from apps.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from apps.core.keys import random_token
from apps.tenants.models import Membership, Role, Tenant

logger = logging.getLogger(__name__)

API_KEY_PREFIX = "sk_"
API_KEY_SCOPES = ("chat", "read", "write", "admin")


@dataclass(frozen=True)
class UserEnsured:
    user: User
    created: bool
    generated_password: str | None


def check_email(email: str) -> str:
    """The address normalised (trimmed, lower case), or a coded error if it is not one."""
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise InvalidInput(
            f"'{email}' is not a valid email address.", code="invalid_email"
        ) from exc
    return email


def user_ensure(*, email: str, password: str | None = None) -> UserEnsured:
    """Return the person with this email, creating them (with a password) when new.

    An existing person's password is never changed here.
    """
    email = check_email(email)
    existing = User.objects.filter(email=email).first()
    if existing is not None:
        return UserEnsured(existing, created=False, generated_password=None)
    generated = None
    if not password:
        generated = password = secrets.token_urlsafe(12)
    user = User(email=email)
    user.set_password(password)
    user.full_clean()
    user.save()
    # Made by an operator, a command or an accepted invitation: the address is trusted.
    user_email_verified_ensure(user=user)
    return UserEnsured(user, created=True, generated_password=generated)


def user_email_verified_ensure(*, user: User) -> EmailAddress:
    """Make ``user.email`` the person's verified, primary sign-in address (allauth's record).

    For people whose address the platform already trusts: created by operators, commands or
    invitation links, or vouched for by the directory. Self-service changes go through
    allauth's verification email instead.
    """
    email = user.email.strip().lower()
    address = EmailAddress.objects.filter(user=user, email__iexact=email).first()
    if address is not None and address.verified and address.primary:
        return address
    with transaction.atomic():
        EmailAddress.objects.filter(user=user, primary=True).exclude(email__iexact=email).update(
            primary=False
        )
        if address is None:
            address = EmailAddress(user=user, email=email)
        address.verified = True
        address.primary = True
        address.save()
    return address


def api_key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKeyCreated:
    api_key: ApiKey
    plaintext: str  # shown once, never stored


@transaction.atomic
def api_key_create(
    *, tenant: Tenant, name: str, scopes: list[str] | None = None, created_by: User | None = None
) -> ApiKeyCreated:
    scopes = list(scopes or ["chat", "read"])
    unknown = sorted(set(scopes) - set(API_KEY_SCOPES))
    if unknown:
        raise InvalidInput(
            f"Unknown scope(s): {', '.join(unknown)}. Valid: {', '.join(API_KEY_SCOPES)}.",
            code="invalid_scope",
        )
    if not name.strip():
        raise InvalidInput("An API key needs a name.", code="invalid_name")
    prefix, secret = random_token(12), random_token(40)
    api_key = ApiKey(
        tenant=tenant,
        name=name.strip(),
        prefix=prefix,
        secret_hash=api_key_hash(secret),
        scopes=scopes,
        created_by=created_by,
    )
    api_key.full_clean()
    api_key.save()
    return ApiKeyCreated(api_key, f"{API_KEY_PREFIX}{prefix}_{secret}")


def api_key_secret_matches(api_key: ApiKey, secret: str) -> bool:
    return hmac.compare_digest(api_key.secret_hash, api_key_hash(secret))


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Stop a key working at once (it stays listed, marked revoked, for the record)."""
    from django.utils import timezone

    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key


API_KEY_TOUCH_SECONDS = 60


def api_key_touch(*, api_key: ApiKey) -> None:
    """Record that a key was just used, at most once a minute per key (one cheap UPDATE).

    The condition sits in the UPDATE itself, so a burst of requests writes the row once and
    concurrent requests never wait on each other for it.
    """
    from datetime import timedelta

    from django.db.models import Q
    from django.utils import timezone

    now = timezone.now()
    if api_key.last_used_at and now - api_key.last_used_at < timedelta(
        seconds=API_KEY_TOUCH_SECONDS
    ):
        return
    ApiKey.objects.filter(pk=api_key.pk).filter(
        Q(last_used_at__isnull=True)
        | Q(last_used_at__lt=now - timedelta(seconds=API_KEY_TOUCH_SECONDS))
    ).update(last_used_at=now)
    api_key.last_used_at = now


# --- LDAP / Active Directory -------------------------------------------------------------------


def user_directory_sync(
    *,
    user: User,
    dn: str,
    group_dns: set[str],
    role_groups: list[RoleGroup],
    ip_address: str | None = None,
) -> None:
    """Apply what the directory says about a person who just signed in through it.

    The directory owns their password (no local one is kept, so leaving the directory ends
    their access) and vouches for their address. Roles follow ``role_groups``.
    """
    with transaction.atomic():
        user.email = user.email.strip().lower()
        user.directory_dn = dn
        if user.has_usable_password():
            user.set_unusable_password()
        user.full_clean(exclude=["password"])
        user.save()
        user_email_verified_ensure(user=user)
    if role_groups:
        directory_memberships_apply(
            user=user, group_dns=group_dns, role_groups=role_groups, ip_address=ip_address
        )


def directory_memberships_apply(
    *,
    user: User,
    group_dns: set[str],
    role_groups: list[RoleGroup],
    ip_address: str | None = None,
) -> dict[str, str | None]:
    """Create, change or remove the person's memberships in the tenants the mapping covers.

    Returns ``{slug: role or None}`` for every membership changed. A tenant always keeps one
    owner: the directory never removes or demotes its last owner (a warning is logged).
    """
    covered, roles = roles_from_groups(role_groups=role_groups, group_dns=group_dns)
    changes: dict[str, str | None] = {}
    for tenant in Tenant.objects.filter(slug__in=covered, is_active=True):
        role = roles.get(tenant.slug)
        with transaction.atomic():
            owners = list(
                Membership.objects.select_for_update()
                .filter(tenant=tenant)
                .filter(role=Role.OWNER)
                .values_list("user_id", flat=True)
            )
            current = (
                Membership.objects.select_for_update().filter(tenant=tenant, user=user).first()
            )
            previous = current.role if current else None
            if previous == role:
                continue
            if previous == Role.OWNER and owners == [user.pk]:
                logger.warning(
                    "Directory sign-in of %s: not removing or demoting the last owner of %s.",
                    user.email,
                    tenant.slug,
                )
                continue
            if role is None:
                Membership.objects.filter(tenant=tenant, user=user).delete()
            else:
                Membership.objects.update_or_create(
                    tenant=tenant, user=user, defaults={"role": role}
                )
            with tenant_context(tenant):
                audit_record(
                    action="membership.directory_synced",
                    object_type="membership",
                    object_id=user.email,
                    ip_address=ip_address,
                    data={"email": user.email, "from": previous, "to": role, "source": "ldap"},
                )
            changes[tenant.slug] = role
    return changes


# --- Tenant security settings ------------------------------------------------------------------


def check_mfa_requirement_change(*, tenant: Tenant, require: bool, actor: User) -> None:
    membership = Membership.objects.filter(tenant=tenant, user=actor).first()
    if membership is None or membership.role != Role.OWNER:
        raise PermissionDenied(
            "Only owners change the workspace's security settings.", code="owner_only"
        )
    from apps.accounts.selectors import user_has_totp

    if require and not user_has_totp(actor):
        raise Conflict(
            "Set up two-factor authentication for your own account first, so you are not "
            "locked out of the workspace.",
            code="mfa_not_set_up",
        )


def tenant_mfa_requirement_set(
    *, tenant: Tenant, require: bool, actor: User, ip_address: str | None = None
) -> Tenant:
    """Require (or stop requiring) an authenticator app of every member; audited."""
    check_mfa_requirement_change(tenant=tenant, require=require, actor=actor)
    if tenant.require_mfa == require:
        return tenant
    with transaction.atomic():
        tenant.require_mfa = require
        tenant.save(update_fields=["require_mfa"])
        with tenant_context(tenant):
            audit_record(
                action="security.mfa_required" if require else "security.mfa_not_required",
                actor=actor,
                object_type="tenant",
                object_id=tenant.slug,
                ip_address=ip_address,
                data={"require_mfa": require},
            )
    return tenant


# --- Switching tenants without signing in again ------------------------------------------------
#
# Sessions are per host. To switch, tenant A's host issues a signed token naming the person and
# tenant B, valid for SWITCH_TOKEN_TTL seconds, whose nonce is kept in B's cache namespace;
# B's host redeems it once (deleting the nonce) and signs the same person in.

SWITCH_TOKEN_SALT = "apps.accounts.tenant-switch"  # noqa: S105 - a signing namespace
SWITCH_TOKEN_TTL = 60  # seconds
SWITCH_AUTH_METHOD = "tenant_switch"  # how the sign-in is recorded in B's session


def _switch_nonce_key(nonce: str) -> str:
    return f"accounts:tenant-switch:{nonce}"


def switch_browser_fingerprint(user_agent: str) -> str:
    """Ties a switch link to the browser it was made for: someone else's link (sent to trick
    a person into working in the sender's account) fails in another browser."""
    return hashlib.sha256(user_agent.encode()).hexdigest()[:16]


def tenant_switch_token_issue(
    *,
    user: User,
    target: Tenant,
    mfa_verified: bool,
    from_tenant: Tenant | None,
    signed_in_at: float | None = None,
    user_agent: str = "",
) -> str:
    """A single-use token that signs ``user`` in on ``target``'s host; only for its members."""
    if (
        not target.is_active
        or not Membership.objects.filter(tenant=target, user=user, user__is_active=True).exists()
    ):
        raise NotFound("No such workspace.", code="switch_not_member")
    nonce = secrets.token_urlsafe(18)
    # The cache key function prefixes the current schema: store the nonce where the target
    # host, which runs in the target tenant's schema, will look for it.
    with schema_context(target.schema_name):
        cache.set(_switch_nonce_key(nonce), user.pk, timeout=SWITCH_TOKEN_TTL + 5)
    payload = {
        "u": user.pk,
        "t": target.pk,
        "n": nonce,
        "m": mfa_verified,
        "f": from_tenant.slug if from_tenant else "",
        "s": signed_in_at,
        "b": switch_browser_fingerprint(user_agent),
        # Changes with the password: a switch link dies with the session it came from.
        "h": user.get_session_auth_hash(),
    }
    return signing.dumps(payload, salt=SWITCH_TOKEN_SALT, compress=True)


@dataclass(frozen=True)
class TenantSwitchRedeemed:
    user: User
    mfa_verified: bool
    from_tenant_slug: str
    signed_in_at: float | None


def tenant_switch_token_redeem(
    *, token: str, tenant: Tenant, user_agent: str = ""
) -> TenantSwitchRedeemed:
    """Check and use up a switch token on ``tenant``'s host; raise a coded error otherwise.

    Expired, tampered, replayed and foreign tokens are all refused. A tenant that requires
    two-factor authentication only accepts a session that passed it, for a person who has it.
    """
    try:
        data = signing.loads(token, salt=SWITCH_TOKEN_SALT, max_age=SWITCH_TOKEN_TTL)
    except signing.SignatureExpired as exc:
        raise InvalidInput(
            "This switch link has expired. Switch again from the menu.",
            code="switch_token_expired",
        ) from exc
    except signing.BadSignature as exc:
        raise InvalidInput("This switch link is not valid.", code="switch_token_invalid") from exc
    if (
        not isinstance(data, dict)
        or data.get("t") != tenant.pk
        or not constant_time_compare(str(data.get("b", "")), switch_browser_fingerprint(user_agent))
    ):
        raise InvalidInput("This switch link is not valid.", code="switch_token_invalid")
    with schema_context(tenant.schema_name):
        unused = cache.delete(_switch_nonce_key(str(data.get("n", ""))))
    if not unused:
        raise InvalidInput(
            "This switch link has already been used. Switch again from the menu.",
            code="switch_token_used",
        )
    user_id = data.get("u")
    user = (
        User.objects.filter(pk=user_id, is_active=True).first()
        if isinstance(user_id, int)
        else None
    )
    if user is None or not constant_time_compare(
        user.get_session_auth_hash(), str(data.get("h", ""))
    ):
        raise InvalidInput("This switch link is not valid.", code="switch_token_invalid")
    if not Membership.objects.filter(tenant=tenant, user=user, tenant__is_active=True).exists():
        raise NotFound("No such workspace.", code="switch_not_member")
    mfa_verified = bool(data.get("m"))
    from apps.accounts.selectors import user_has_totp

    if tenant.require_mfa and user_has_totp(user) and not mfa_verified:
        raise PermissionDenied(
            f"{tenant.name} requires two-factor authentication: sign in with your code.",
            code="switch_mfa_required",
        )
    signed_in_at = data.get("s")
    return TenantSwitchRedeemed(
        user,
        mfa_verified,
        str(data.get("f", "")),
        float(signed_in_at) if isinstance(signed_in_at, int | float) else None,
    )
