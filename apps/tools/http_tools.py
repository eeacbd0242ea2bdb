"""Custom HTTP tools offered to the model (provider for ``apps.tools.registry``)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from apps.tools.httpclient import HttpToolError, fetch
from apps.tools.models import HttpTool
from apps.tools.registry import Tool, ToolContext, ToolOutput, ToolRefused, ToolSpec
from apps.tools.summaries import render_summary, template_fields

VISITOR_FIELD = "visitor_id"
_MAX_TEXT_CHARS = 20_000


def find_tool(name: str) -> Tool | None:
    tool = HttpTool.objects.filter(name=name).first()
    return HttpToolRunner(tool) if tool is not None else None


def tools_for(assistant: Any) -> list[Tool]:
    return [
        HttpToolRunner(tool)
        for tool in HttpTool.objects.filter(is_enabled=True, assistants=assistant)
    ]


class HttpToolRunner(Tool):
    kind = "http"

    def __init__(self, tool: HttpTool) -> None:
        self.tool = tool

    @property
    def spec(self) -> ToolSpec:
        return ToolSpec(self.tool.name, self.tool.description, self.tool.parameters)

    @property
    def object_id(self) -> str:
        return str(self.tool.pk)

    def is_enabled(self) -> bool:
        return self.tool.is_enabled

    def enabled_for(self, assistant: Any) -> bool:
        return self.tool.is_enabled and self.tool.assistants.filter(pk=assistant.pk).exists()

    def assistant_relation(self) -> Any:
        return self.tool.assistants

    def run(self, arguments: dict[str, Any], context: ToolContext) -> ToolOutput:
        tool = self.tool
        url = build_url(tool.url_template, arguments, context)
        headers = {k: fill_visitor(v, context) for k, v in tool.headers.items()}
        secrets = {k: fill_visitor(v, context) for k, v in tool.get_secret_headers().items()}
        body: bytes | None = None
        if tool.body_template is not None:
            body = json.dumps(fill_body(tool.body_template, arguments, context)).encode()
            headers.setdefault("Content-Type", "application/json")
        headers.setdefault("Accept", "application/json")
        headers.setdefault("User-Agent", "aichat-tools/1")
        response = fetch(
            method=tool.method,
            url=url,
            headers={**headers, **secrets},
            secret_header_names=frozenset(k.lower() for k in secrets),
            body=body,
            allowed_hosts=list(tool.allowed_hosts),
            allow_private=tool.allow_private_network,
            timeout=float(tool.timeout_seconds),
            max_bytes=int(tool.max_response_bytes),
        )
        audit = {"http_status": response.status, "bytes": len(response.body)}
        if response.status >= 400:
            raise HttpToolError(f"The service answered HTTP {response.status}.", code="http_error")
        data = {"status": response.status, "data": pick_fields(parse_body(response.body), tool)}
        summary = render_summary(tool.summary_template, {**arguments}) or (
            f"Used {tool.name.replace('_', ' ')}"
        )
        return ToolOutput(data=data, summary=summary, audit=audit)

    def summary_on_error(self, arguments: dict[str, Any]) -> str:
        return f"Could not use {self.tool.name.replace('_', ' ')}"


# --- Templates ------------------------------------------------------------------------------------


def _visitor(context: ToolContext) -> str:
    if context.visitor_id is None:
        raise ToolRefused(
            "This tool is only available to a signed-in (verified) visitor.",
            code="visitor_not_verified",
        )
    return str(context.visitor_id)


def fill_visitor(value: str, context: ToolContext) -> str:
    if "{" + VISITOR_FIELD + "}" not in value:
        return value
    return value.replace("{" + VISITOR_FIELD + "}", _visitor(context))


def build_url(template: str, arguments: dict[str, Any], context: ToolContext) -> str:
    """Fill path and query placeholders, each value percent-encoded as one component."""
    url = template
    for name in template_fields(template):
        if name == VISITOR_FIELD:
            raw = _visitor(context)
        else:
            value = arguments.get(name)
            raw = "" if value is None else _scalar(value, name)
        if ".." in raw or raw in (".",):
            raise ToolRefused(f"Invalid {name}: '..' is not allowed.", code="invalid_arguments")
        url = url.replace("{" + name + "}", quote(raw, safe=""))
    return url


def _scalar(value: Any, name: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise ToolRefused(f"Invalid {name}: a single value is expected.", code="invalid_arguments")


def fill_body(template: Any, arguments: dict[str, Any], context: ToolContext) -> Any:
    """Strings that are exactly "{name}" take the typed value; other strings are filled in."""
    if isinstance(template, dict):
        return {k: fill_body(v, arguments, context) for k, v in template.items()}
    if isinstance(template, list):
        return [fill_body(v, arguments, context) for v in template]
    if not isinstance(template, str):
        return template
    fields = template_fields(template)
    if len(fields) == 1 and template == "{" + next(iter(fields)) + "}":
        name = next(iter(fields))
        return _visitor(context) if name == VISITOR_FIELD else arguments.get(name)
    result = template
    for name in fields:
        value = _visitor(context) if name == VISITOR_FIELD else arguments.get(name)
        result = result.replace("{" + name + "}", "" if value is None else str(value))
    return result


# --- Responses ------------------------------------------------------------------------------------


def parse_body(body: bytes) -> Any:
    text = body.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text[:_MAX_TEXT_CHARS]


def pick_fields(data: Any, tool: HttpTool) -> Any:
    if not tool.response_fields:
        return data
    return {path: pick(data, path.split(".")) for path in tool.response_fields}


def pick(data: Any, parts: list[str]) -> Any:
    """Follow a dotted path; ``*`` maps over a list; missing parts give None."""
    if not parts:
        return data
    head, rest = parts[0], parts[1:]
    if head == "*":
        return [pick(item, rest) for item in data] if isinstance(data, list) else None
    if isinstance(data, dict):
        return pick(data.get(head), rest) if head in data else None
    if isinstance(data, list) and head.isdigit():
        index = int(head)
        return pick(data[index], rest) if index < len(data) else None
    return None
