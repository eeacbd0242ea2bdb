"""Creating tenants and managing who belongs to them.

``check_*`` functions validate and raise coded errors; ``tenant_create`` acts, all inside one
transaction so that a failure at any step leaves no tenant, domain, schema or key behind.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.accounts.models import ApiKey, User
from apps.accounts.services import (
    ApiKeyCreated,
    api_key_create,
    api_key_revoke,
    check_email,
    user_ensure,
)
from apps.audit.services import audit_record
from apps.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from apps.tenants.models import Domain, Invitation, Membership, Role, Tenant
from apps.tenants.permissions import role_at_least
from apps.tenants.selectors import invitation_token_hash

logger = logging.getLogger(__name__)

SLUG_RE = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
HOSTNAME_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def schema_name_for(slug: str) -> str:
    return slug.replace("-", "_")


def check_tenant_slug(slug: str) -> None:
    if not 2 <= len(slug) <= 40 or not SLUG_RE.match(slug):
        raise InvalidInput(
            f"Invalid slug '{slug}': use 2-40 lowercase letters, digits and single hyphens, "
            "starting with a letter.",
            code="invalid_slug",
        )
    if slug in settings.RESERVED_TENANT_SLUGS or slug.startswith("pg-"):
        raise InvalidInput(f"The slug '{slug}' is reserved.", code="reserved_slug")
    if (
        Tenant.objects.filter(slug=slug).exists()
        or Tenant.objects.filter(schema_name=schema_name_for(slug)).exists()
    ):
        raise Conflict(f"A tenant with the slug '{slug}' already exists.", code="duplicate_slug")


def check_domain(domain: str) -> str:
    """Return the normalised host name, or raise if it is not one we can serve."""
    host = domain.strip().lower().rstrip(".")
    labels = host.split(".")
    if (
        not host
        or len(host) > 253
        or ":" in host
        or "/" in host
        or len(labels) < 2
        or not all(HOSTNAME_LABEL_RE.match(label) for label in labels)
    ):
        raise InvalidInput(
            f"Invalid domain '{domain}': give a host name such as acme.localhost or "
            "chat.acme.com (no scheme, port or path).",
            code="invalid_domain",
        )
    if labels[0] in settings.RESERVED_TENANT_SLUGS or host == settings.PUBLIC_HOST:
        raise InvalidInput(f"The domain '{host}' is reserved.", code="reserved_domain")
    if Domain.objects.filter(domain=host).exists():
        raise Conflict(f"The domain '{host}' is already in use.", code="duplicate_domain")
    return host


def check_tenant_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("A tenant needs a name of 1-200 characters.", code="invalid_name")
    return name


@dataclass(frozen=True)
class TenantCreated:
    tenant: Tenant
    domain: Domain
    owner: User
    embed_key: str
    generated_password: str | None


def tenant_create(
    *,
    slug: str,
    name: str,
    domain: str,
    owner_email: str,
    owner_password: str | None = None,
    allowed_origins: list[str] | None = None,
) -> TenantCreated:
    """Create a tenant: its schema (migrated), primary domain, owner and first widget."""
    from apps.widgets.services import widget_create

    check_tenant_slug(slug)
    name = check_tenant_name(name)
    host = check_domain(domain)
    with transaction.atomic():
        owner = user_ensure(email=owner_email, password=owner_password)
        tenant = Tenant(schema_name=schema_name_for(slug), slug=slug, name=name)
        tenant.full_clean()
        tenant.save(verbosity=0)  # creates and migrates the schema in this transaction
        primary = Domain(domain=host, tenant=tenant, is_primary=True)
        primary.full_clean()
        primary.save()
        membership_set(tenant=tenant, user=owner.user, role=Role.OWNER)
        with tenant_context(tenant):
            widget = widget_create(
                name="Website", allowed_origins=allowed_origins or default_origins(host)
            )
            audit_record(
                action="tenant.created",
                actor=owner.user,
                object_type="tenant",
                object_id=tenant.slug,
                data={"domain": host},
            )
    return TenantCreated(tenant, primary, owner.user, widget.embed_key, owner.generated_password)


def default_origins(host: str) -> list[str]:
    """Origins a new widget accepts: the tenant's own backoffice host (for the preview)."""
    port = settings.DEV_SERVER_PORT
    if host.endswith(".localhost") or host == "localhost":
        return [f"http://{host}:{port}"]
    return [f"https://{host}"]


