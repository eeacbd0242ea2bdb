"""Shared fixtures: two real tenants (alpha, beta) in the real test database.

The tenants are created once per session and committed, so that out-of-process code (a Celery
worker, a daphne server for browser tests) sees them. Each test still runs in a transaction
that is rolled back, and always starts and ends on the public schema.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from apps.tenants.models import Tenant
from apps.tenants.services import TenantCreated, tenant_create

PASSWORD = "correct-horse-battery"


def _create(slug: str) -> TenantCreated:
    return tenant_create(
        slug=slug,
        name=f"{slug.title()} Corp",
        domain=f"{slug}.localhost",
        owner_email=f"owner@{slug}.test",
        owner_password=PASSWORD,
        allowed_origins=[f"https://www.{slug}.test"],
    )


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker) -> Iterator[dict[str, TenantCreated]]:
    with django_db_blocker.unblock():
        created = {"alpha": _create("alpha"), "beta": _create("beta")}
        connection.set_schema_to_public()
    yield created


@pytest.fixture(autouse=True)
def _public_schema_around_each_test() -> Iterator[None]:
    connection.set_schema_to_public()
    yield
    connection.set_schema_to_public()


@pytest.fixture
def tenant_a(db) -> Tenant:
    return Tenant.objects.get(slug="alpha")


@pytest.fixture
def tenant_b(db) -> Tenant:
    return Tenant.objects.get(slug="beta")


@pytest.fixture
def seeded(db, django_db_setup) -> dict[str, TenantCreated]:
    """What session setup created (owners, embed keys), by tenant slug."""
    return django_db_setup


@pytest.fixture
def in_tenant_a(tenant_a) -> Iterator[Tenant]:
    with tenant_context(tenant_a):
        yield tenant_a
