"""manage.py rotate_encryption_keys: re-encrypt every stored secret with the newest key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from apps.core.commands import AppCommand
from apps.core.services import secrets_rotate


class Command(AppCommand):
    help = (
        "Re-encrypt every secret of every tenant with the first key of FIELD_ENCRYPTION_KEYS. "
        "Put the new key first, run this, check it reports no failures, then remove the old key."
    )

    def run(self, *args: Any, **options: Any) -> None:
        report = secrets_rotate()
        for label, count in sorted(report.rotated.items()):
            self.stdout.write(f"  {label}: {count} re-encrypted")
        total = sum(report.rotated.values())
        self.stdout.write(f"Re-encrypted {total} secret row(s) across {report.schemas} schema(s).")
        if report.failed:
            failed = ", ".join(f"{label}: {n}" for label, n in sorted(report.failed.items()))
            raise CommandError(
                f"{sum(report.failed.values())} row(s) could not be decrypted ({failed}); "
                "keep the old keys until they are fixed.",
                returncode=1,
            )