def membership_set(*, tenant: Tenant, user: User, role: str) -> Membership:
    """Give ``user`` ``role`` in ``tenant`` (creating or changing the membership)."""
    if role not in Role.values:
        raise InvalidInput(f"Unknown role '{role}'.", code="invalid_role")
    membership, _ = Membership.objects.update_or_create(
        tenant=tenant, user=user, defaults={"role": role}
    )
    return membership


DEMO_SLUG = "demo"
DEMO_OWNER_EMAIL = "demo@example.com"
DEMO_OWNER_PASSWORD = "demo-password"  # noqa: S105 - documented demo login, local only
DEMO_OPERATOR_EMAIL = "admin@example.com"
DEMO_OPERATOR_PASSWORD = "admin-password"  # noqa: S105 - documented demo login, local only


@dataclass(frozen=True)
class DemoSeeded:
    tenant: Tenant
    host: str
    created: bool
    owner_email: str = DEMO_OWNER_EMAIL
    operator_email: str = DEMO_OPERATOR_EMAIL


def demo_seed() -> DemoSeeded:
    """Create the demo tenant and a platform operator when missing; change nothing else."""
    host = f"{DEMO_SLUG}.{settings.TENANT_BASE_DOMAIN}"
    if not User.objects.filter(email=DEMO_OPERATOR_EMAIL).exists():
        User.objects.create_superuser(DEMO_OPERATOR_EMAIL, DEMO_OPERATOR_PASSWORD)
    tenant = Tenant.objects.filter(slug=DEMO_SLUG).first()
    if tenant is not None:
        return DemoSeeded(tenant=tenant, host=host, created=False)
    port = settings.DEV_SERVER_PORT
    created = tenant_create(
        slug=DEMO_SLUG,
        name="Demo Company",
        domain=host,
        owner_email=DEMO_OWNER_EMAIL,
        owner_password=DEMO_OWNER_PASSWORD,
        allowed_origins=[
            f"http://{host}:{port}",
            f"http://localhost:{port}",
            f"http://127.0.0.1:{port}",
        ],
    )
    return DemoSeeded(tenant=created.tenant, host=host, created=True)


# --- Team: invitations and roles ------------------------------------------------------------------
#
# The rules, each a ``check_*`` step that raises a coded error before anything is written:
# only owners grant, change or take away the owner role (admins cannot touch owners at all);
# nobody changes their own role or removes themselves; a tenant always keeps one owner. Every
# change is recorded in the tenant's audit log with who did it and from where.

INVITATION_TTL = timedelta(days=7)


def _audit(
    tenant: Tenant,
    *,
    action: str,
    actor: User | None,
    object_type: str,
    object_id: object,
    ip_address: str | None,
    data: dict[str, Any],
) -> None:
    with tenant_context(tenant):
        audit_record(
            action=action,
            actor=actor,
            object_type=object_type,
            object_id=str(object_id),
            ip_address=ip_address,
            data=data,
        )


def check_role(role: str) -> None:
    if role not in Role.values:
        raise InvalidInput(f"Unknown role '{role}'.", code="invalid_role")


def check_team_admin(membership: Membership | None) -> Membership:
    """The acting person must be an admin or owner of the tenant."""
    if membership is None or not role_at_least(membership.role, Role.ADMIN):
        raise PermissionDenied("Only admins and owners manage the team.", code="admin_only")
    return membership


def check_may_grant(*, actor: Membership, role: str) -> None:
    """May ``actor`` give someone ``role`` (by invitation or role change)?"""
    check_role(role)
    check_team_admin(actor)
    if role == Role.OWNER and actor.role != Role.OWNER:
        raise PermissionDenied("Only an owner can grant the owner role.", code="owner_only")


def check_may_manage(*, actor: Membership, target: Membership) -> None:
    """May ``actor`` change ``target``'s role or remove them?"""
    check_team_admin(actor)
    if target.user_id == actor.user_id:
        raise PermissionDenied(
            "You cannot change your own role or remove yourself; ask another owner or admin.",
            code="own_membership",
        )
    if target.role == Role.OWNER and actor.role != Role.OWNER:
        raise PermissionDenied("Only an owner can change or remove an owner.", code="owner_only")


