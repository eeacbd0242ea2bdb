"""manage.py create_api_key --tenant SLUG --name NAME [--scopes chat read ...]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from apps.accounts.services import API_KEY_SCOPES, api_key_create
from apps.core.commands import AppCommand


class Command(AppCommand):
    help = "Create a tenant API key and print it once (only its hash is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--name", required=True, help="what the key is for")
        parser.add_argument(
            "--scopes", nargs="+", default=["chat", "read"], help=f"any of {API_KEY_SCOPES}"
        )

    def run(self, *args: Any, **options: Any) -> None:
        tenant = self.get_tenant(options["tenant"])
        created = api_key_create(tenant=tenant, name=options["name"], scopes=options["scopes"])
        self.stderr.write(f"API key '{created.api_key.name}' for {tenant.slug} (shown once):")
        self.stdout.write(created.plaintext)
