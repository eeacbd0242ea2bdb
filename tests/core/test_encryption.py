"""Secrets at rest: MultiFernet encryption, rotation and the encrypted model field."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from apps.core.encryption import DecryptionError, decrypt_str, encrypt_str, last4, rotate_token
from apps.widgets.models import Widget


def test_round_trip_and_ciphertext_differs_each_time():
    a, b = encrypt_str("hunter2-secret"), encrypt_str("hunter2-secret")
    assert a != b
    assert "hunter2" not in a
    assert decrypt_str(a) == decrypt_str(b) == "hunter2-secret"


def test_rotation_moves_tokens_to_the_newest_key(settings):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    token = encrypt_str("provider-key-123")
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    rotated = rotate_token(token)
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # old key removed
    assert decrypt_str(rotated) == "provider-key-123"
    with pytest.raises(DecryptionError):
        decrypt_str(token)


def test_last4_never_reveals_short_secrets():
    assert last4("sk-abcdefgh1234") == "1234"
    assert last4("short") == ""


def test_encrypted_field_stores_ciphertext(in_tenant_a):
    widget = Widget.objects.first()
    with connection.cursor() as cursor:
        cursor.execute("SELECT identity_secret FROM widgets_widget WHERE id = %s", [widget.id])
        stored = cursor.fetchone()[0]
    assert stored != widget.identity_secret
    assert decrypt_str(stored) == widget.identity_secret