def check_not_last_owner(*, target: Membership, owners: int) -> None:
    if target.role == Role.OWNER and owners <= 1:
        raise Conflict(
            "A workspace needs at least one owner: make someone else owner first.",
            code="last_owner",
        )


def check_invitation_email(*, tenant: Tenant, email: str) -> str:
    """The normalised address, if it can be invited to ``tenant`` now."""
    email = check_email(email)
    if Membership.objects.filter(tenant=tenant, user__email__iexact=email).exists():
        raise Conflict(f"{email} is already a member of this workspace.", code="already_member")
    if Invitation.objects.filter(
        tenant=tenant, email=email, accepted_at__isnull=True, revoked_at__isnull=True
    ).exists():
        raise Conflict(
            f"{email} already has a pending invitation: resend it from the list below.",
            code="invitation_pending",
        )
    return email


@dataclass(frozen=True)
class InvitationSent:
    invitation: Invitation
    email_sent: bool


def invitation_accept_url(*, base_url: str, token: str) -> str:
    """``https://<tenant host>/invite/<token>/`` (``base_url`` is scheme and host)."""
    path = reverse("backoffice:invite-accept", urlconf=settings.ROOT_URLCONF, args=[token])
    return f"{base_url.rstrip('/')}{path}"


def invitation_email_send(*, invitation: Invitation, token: str, base_url: str) -> bool:
    """Email the accept link; False (logged, link not logged) when the mail server fails."""
    inviter = invitation.invited_by
    context = {
        "invitation": invitation,
        "tenant": invitation.tenant,
        "inviter": inviter.display_name if inviter else "",
        "role": Role(invitation.role).label,
        "accept_url": invitation_accept_url(base_url=base_url, token=token),
        "expires_at": invitation.expires_at,
    }
    subject = f"You're invited to join {invitation.tenant.name}"
    body = render_to_string("team/email/invitation.txt", context)
    try:
        send_mail(subject, body, None, [invitation.email])
    except OSError:  # smtplib errors are OSErrors; the message never holds the token
        logger.warning("Invitation %s: the email could not be sent.", invitation.pk, exc_info=True)
        return False
    return True


def _actor_membership(*, tenant: Tenant, actor: User) -> Membership:
    return check_team_admin(Membership.objects.filter(tenant=tenant, user=actor).first())


def invitation_create(
    *,
    tenant: Tenant,
    email: str,
    role: str,
    actor: User,
    base_url: str,
    ip_address: str | None = None,
) -> InvitationSent:
    """Invite ``email`` with ``role``; the link expires in 7 days. Only the token's hash is kept.

    The email goes out after the invitation is saved (outside its transaction), so a mail
    server failure leaves a pending invitation that can be resent.
    """
    check_may_grant(actor=_actor_membership(tenant=tenant, actor=actor), role=role)
    email = check_invitation_email(tenant=tenant, email=email)
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        invitation = Invitation(
            tenant=tenant,
            email=email,
            role=role,
            token_hash=invitation_token_hash(token),
            invited_by=actor,
            expires_at=timezone.now() + INVITATION_TTL,
        )
        invitation.full_clean(validate_constraints=False)
        try:
            with transaction.atomic():
                invitation.save()
        except IntegrityError as exc:  # a concurrent invitation of the same address won
            raise Conflict(
                f"{email} already has a pending invitation.", code="invitation_pending"
            ) from exc
        _audit(
            tenant,
            action="invitation.created",
            actor=actor,
            object_type="invitation",
            object_id=invitation.pk,
            ip_address=ip_address,
            data={"email": email, "role": role},
        )
    sent = invitation_email_send(invitation=invitation, token=token, base_url=base_url)
    return InvitationSent(invitation, sent)


def _pending_invitation_locked(*, tenant: Tenant, invitation_id: int) -> Invitation:
    invitation = (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("tenant", "invited_by")
        .filter(tenant=tenant, pk=invitation_id, accepted_at__isnull=True, revoked_at__isnull=True)
        .first()
    )
    if invitation is None:
        raise NotFound("No such pending invitation.", code="invitation_not_found")
    return invitation


