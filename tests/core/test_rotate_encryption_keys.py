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


def test_two_factor_secrets_are_encrypted_and_rotated(settings, db):
    from allauth.mfa.models import Authenticator
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    from tests.accounts.conftest import totp_code
    from tests.factories import UserFactory

    person = UserFactory()
    secret = generate_totp_secret()
    TOTP.activate(person, secret)
    RecoveryCodes.activate(person)
    stored = Authenticator.objects.get(user=person, type=Authenticator.Type.TOTP).data["secret"]
    assert stored.startswith("enc:") and secret not in stored  # never in the clear
    seed = Authenticator.objects.get(user=person, type=Authenticator.Type.RECOVERY_CODES)
    assert seed.data["seed"].startswith("enc:")

    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, *settings.FIELD_ENCRYPTION_KEYS]
    out = StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    assert "public.mfa.Authenticator: 2 re-encrypted" in out.getvalue()

    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old keys are gone
    totp = TOTP(Authenticator.objects.get(user=person, type=Authenticator.Type.TOTP))
    assert totp.validate_code(totp_code(secret))  # still the same secret, under the new key
