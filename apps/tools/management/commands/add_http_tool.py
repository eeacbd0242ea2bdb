"""manage.py add_http_tool --tenant SLUG --name N --url URL --allowed-host H [...]"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandParser
from django_tenants.utils import tenant_context

from apps.connectors.management.commands._common import assistants_named, secret_from_env
from apps.core.commands import AppCommand
from apps.core.errors import InvalidInput
from apps.tools.models import HttpMethod
from apps.tools.services import http_tool_create


def _header(value: str) -> tuple[str, str]:
    name, sep, rest = value.partition(":")
    if not sep:
        raise InvalidInput(f"Headers are 'Name: value' ({value!r}).", code="invalid_headers")
    return name.strip(), rest.strip()


class Command(AppCommand):
    help = (
        "Create a custom HTTP tool. Secret headers come from environment variables "
        "(--secret-header-env 'Authorization=API_TOKEN_VAR'), never from the command line."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--description", required=True)
        parser.add_argument("--url", required=True, help="https://api.example.com/orders/{id}")
        parser.add_argument("--method", choices=HttpMethod.values, default="GET")
        parser.add_argument("--allowed-host", action="append", default=[], required=True)
        parser.add_argument("--parameters", default='{"type": "object", "properties": {}}')
        parser.add_argument("--header", action="append", default=[], help="'Name: value'")
        parser.add_argument("--secret-header-env", action="append", default=[], help="Name=VAR")
        parser.add_argument("--body", help="JSON body template")
        parser.add_argument("--timeout", type=float)
        parser.add_argument("--max-response-bytes", type=int)
        parser.add_argument("--response-field", action="append", default=[])
        parser.add_argument("--allow-private-network", action="store_true")
        parser.add_argument("--summary", default="")
        parser.add_argument("--assistant", action="append", default=[])

    def run(self, *args: Any, **options: Any) -> None:
        tenant = self.get_tenant(options["tenant"])
        try:
            parameters = json.loads(options["parameters"])
            body = json.loads(options["body"]) if options["body"] else None
        except ValueError:
            raise InvalidInput(
                "--parameters and --body must be JSON.", code="invalid_json"
            ) from None
        secrets: dict[str, str] = {}
        for item in options["secret_header_env"]:
            name, sep, variable = item.partition("=")
            if not sep:
                raise InvalidInput("Use --secret-header-env Name=VARIABLE.", code="invalid_headers")
            secrets[name.strip()] = secret_from_env(variable.strip(), what=f"header {name}")
        with tenant_context(tenant):
            tool = http_tool_create(
                name=options["name"],
                description=options["description"],
                url_template=options["url"],
                method=options["method"],
                allowed_hosts=options["allowed_host"],
                parameters=parameters,
                headers=dict(_header(h) for h in options["header"]),
                secret_headers=secrets,
                body_template=body,
                timeout_seconds=options["timeout"],
                max_response_bytes=options["max_response_bytes"],
                response_fields=options["response_field"],
                allow_private_network=options["allow_private_network"],
                summary_template=options["summary"],
                assistants=assistants_named(options["assistant"]),
            )
            self.stdout.write(self.style.SUCCESS(f"Created HTTP tool '{tool.name}'"))
