"""manage.py run_tool --tenant SLUG [--visitor-id ID] TOOL_NAME --args JSON"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandParser
from django_tenants.utils import tenant_context

from apps.core.commands import AppCommand
from apps.core.errors import AppError
from apps.tools.registry import ToolContext, tool_run


class Command(AppCommand):
    help = (
        "Run a tool exactly as the assistant would (same checks, same limits, audited) and "
        "print its JSON result. A refusal or failure prints one line with its code and exits 2."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tool_name")
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--visitor-id", help="a verified visitor identity to act for")
        # dest is not "args": Django keeps that name for positional arguments.
        parser.add_argument(
            "--args", dest="tool_args", default="{}", help="JSON object of arguments"
        )
        parser.add_argument(
            "--assistant", help="refuse unless the tool is enabled for this assistant"
        )

    def run(self, *args: Any, **options: Any) -> None:
        tenant = self.get_tenant(options["tenant"])
        with tenant_context(tenant):
            assistant = None
            if options["assistant"]:
                from apps.connectors.management.commands._common import assistants_named

                assistant = assistants_named([options["assistant"]])[0]
            result = tool_run(
                name=options["tool_name"],
                arguments=options["tool_args"],
                context=ToolContext(visitor_id=options["visitor_id"], actor_label="cli"),
                assistant=assistant,
            )
        if not result.ok:
            raise AppError(result.error_message, code=result.error_code)
        body = {
            "ok": True,
            "summary": result.summary,
            "data": result.data,
            "duration_ms": result.duration_ms,
        }
        self.stdout.write(json.dumps(body, ensure_ascii=False, indent=2, default=str))
