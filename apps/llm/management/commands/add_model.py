"""manage.py add_model --tenant SLUG --provider KIND --model NAME [--api-base URL]
[--api-key-env VAR] [--alias NAME] [--priority N] [--default]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser
from django_tenants.utils import tenant_context

from apps.core.commands import AppCommand
from apps.core.errors import InvalidInput
from apps.llm.models import ProviderKind
from apps.llm.services import model_add


class Command(AppCommand):
    help = (
        "Add a model to a tenant: reuses the provider with the same kind and base URL or creates "
        "one. The API key is read from the environment variable named by --api-key-env, never "
        "from the command line."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--provider", required=True, choices=ProviderKind.values)
        parser.add_argument(
            "--model", required=True, help="the provider's model id, e.g. llama3.1:8b"
        )
        parser.add_argument(
            "--api-base",
            default="",
            help="server URL (Ollama's default: the OLLAMA_BASE_URL setting, http://127.0.0.1:11434)",
        )
        parser.add_argument(
            "--api-key-env", default="", help="name of the env variable holding the key"
        )
        parser.add_argument(
            "--alias", default="", help="name assistants use (default: the model id)"
        )
        parser.add_argument(
            "--priority", type=int, default=None, help="lower runs first (local 0, cloud 10)"
        )
        parser.add_argument(
            "--default", action="store_true", help="make it the default assistant's model"
        )

    def run(self, *args: Any, **options: Any) -> None:
        import os

        tenant = self.get_tenant(options["tenant"])
        api_key = ""
        if options["api_key_env"]:
            api_key = os.environ.get(options["api_key_env"], "")
            if not api_key:
                raise InvalidInput(
                    f"The environment variable {options['api_key_env']} is empty or unset.",
                    code="api_key_env_missing",
                )
        with tenant_context(tenant):
            added = model_add(
                kind=options["provider"],
                model_name=options["model"],
                api_base=options["api_base"],
                api_key=api_key,
                alias=options["alias"],
                priority=options["priority"],
                make_default=options["default"],
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Added '{added.deployment.alias}' → {added.provider.name}:{added.deployment.model_name}"
                f" (priority {added.deployment.priority})"
            )
        )
        if added.provider_created:
            key = f", key …{added.provider.api_key_last4}" if added.provider.api_key_last4 else ""
            self.stdout.write(
                f"  new provider '{added.provider.name}' at {added.provider.api_base or 'default URL'}{key}"
            )
        if options["default"]:
            self.stdout.write(f"  default model of assistant '{added.assistant_name}'")
