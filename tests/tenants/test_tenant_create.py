"""tenant_create: schema, domain, owner, widget and route, all or nothing."""

from __future__ import annotations

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEvent
from apps.core.errors import Conflict, InvalidInput
from apps.tenants.models import Domain, Membership, Role, Tenant, WidgetRoute
from apps.tenants.services import tenant_create
from apps.widgets.models import Widget


def schema_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", [name])
        return cursor.fetchone() is not None


def create(slug: str = "gamma", **overrides):
    kwargs = {
        "slug": slug,
        "name": "Gamma Ltd",
        "domain": f"{slug}.localhost",
        "owner_email": f"boss@{slug}.test",
        "owner_password": "a-long-password-1",
    }
    kwargs.update(overrides)
    return tenant_create(**kwargs)


def test_creates_migrated_schema_domain_owner_widget_and_route(db):
    created = create()

    assert schema_exists("gamma")
    assert Domain.objects.get(domain="gamma.localhost").tenant == created.tenant
    membership = Membership.objects.get(tenant=created.tenant, user=created.owner)
    assert membership.role == Role.OWNER
    assert created.owner.check_password("a-long-password-1")
    route = WidgetRoute.objects.get(embed_key=created.embed_key)
    assert route.tenant == created.tenant
    with tenant_context(created.tenant):
        assert Widget.objects.get().embed_key == created.embed_key
        assert AuditEvent.objects.get().action == "tenant.created"


def test_hyphenated_slug_gets_an_underscored_schema(db):
    created = create("north-wind")
    assert created.tenant.schema_name == "north_wind"
    assert schema_exists("north_wind")


def test_generates_a_password_for_a_new_owner_when_none_given(db):
    created = create(owner_password=None)
    assert created.generated_password
    assert created.owner.check_password(created.generated_password)


def test_existing_person_becomes_owner_without_password_change(db, seeded):
    alpha_owner = seeded["alpha"].owner
    created = create(owner_email=alpha_owner.email, owner_password="something-else-9")
    alpha_owner.refresh_from_db()
    assert created.owner == alpha_owner
    assert created.generated_password is None
    assert alpha_owner.check_password("correct-horse-battery")
    assert set(alpha_owner.memberships.values_list("tenant__slug", flat=True)) == {"alpha", "gamma"}


@pytest.mark.parametrize(
    ("slug", "code"),
    [
        ("public", "reserved_slug"),
        ("www", "reserved_slug"),
        ("pg-catalog", "reserved_slug"),
        ("Acme", "invalid_slug"),
        ("a", "invalid_slug"),
        ("acme_inc", "invalid_slug"),
        ("-acme", "invalid_slug"),
        ("acme--inc", "invalid_slug"),
        ("9lives", "invalid_slug"),
    ],
)
def test_refuses_bad_or_reserved_slugs(db, slug, code):
    with pytest.raises(InvalidInput) as excinfo:
        create(slug, domain="fine.localhost")
    assert excinfo.value.code == code
    assert not Tenant.objects.filter(slug=slug).exists()


def test_refuses_duplicate_slug(db, tenant_a):
    with pytest.raises(Conflict) as excinfo:
        create("alpha", domain="other.localhost")
    assert excinfo.value.code == "duplicate_slug"


@pytest.mark.parametrize(
    "domain",
    [
        "http://gamma.localhost",
        "gamma.localhost:8000",
        "gamma",
        "gam ma.localhost",
        "-x.localhost",
        "",
    ],
)
def test_refuses_invalid_domains(db, domain):
    with pytest.raises(InvalidInput) as excinfo:
        create(domain=domain)
    assert excinfo.value.code == "invalid_domain"
    assert not schema_exists("gamma")


def test_refuses_a_domain_already_used_by_another_tenant(db, tenant_a):
    with pytest.raises(Conflict) as excinfo:
        create(domain="ALPHA.localhost")
    assert excinfo.value.code == "duplicate_domain"
    assert not schema_exists("gamma")


def test_refuses_invalid_owner_email_and_leaves_nothing(db):
    with pytest.raises(InvalidInput) as excinfo:
        create(owner_email="not-an-email")
    assert excinfo.value.code == "invalid_email"
    assert not Tenant.objects.filter(slug="gamma").exists()
    assert not schema_exists("gamma")


def test_failure_after_schema_creation_rolls_everything_back(db, monkeypatch):
    """A crash late in creation leaves no tenant, domain, route or orphan schema."""

    def explode(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("apps.widgets.services.widget_create", explode)
    with pytest.raises(RuntimeError):
        create()

    assert not schema_exists("gamma")
    assert not Tenant.objects.filter(slug="gamma").exists()
    assert not Domain.objects.filter(domain="gamma.localhost").exists()
    assert not Membership.objects.filter(tenant__slug="gamma").exists()
