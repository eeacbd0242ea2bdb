"""Key rotation drill: add a key, rotate, drop the old key, everything still decrypts."""

from __future__ import annotations

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django_tenants.utils import tenant_context

from apps.core.encryption import get_fernet
from apps.widgets.models import Widget


def raw_secret(widget_id) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT identity_secret FROM widgets_widget WHERE id = %s", [widget_id])
        return cursor.fetchone()[0]


def test_rotation_drill_across_tenants(settings, tenant_a, tenant_b):
    old_keys = list(settings.FIELD_ENCRYPTION_KEYS)
    before = {}
    for tenant in (tenant_a, tenant_b):
        with tenant_context(tenant):
            before[tenant.slug] = {w.id: w.identity_secret for w in Widget.objects.all()}

    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, *old_keys]
    out = StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    assert "alpha.widgets.Widget: 1 re-encrypted" in out.getvalue()
    assert "beta.widgets.Widget: 1 re-encrypted" in out.getvalue()

    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old keys are gone
    for tenant in (tenant_a, tenant_b):
        with tenant_context(tenant):
            after = {w.id: w.identity_secret for w in Widget.objects.all()}
            assert after == before[tenant.slug]
            for widget_id in after:
                assert get_fernet().decrypt(raw_secret(widget_id).encode())


def test_rows_with_an_unknown_key_are_reported_not_lost(settings, tenant_a):
    with tenant_context(tenant_a):
        widget = Widget.objects.first()
        foreign = Fernet(Fernet.generate_key()).encrypt(b"lost").decode()
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE widgets_widget SET identity_secret = %s WHERE id = %s", [foreign, widget.id]
            )
    with pytest.raises(CommandError) as excinfo:
        call_command("rotate_encryption_keys", stdout=StringIO())
    assert "could not be decrypted" in str(excinfo.value)
    with tenant_context(tenant_a):
        assert raw_secret(widget.id) == foreign  # left untouched
