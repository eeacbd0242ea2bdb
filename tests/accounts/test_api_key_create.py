"""API keys are shown once, stored as a hash, and resolve only to their own tenant."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from apps.accounts.models import ApiKey
from apps.accounts.selectors import api_key_resolve
from apps.accounts.services import api_key_create
from apps.core.errors import InvalidInput


def test_plaintext_is_not_stored_and_resolves_to_the_tenant(tenant_a):
    created = api_key_create(tenant=tenant_a, name="CI bot")
    stored = ApiKey.objects.get(pk=created.api_key.pk)
    secret = created.plaintext.split("_", 2)[2]
    assert secret not in stored.secret_hash
    assert api_key_resolve(created.plaintext).tenant == tenant_a


def test_tampered_revoked_or_malformed_keys_do_not_resolve(tenant_a):
    created = api_key_create(tenant=tenant_a, name="bot")
    last = created.plaintext[-1]
    tampered = created.plaintext[:-1] + ("X" if last != "X" else "Y")
    assert api_key_resolve(tampered) is None
    assert api_key_resolve("sk_nope") is None
    assert api_key_resolve("Bearer whatever") is None
    ApiKey.objects.filter(pk=created.api_key.pk).update(revoked_at=timezone.now())
    assert api_key_resolve(created.plaintext) is None


def test_unknown_scope_is_refused(tenant_a):
    with pytest.raises(InvalidInput) as excinfo:
        api_key_create(tenant=tenant_a, name="bot", scopes=["root"])
    assert excinfo.value.code == "invalid_scope"


def test_command_prints_the_key_once(tenant_b):
    out, err = StringIO(), StringIO()
    call_command("create_api_key", "--tenant", "beta", "--name", "Zapier", stdout=out, stderr=err)
    key = out.getvalue().strip()
    assert key.startswith("sk_")
    assert api_key_resolve(key).tenant == tenant_b


def test_command_unknown_tenant_exits_2(db):
    with pytest.raises(CommandError) as excinfo:
        call_command("create_api_key", "--tenant", "nobody", "--name", "x")
    assert excinfo.value.returncode == 2


def test_using_a_key_records_when_at_most_once_a_minute(tenant_a):
    from datetime import timedelta

    from django.test import Client

    created = api_key_create(tenant=tenant_a, name="reporting", scopes=["admin"])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {created.plaintext}")
    assert client.get("/api/v1/providers/").status_code == 200
    first = ApiKey.objects.get(pk=created.api_key.pk).last_used_at
    assert first is not None and timezone.now() - first < timedelta(seconds=5)
    client.get("/api/v1/providers/")
    assert ApiKey.objects.get(pk=created.api_key.pk).last_used_at == first  # no write per call
    ApiKey.objects.filter(pk=created.api_key.pk).update(last_used_at=first - timedelta(minutes=5))
    client.get("/api/v1/providers/")
    assert ApiKey.objects.get(pk=created.api_key.pk).last_used_at > first
