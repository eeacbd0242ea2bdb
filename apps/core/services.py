"""Cross-app services: re-encrypting every stored secret with the newest key."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import models, transaction
from django_tenants.utils import get_public_schema_name, schema_context

from apps.core.encryption import DecryptionError
from apps.core.fields import EncryptedTextField

logger = logging.getLogger(__name__)


@dataclass
class RotationReport:
    rotated: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    schemas: int = 0


def _encrypted_fields() -> list[tuple[type[models.Model], list[str], bool, bool]]:
    """(model, encrypted field names, lives in public, lives in tenant schemas)."""
    found = []
    for model in apps.get_models():
        names = [
            f.attname for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)
        ]
        if names:
            app_name = model._meta.app_config.name
            found.append(
                (model, names, app_name in settings.SHARED_APPS, app_name in settings.TENANT_APPS)
            )
    return found


def _rotate_model(
    model: type[models.Model], names: list[str], schema: str, report: RotationReport
) -> None:
    label = f"{schema}.{model._meta.label}"
    for pk in model._default_manager.values_list("pk", flat=True).iterator():
        try:
            with transaction.atomic():
                row = model._default_manager.filter(pk=pk).values(*names).get()
                # Reading decrypts with any configured key; writing encrypts with the newest.
                model._default_manager.filter(pk=pk).update(**row)
            report.rotated[label] += 1
        except DecryptionError:
            logger.error("Cannot decrypt %s pk=%s with the configured keys", label, pk)
            report.failed[label] += 1


def _rotate_authenticators(report: RotationReport) -> None:
    """Two-factor secrets (allauth's ``Authenticator.data``), encrypted by our MFA adapter."""
    from allauth.mfa.adapter import get_adapter
    from allauth.mfa.models import Authenticator

    adapter = get_adapter()
    label = f"{get_public_schema_name()}.mfa.Authenticator"

    def again(value: Any) -> Any:
        if isinstance(value, list):
            return [again(item) for item in value]
        return adapter.encrypt(adapter.decrypt(value)) if isinstance(value, str) else value

    for pk in Authenticator.objects.values_list("pk", flat=True).iterator():
        try:
            with transaction.atomic():
                authenticator = Authenticator.objects.select_for_update().get(pk=pk)
                data = dict(authenticator.data)
                for key in ("secret", "seed", "migrated_codes"):
                    if key in data:
                        data[key] = again(data[key])
                Authenticator.objects.filter(pk=pk).update(data=data)
            report.rotated[label] += 1
        except DecryptionError:
            logger.error("Cannot decrypt %s pk=%s with the configured keys", label, pk)
            report.failed[label] += 1


def secrets_rotate() -> RotationReport:
    """Re-encrypt every encrypted field of every schema with the first configured key."""
    from apps.tenants.models import Tenant

    report = RotationReport()
    _rotate_authenticators(report)
    targets = _encrypted_fields()
    schemas = [get_public_schema_name(), *Tenant.objects.values_list("schema_name", flat=True)]
    for schema in schemas:
        report.schemas += 1
        public = schema == get_public_schema_name()
        with schema_context(schema):
            for model, names, in_public, in_tenants in targets:
                if (public and in_public) or (not public and in_tenants):
                    _rotate_model(model, names, schema, report)
    return report


def model_save_validated(instance: models.Model) -> None:
    """``full_clean()`` then ``save()``; the first field error becomes a coded InvalidInput."""
    from django.core.exceptions import ValidationError

    from apps.core.errors import InvalidInput

    try:
        instance.full_clean()
    except ValidationError as exc:
        first_field, messages = next(iter(exc.message_dict.items()))
        raise InvalidInput(f"{first_field}: {messages[0]}", code="invalid_input") from None
    instance.save()
