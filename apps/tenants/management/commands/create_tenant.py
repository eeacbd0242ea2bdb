"""manage.py create_tenant SLUG --name NAME --domain HOST --owner-email EMAIL [--owner-password P]"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser

from apps.core.commands import AppCommand
from apps.tenants.services import tenant_create


class Command(AppCommand):
    help = (
        "Create a tenant: its database schema, backoffice domain, owner and first widget. "
        "Prints the widget embed key. Exits 2 on bad input and creates nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="lowercase letters, digits and hyphens, e.g. acme")
        parser.add_argument("--name", required=True, help="display name, e.g. 'Acme Inc.'")
        parser.add_argument("--domain", required=True, help="backoffice host, e.g. acme.localhost")
        parser.add_argument("--owner-email", required=True)
        parser.add_argument(
            "--owner-password",
            help="password for a new owner; generated and printed when omitted",
        )

    def run(self, *args: Any, **options: Any) -> None:
        created = tenant_create(
            slug=options["slug"],
            name=options["name"],
            domain=options["domain"],
            owner_email=options["owner_email"],
            owner_password=options["owner_password"],
        )
        out = self.stdout
        out.write(self.style.SUCCESS(f"Created tenant '{created.tenant.slug}'"))
        out.write(f"  schema:     {created.tenant.schema_name}")
        # make run serves plain HTTP on its port; production is HTTPS behind the proxy.
        if settings.DEBUG:
            url = f"http://{created.domain.domain}:{settings.DEV_SERVER_PORT}/"
        else:
            url = f"https://{created.domain.domain}/"
        out.write(f"  backoffice: {url}")
        out.write(f"  owner:      {created.owner.email}")
        if created.generated_password:
            out.write(f"  password:   {created.generated_password}  (shown once)")
        out.write(f"  embed key:  {created.embed_key}")
