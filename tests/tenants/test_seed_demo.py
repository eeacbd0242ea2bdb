"""seed_demo is idempotent: the second run finds what the first created."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command

from apps.accounts.models import User
from apps.tenants.models import Domain, Membership, Tenant


def test_seed_demo_twice_creates_once(db):
    first, second = StringIO(), StringIO()
    call_command("seed_demo", stdout=first)
    call_command("seed_demo", stdout=second)

    assert "Created demo tenant" in first.getvalue()
    assert "Found demo tenant" in second.getvalue()
    assert Tenant.objects.filter(slug="demo").count() == 1
    assert Domain.objects.filter(domain="demo.localhost").count() == 1
    owner = User.objects.get(email="demo@example.com")
    assert owner.check_password("demo-password")
    assert Membership.objects.get(user=owner).role == "owner"
    operator = User.objects.get(email="admin@example.com")
    assert operator.is_staff and operator.is_superuser
