"""Model fields shared by apps."""

from __future__ import annotations

from typing import Any

from django.db import models

from apps.core.encryption import decrypt_str, encrypt_str


class EncryptedTextField(models.TextField):
    """Stores a secret encrypted with MultiFernet; Python code sees the clear text.

    Encryption is non-deterministic, so the column cannot be filtered on. Rotation re-saves
    rows (see ``apps.core.services.secrets_rotate``).
    """

    description = "Text encrypted at rest"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        return decrypt_str(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt_str(value)
