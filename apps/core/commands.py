"""Shared behaviour for management commands: coded errors become one line and exit code 2."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.core.errors import AppError
from apps.tenants.models import Tenant

EXIT_BAD_INPUT = 2


class AppCommand(BaseCommand):
    """Subclasses implement ``run``; an ``AppError`` becomes ``error: <message>`` and exit 2."""

    def handle(self, *args: Any, **options: Any) -> str | None:
        try:
            return self.run(*args, **options)
        except AppError as exc:
            raise CommandError(f"{exc.message} [{exc.code}]", returncode=EXIT_BAD_INPUT) from exc

    def run(self, *args: Any, **options: Any) -> str | None:
        raise NotImplementedError

    @staticmethod
    def get_tenant(slug: str) -> Tenant:
        from apps.core.errors import NotFound

        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise NotFound(f"No tenant with the slug '{slug}'.", code="tenant_not_found")
        return tenant
