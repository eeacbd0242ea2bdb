"""manage.py enable_sql_tool --tenant SLUG --connection N [--assistant NAME ...] [--disable]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser
from django_tenants.utils import tenant_context

from apps.connectors.management.commands._common import assistants_named
from apps.connectors.selectors import connection_get
from apps.connectors.services import sql_tool_set
from apps.core.commands import AppCommand


class Command(AppCommand):
    help = (
        "Turn the free-form read-only SQL tool of a connection on (for the named assistants) or "
        "off. It is off by default."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--connection", required=True)
        parser.add_argument("--assistant", action="append", default=[], help="repeatable")
        parser.add_argument("--disable", action="store_true")

    def run(self, *args: Any, **options: Any) -> None:
        tenant = self.get_tenant(options["tenant"])
        with tenant_context(tenant):
            connection = connection_get(name=options["connection"])
            assistants = assistants_named(options["assistant"]) if options["assistant"] else None
            sql_tool_set(
                connection=connection, enabled=not options["disable"], assistants=assistants
            )
            state = "off" if options["disable"] else "on"
            self.stdout.write(self.style.SUCCESS(f"SQL tool {connection.sql_tool_name} is {state}"))