def invitation_resend(
    *,
    tenant: Tenant,
    invitation_id: int,
    actor: User,
    base_url: str,
    ip_address: str | None = None,
) -> InvitationSent:
    """Send a pending invitation again with a new link (the old one stops working) and a new
    7-day expiry."""
    membership = _actor_membership(tenant=tenant, actor=actor)
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        invitation = _pending_invitation_locked(tenant=tenant, invitation_id=invitation_id)
        check_may_grant(actor=membership, role=invitation.role)
        invitation.token_hash = invitation_token_hash(token)
        invitation.expires_at = timezone.now() + INVITATION_TTL
        invitation.invited_by = actor
        invitation.save(update_fields=["token_hash", "expires_at", "invited_by"])
        _audit(
            tenant,
            action="invitation.resent",
            actor=actor,
            object_type="invitation",
            object_id=invitation.pk,
            ip_address=ip_address,
            data={"email": invitation.email, "role": invitation.role},
        )
    sent = invitation_email_send(invitation=invitation, token=token, base_url=base_url)
    return InvitationSent(invitation, sent)


def invitation_revoke(
    *, tenant: Tenant, invitation_id: int, actor: User, ip_address: str | None = None
) -> Invitation:
    """Withdraw a pending invitation: its link stops working at once."""
    membership = _actor_membership(tenant=tenant, actor=actor)
    with transaction.atomic():
        invitation = _pending_invitation_locked(tenant=tenant, invitation_id=invitation_id)
        check_may_grant(actor=membership, role=invitation.role)
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        _audit(
            tenant,
            action="invitation.revoked",
            actor=actor,
            object_type="invitation",
            object_id=invitation.pk,
            ip_address=ip_address,
            data={"email": invitation.email, "role": invitation.role},
        )
    return invitation


def check_invitation_usable(invitation: Invitation | None) -> Invitation:
    """Unknown, expired, revoked and used links all get the same answer."""
    if (
        invitation is None
        or invitation.accepted_at is not None
        or invitation.revoked_at is not None
        or invitation.expires_at <= timezone.now()
        or not invitation.tenant.is_active
    ):
        raise NotFound(
            "This invitation link is invalid, expired, revoked or already used.",
            code="invitation_invalid",
        )
    return invitation


def check_new_account(*, email: str, full_name: str, password: str) -> str:
    """The cleaned full name, if a new account can be made with these details."""
    full_name = full_name.strip()
    if not full_name or len(full_name) > 200:
        raise InvalidInput("Give your full name (up to 200 characters).", code="invalid_name")
    try:
        validate_password(password, user=User(email=email, full_name=full_name))
    except ValidationError as exc:
        raise InvalidInput(" ".join(exc.messages), code="invalid_password") from exc
    return full_name


@dataclass(frozen=True)
class InvitationAccepted:
    membership: Membership
    user: User
    user_created: bool


def invitation_accept(
    *,
    tenant: Tenant,
    token: str,
    user: User | None = None,
    full_name: str = "",
    password: str = "",
    ip_address: str | None = None,
) -> InvitationAccepted:
    """Accept an invitation as the signed-in ``user`` or, without one, as a new account.

    One transaction: the invitation row is locked, so it is accepted exactly once. A signed-in
    person must own the invited address; a new account is made only when none exists for it.
    A person who is already a member keeps their role.
    """
    with transaction.atomic():
        invitation = check_invitation_usable(
            Invitation.objects.select_for_update(of=("self",))
            .select_related("tenant")
            .filter(tenant=tenant, token_hash=invitation_token_hash(token))
            .first()
        )
        created = False
        if user is None:
            full_name = check_new_account(
                email=invitation.email, full_name=full_name, password=password
            )
            ensured = user_ensure(email=invitation.email, password=password)
            if not ensured.created:
                raise Conflict(
                    f"An account for {invitation.email} already exists: sign in to accept.",
                    code="account_exists",
                )
            user, created = ensured.user, True
            user.full_name = full_name
            user.full_clean()
            user.save(update_fields=["full_name"])
        elif user.email.lower() != invitation.email:
            raise PermissionDenied(
                f"This invitation is for {invitation.email}, not for {user.email}.",
                code="invitation_email_mismatch",
            )
        membership = Membership.objects.filter(tenant=tenant, user=user).first()
        if membership is None:
            membership = membership_set(tenant=tenant, user=user, role=invitation.role)
        invitation.accepted_at = timezone.now()
        invitation.save(update_fields=["accepted_at"])
        _audit(
            tenant,
            action="invitation.accepted",
            actor=user,
            object_type="invitation",
            object_id=invitation.pk,
            ip_address=ip_address,
            data={"email": invitation.email, "role": membership.role, "new_account": created},
        )
    return InvitationAccepted(membership, user, created)


