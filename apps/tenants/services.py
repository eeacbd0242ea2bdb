"""Creating tenants and managing who belongs to them.

``check_*`` functions validate and raise coded errors; ``tenant_create`` acts, all inside one
transaction so that a failure at any step leaves no tenant, domain, schema or key behind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django_tenants.utils import tenant_context

from apps.accounts.models import User
from apps.accounts.services import user_ensure
from apps.audit.services import audit_record
from apps.core.errors import Conflict, InvalidInput
from apps.tenants.models import Domain, Membership, Role, Tenant

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
