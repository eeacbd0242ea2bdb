"""manage.py add_connection --tenant SLUG --name N --engine postgresql|mysql --host H ..."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser
from django_tenants.utils import tenant_context

from apps.connectors.engines import ENGINES
from apps.connectors.management.commands._common import secret_from_env
from apps.connectors.models import Connection, SslMode
from apps.connectors.services import connection_create, connection_test, connection_update
from apps.core.commands import AppCommand


class Command(AppCommand):
    help = (
        "Add (or update, when the name exists) a database connection of a tenant. The password "
        "is read from the environment variable named by --password-env, never from the command "
        "line. Exits 2 on bad input."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--name", required=True, help="connection name, e.g. shop")
        parser.add_argument("--engine", required=True, choices=sorted(ENGINES))
        parser.add_argument("--host", required=True)
        parser.add_argument("--port", type=int, help="default: the engine's usual port")
        parser.add_argument("--database", required=True)
        parser.add_argument("--user", required=True, help="a least-privilege, read-only user")
        parser.add_argument("--password-env", help="name of the variable holding the password")
        parser.add_argument("--sslmode", choices=SslMode.values, default=SslMode.PREFER)
        parser.add_argument("--ssl-root-cert", help="path of a PEM CA certificate")
        parser.add_argument("--statement-timeout-ms", type=int)
        parser.add_argument("--row-limit", type=int)
        parser.add_argument("--test", action="store_true", help="test the connection afterwards")

    def run(self, *args: Any, **options: Any) -> None:
        tenant = self.get_tenant(options["tenant"])
        password = secret_from_env(options["password_env"], what="database password")
        ca = ""
        if options["ssl_root_cert"]:
            with open(options["ssl_root_cert"], encoding="utf-8") as handle:
                ca = handle.read()
        with tenant_context(tenant):
            existing = Connection.objects.filter(name=options["name"]).first()
            fields = {
                "host": options["host"],
                "database": options["database"],
                "username": options["user"],
                "sslmode": options["sslmode"],
                "ssl_root_cert": ca,
            }
            for key in ("statement_timeout_ms", "row_limit"):
                if options[key]:
                    fields[key] = options[key]
            if existing is None:
                connection = connection_create(
                    name=options["name"],
                    engine=options["engine"],
                    port=options["port"],
                    password=password,
                    **fields,
                )
                verb = "Added"
            else:
                fields["engine"] = options["engine"]
                if options["port"]:
                    fields["port"] = options["port"]
                connection = connection_update(
                    connection=existing,
                    password=password if options["password_env"] else None,
                    **fields,
                )
                verb = "Updated"
            self.stdout.write(
                self.style.SUCCESS(
                    f"{verb} connection '{connection.name}' ({connection.engine} "
                    f"{connection.username}@{connection.host}:{connection.port}/{connection.database})"
                )
            )
            if options["test"]:
                outcome = connection_test(connection=connection)
                if not outcome.ok:
                    from apps.core.errors import AppError

                    raise AppError(outcome.message, code=outcome.code)
                self.stdout.write(outcome.message)
