"""manage.py add_named_query --tenant SLUG --connection N --name get_order_status --sql ..."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser
from django_tenants.utils import tenant_context

from apps.connectors.management.commands._common import assistants_named
from apps.connectors.selectors import connection_get
from apps.connectors.services import named_query_create, parse_parameter_specs
from apps.core.commands import AppCommand


class Command(AppCommand):
    help = (
        "Create a named query: one SELECT over approved tables with typed parameters "
        "(--param order_id:integer:'The order number'; a trailing ? makes it optional). "
        ":visitor_id in the SQL is always the verified visitor."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--connection", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--description", required=True)
        parser.add_argument("--sql", required=True)
        parser.add_argument("--param", action="append", default=[], help="name:type[:description]")
        parser.add_argument("--summary", default="", help="e.g. 'Looked up order {order_id}'")
        parser.add_argument("--max-rows", type=int, default=50)
        parser.add_argument("--assistant", action="append", default=[], help="repeatable")

    def run(self, *args: Any, **options: Any) -> None:
        tenant = self.get_tenant(options["tenant"])
        with tenant_context(tenant):
            query = named_query_create(
                name=options["name"],
                description=options["description"],
                connection=connection_get(name=options["connection"]),
                sql=options["sql"],
                parameters=parse_parameter_specs(options["param"]),
                summary_template=options["summary"],
                max_rows=options["max_rows"],
                assistants=assistants_named(options["assistant"]),
            )
            self.stdout.write(self.style.SUCCESS(f"Created named query '{query.name}'"))
