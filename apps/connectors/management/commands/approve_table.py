"""manage.py approve_table --tenant SLUG --connection N --table schema.table --columns a,b,c"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser
from django_tenants.utils import tenant_context

from apps.connectors.management.commands._common import split_list
from apps.connectors.selectors import connection_get
from apps.connectors.services import table_approve
from apps.core.commands import AppCommand


class Command(AppCommand):
    help = (
        "Approve a table for the assistant: the columns it may read, sensitive columns (never "
        "returned) and a row filter that may bind :visitor_id. Checks the table and columns "
        "exist. Running it again replaces the approval. Exits 2 on bad input."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--connection", required=True)
        parser.add_argument("--table", required=True, help="schema.table (or table)")
        parser.add_argument("--columns", required=True, help="comma-separated readable columns")
        parser.add_argument("--sensitive", default="", help="comma-separated sensitive columns")
        parser.add_argument("--row-filter", default="", help='e.g. "customer_id = :visitor_id"')

    def run(self, *args: Any, **options: Any) -> None:
        tenant = self.get_tenant(options["tenant"])
        with tenant_context(tenant):
            approved = table_approve(
                connection=connection_get(name=options["connection"]),
                table=options["table"],
                columns=split_list(options["columns"]),
                sensitive=split_list(options["sensitive"]),
                row_filter=options["row_filter"],
            )
            self.stdout.write(self.style.SUCCESS(f"Approved {approved.label}"))
            self.stdout.write(f"  columns:    {', '.join(approved.columns)}")
            if approved.sensitive_columns:
                self.stdout.write(f"  sensitive:  {', '.join(approved.sensitive_columns)}")
            if approved.row_filter:
                self.stdout.write(f"  row filter: {approved.row_filter}")
