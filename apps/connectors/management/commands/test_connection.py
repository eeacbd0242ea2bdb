"""manage.py test_connection --tenant SLUG NAME [--tables]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser
from django_tenants.utils import tenant_context

from apps.connectors.selectors import connection_get
from apps.connectors.services import connection_introspect, connection_test
from apps.core.commands import AppCommand
from apps.core.errors import AppError


class Command(AppCommand):
    help = (
        "Test a database connection and say why it fails (DNS, refused, auth, TLS, timeout). "
        "With --tables, list the schemas, tables and columns its user can see. Exit 2 on failure."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--tables", action="store_true", help="list tables and columns")

    def run(self, *args: Any, **options: Any) -> None:
        tenant = self.get_tenant(options["tenant"])
        with tenant_context(tenant):
            connection = connection_get(name=options["name"])
            outcome = connection_test(connection=connection)
            if not outcome.ok:
                raise AppError(outcome.message, code=outcome.code)
            self.stdout.write(self.style.SUCCESS(outcome.message))
            if options["tables"]:
                for table in connection_introspect(connection=connection):
                    columns = ", ".join(f"{c.name} {c.type}" for c in table.columns)
                    self.stdout.write(f"{table.label} ({table.kind}): {columns}")
