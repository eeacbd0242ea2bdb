"""manage.py seed_demo: the demo tenant and a platform operator, created once (idempotent)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser

from apps.core.commands import AppCommand
from apps.tenants.services import DEMO_OPERATOR_PASSWORD, DEMO_OWNER_PASSWORD, demo_seed


class Command(AppCommand):
    help = (
        "Create the demo tenant (demo.localhost), its owner and a platform operator if they "
        "are missing. Safe to run any number of times."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--quiet", action="store_true", help="print nothing when done")

    def run(self, *args: Any, **options: Any) -> None:
        seeded = demo_seed()
        if options["quiet"]:
            return
        port = settings.DEV_SERVER_PORT
        verb = "Created" if seeded.created else "Found"
        self.stdout.write(f"{verb} demo tenant '{seeded.tenant.slug}'.")
        self.stdout.write(
            f"  backoffice: http://{seeded.host}:{port}/  login {seeded.owner_email} / {DEMO_OWNER_PASSWORD}"
        )
        self.stdout.write(
            f"  operators:  http://localhost:{port}/admin/  login {seeded.operator_email} / {DEMO_OPERATOR_PASSWORD}"
        )