def _memberships_locked(
    *, tenant: Tenant, membership_id: int, actor: User
) -> tuple[Membership, Membership, int]:
    """Lock the owners, the target and the actor (in id order), then read them afresh, so two
    owners demoting each other at once cannot leave the tenant without one."""
    rows = list(
        Membership.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(tenant=tenant)
        .filter(Q(role=Role.OWNER) | Q(pk=membership_id) | Q(user=actor))
        .order_by("pk")
    )
    target = next((m for m in rows if m.pk == membership_id), None)
    if target is None:
        raise NotFound("No such member.", code="member_not_found")
    acting = check_team_admin(next((m for m in rows if m.user_id == actor.pk), None))
    return acting, target, sum(1 for m in rows if m.role == Role.OWNER)


def membership_role_change(
    *,
    tenant: Tenant,
    membership_id: int,
    role: str,
    actor: User,
    ip_address: str | None = None,
) -> Membership:
    """Give a member another role, within the rules above."""
    check_role(role)
    with transaction.atomic():
        acting, target, owners = _memberships_locked(
            tenant=tenant, membership_id=membership_id, actor=actor
        )
        check_may_manage(actor=acting, target=target)
        check_may_grant(actor=acting, role=role)
        if role != Role.OWNER:
            check_not_last_owner(target=target, owners=owners)
        if target.role == role:
            return target
        previous, target.role = target.role, role
        target.full_clean()
        target.save(update_fields=["role"])
        _audit(
            tenant,
            action="membership.role_changed",
            actor=actor,
            object_type="membership",
            object_id=target.pk,
            ip_address=ip_address,
            data={"email": target.user.email, "from": previous, "to": role},
        )
    return target


def membership_remove(
    *, tenant: Tenant, membership_id: int, actor: User, ip_address: str | None = None
) -> Membership:
    """Take a member out of the tenant (their account stays; other tenants are untouched)."""
    with transaction.atomic():
        acting, target, owners = _memberships_locked(
            tenant=tenant, membership_id=membership_id, actor=actor
        )
        check_may_manage(actor=acting, target=target)
        check_not_last_owner(target=target, owners=owners)
        removed_id = target.pk
        target.delete()
        _audit(
            tenant,
            action="membership.removed",
            actor=actor,
            object_type="membership",
            object_id=removed_id,
            ip_address=ip_address,
            data={"email": target.user.email, "role": target.role},
        )
    return target


# --- API keys, from the backoffice (audited) -----------------------------------------------------


def check_api_key_scopes(scopes: list[str]) -> list[str]:
    if not scopes:
        raise InvalidInput("Choose at least one scope.", code="invalid_scope")
    return scopes


def tenant_api_key_create(
    *, tenant: Tenant, name: str, scopes: list[str], actor: User, ip_address: str | None = None
) -> ApiKeyCreated:
    """Create a key for ``tenant``; the plaintext is in the result only, never stored."""
    _actor_membership(tenant=tenant, actor=actor)
    check_api_key_scopes(scopes)
    with transaction.atomic():
        created = api_key_create(tenant=tenant, name=name, scopes=scopes, created_by=actor)
        _audit(
            tenant,
            action="api_key.created",
            actor=actor,
            object_type="api_key",
            object_id=created.api_key.prefix,
            ip_address=ip_address,
            data={"name": created.api_key.name, "scopes": created.api_key.scopes},
        )
    return created


def tenant_api_key_revoke(
    *, tenant: Tenant, api_key_id: int, actor: User, ip_address: str | None = None
) -> ApiKey:
    """Revoke one of ``tenant``'s keys; another tenant's key is simply not found."""
    _actor_membership(tenant=tenant, actor=actor)
    with transaction.atomic():
        api_key = (
            ApiKey.objects.select_for_update()
            .filter(tenant=tenant, pk=api_key_id, revoked_at__isnull=True)
            .first()
        )
        if api_key is None:
            raise NotFound("No such active API key.", code="api_key_not_found")
        api_key_revoke(api_key=api_key)
        _audit(
            tenant,
            action="api_key.revoked",
            actor=actor,
            object_type="api_key",
            object_id=api_key.prefix,
            ip_address=ip_address,
            data={"name": api_key.name},
        )
    return api_key
