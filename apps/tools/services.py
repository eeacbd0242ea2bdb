"""Writes for tools: HTTP tools, tool names, which assistant may use which tool."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet

from apps.audit.services import audit_record
from apps.core.errors import Conflict, InvalidInput, NotFound
from apps.core.services import model_save_validated
from apps.llm.services import llm_config_bump
from apps.tools.models import HttpMethod, HttpTool
from apps.tools.netguard import host_allowed, is_metadata_host, normalise_host, parse_ip
from apps.tools.registry import TOOL_NAME_RE, check_parameters_schema
from apps.tools.summaries import template_fields, unknown_fields

VISITOR_FIELD = "visitor_id"
SQL_TOOL_PREFIX = "sql_"
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
_HOST_PATTERN = re.compile(
    r"^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)
_FORBIDDEN_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "upgrade"}


def _save(instance: Any) -> None:
    model_save_validated(instance)
    llm_config_bump()  # the tools offered to models changed: routers re-read them


# --- Names and summaries --------------------------------------------------------------------------


def check_tool_name(name: str, *, exclude: tuple[str, Any] | None = None) -> None:
    """A tool name is unique across named queries, HTTP tools and SQL tools of the tenant."""
    from apps.connectors.models import Connection, NamedQuery

    if not isinstance(name, str) or not TOOL_NAME_RE.match(name):
        raise InvalidInput(
            "A tool name is 1-64 letters, digits and _, starting with a letter.",
            code="invalid_name",
        )
    kind, pk = exclude or ("", None)
    if name.startswith(SQL_TOOL_PREFIX) and kind != "sql":
        raise InvalidInput("Names starting with sql_ are kept for SQL tools.", code="reserved_name")

    def others(query: QuerySet[Any], own_kind: str) -> QuerySet[Any]:
        return query.exclude(pk=pk) if kind == own_kind and pk is not None else query

    taken = (
        others(NamedQuery.objects.filter(name=name), "named_query").exists()
        or others(HttpTool.objects.filter(name=name), "http").exists()
        or (
            name.startswith(SQL_TOOL_PREFIX)
            and others(
                Connection.objects.filter(name=name[len(SQL_TOOL_PREFIX) :], sql_tool_enabled=True),
                "sql",
            ).exists()
        )
    )
    if taken:
        raise Conflict(f"A tool named '{name}' already exists.", code="duplicate_name")


def check_summary_template(template: str, known: Iterable[str]) -> None:
    unknown = unknown_fields(template, [*known, VISITOR_FIELD])
    if unknown:
        raise InvalidInput(
            f"The summary uses unknown fields: {', '.join(sorted(unknown))}.",
            code="invalid_summary",
        )


# --- HTTP tools -----------------------------------------------------------------------------------


def check_allowed_hosts(hosts: Iterable[str]) -> list[str]:
    clean: list[str] = []
    for host in hosts:
        name = normalise_host(host)
        if not name:
            continue
        if parse_ip(name) is None and not _HOST_PATTERN.match(name):
            raise InvalidInput(f"'{host}' is not a host name or IP address.", code="invalid_host")
        if is_metadata_host(name):
            raise InvalidInput(
                "Cloud metadata addresses can never be allowed.", code="host_not_allowed"
            )
        if name not in clean:
            clean.append(name)
    if not clean:
        raise InvalidInput("Allow at least one host.", code="invalid_host")
    return clean


def check_url_template(template: str, properties: Iterable[str]) -> None:
    """Placeholders only in the path and query, only for declared arguments or the visitor."""
    probe = re.sub(r"\{[a-zA-Z_][a-zA-Z0-9_]*\}", "x", template)
    parts = urlsplit(probe)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(
            "The URL must start with http:// or https:// and name a host.", code="invalid_url"
        )
    if parts.username or parts.password:
        raise InvalidInput("Put credentials in secret headers, not in the URL.", code="invalid_url")
    netloc = urlsplit(template).netloc
    if "{" in netloc or "}" in netloc:
        raise InvalidInput("The host and port may not contain placeholders.", code="invalid_url")
    if "{" in probe or "}" in probe or parts.fragment:
        raise InvalidInput(
            "The URL has a malformed placeholder or a #fragment.", code="invalid_url"
        )
    unknown = template_fields(template) - set(properties) - {VISITOR_FIELD}
    if unknown:
        raise InvalidInput(
            f"The URL uses placeholders that are not parameters: {', '.join(sorted(unknown))}.",
            code="invalid_url",
        )


def check_headers(headers: Any, *, what: str) -> dict[str, str]:
    if headers in (None, ""):
        return {}
    if not isinstance(headers, dict):
        raise InvalidInput(f"{what} must be an object of name: value.", code="invalid_headers")
    clean: dict[str, str] = {}
    for name, value in headers.items():
        name, value = str(name).strip(), str(value)
        if not _HEADER_NAME.match(name) or name.lower() in _FORBIDDEN_HEADERS:
            raise InvalidInput(f"'{name}' cannot be set as a header.", code="invalid_headers")
        if "\r" in value or "\n" in value:
            raise InvalidInput(f"The header {name} contains a line break.", code="invalid_headers")
        if template_fields(value) - {VISITOR_FIELD}:
            raise InvalidInput(
                f"Header values may only use {{{VISITOR_FIELD}}}, never model arguments.",
                code="invalid_headers",
            )
        clean[name] = value
    return clean


def check_body_template(body: Any, properties: Iterable[str]) -> Any:
    if body in (None, ""):
        return None
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            raise InvalidInput("The body template must be JSON.", code="invalid_body") from None
    names: set[str] = set()

    def collect(value: Any) -> None:
        if isinstance(value, str):
            names.update(template_fields(value))
        elif isinstance(value, dict):
            for item in value.values():
                collect(item)
        elif isinstance(value, list):
            for item in value:
                collect(item)

    collect(body)
    unknown = names - set(properties) - {VISITOR_FIELD}
    if unknown:
        raise InvalidInput(
            f"The body uses placeholders that are not parameters: {', '.join(sorted(unknown))}.",
            code="invalid_body",
        )
    return body


def _check_http_fields(tool: HttpTool) -> None:
    tool.parameters = check_parameters_schema(tool.parameters or {"type": "object"})
    properties = list((tool.parameters.get("properties") or {}).keys())
    if VISITOR_FIELD in properties:
        raise InvalidInput(
            f"'{VISITOR_FIELD}' is reserved for the verified visitor; it cannot be a parameter.",
            code="reserved_parameter",
        )
    if tool.method not in HttpMethod.values:
        raise InvalidInput(f"Unknown method '{tool.method}'.", code="invalid_method")
    check_url_template(tool.url_template, properties)
    tool.allowed_hosts = check_allowed_hosts(tool.allowed_hosts)
    host = normalise_host(urlsplit(re.sub(r"\{[^}]*\}", "x", tool.url_template)).hostname or "")
    if not host_allowed(host, tool.allowed_hosts):
        raise InvalidInput(
            f"The URL's host '{host}' is not among the allowed hosts.", code="host_not_allowed"
        )
    tool.headers = check_headers(tool.headers, what="Headers")
    tool.body_template = check_body_template(tool.body_template, properties)
    if tool.body_template is not None and tool.method == HttpMethod.GET:
        raise InvalidInput("A GET request has no body.", code="invalid_body")
    check_summary_template(tool.summary_template, properties)
    tool.response_fields = [f.strip() for f in tool.response_fields if f and f.strip()]


def http_tool_create(
    *,
    name: str,
    description: str,
    url_template: str,
    allowed_hosts: Iterable[str],
    method: str = HttpMethod.GET,
    parameters: dict | None = None,
    headers: dict[str, str] | None = None,
    secret_headers: dict[str, str] | None = None,
    body_template: Any = None,
    timeout_seconds: float | None = None,
    max_response_bytes: int | None = None,
    response_fields: Iterable[str] = (),
    allow_private_network: bool = False,
    summary_template: str = "",
    assistants: Iterable[Any] = (),
    actor: Any = None,
) -> HttpTool:
    check_tool_name(name)
    tool = HttpTool(
        name=name,
        description=description.strip(),
        url_template=url_template.strip(),
        allowed_hosts=list(allowed_hosts),
        method=method.upper(),
        parameters=parameters or {"type": "object", "properties": {}},
        headers=headers or {},
        body_template=body_template,
        timeout_seconds=timeout_seconds or settings.TOOLS_HTTP_TIMEOUT_SECONDS,
        max_response_bytes=max_response_bytes or settings.TOOLS_HTTP_MAX_RESPONSE_BYTES,
        response_fields=list(response_fields),
        allow_private_network=allow_private_network,
        summary_template=summary_template.strip(),
    )
    _check_http_fields(tool)
    _set_secret_headers(tool, secret_headers or {})
    with transaction.atomic():
        _save(tool)
        tool.assistants.set(list(assistants))
        llm_config_bump()
        audit_record(
            action="http_tool.created",
            actor=actor,
            object_type="http_tool",
            object_id=str(tool.pk),
            data=_audit_view(tool),
        )
    return tool


_HTTP_UPDATABLE = {
    "name", "description", "url_template", "allowed_hosts", "method", "parameters", "headers",
    "body_template", "timeout_seconds", "max_response_bytes", "response_fields",
    "allow_private_network", "summary_template", "is_enabled",
}  # fmt: skip


def http_tool_update(
    *,
    tool: HttpTool,
    secret_headers: dict[str, str] | None = None,
    assistants: Iterable[Any] | None = None,
    actor: Any = None,
    **fields: Any,
) -> HttpTool:
    """Change a tool; ``secret_headers=None`` keeps them, a dict replaces them all."""
    unknown = set(fields) - _HTTP_UPDATABLE
    if unknown:
        raise InvalidInput(f"Unknown fields: {', '.join(sorted(unknown))}.", code="invalid_input")
    if "name" in fields and fields["name"] != tool.name:
        check_tool_name(fields["name"], exclude=("http", tool.pk))
    for key, value in fields.items():
        setattr(tool, key, value.upper() if key == "method" else value)
    _check_http_fields(tool)
    if secret_headers is not None:
        _set_secret_headers(tool, secret_headers)
    with transaction.atomic():
        _save(tool)
        if assistants is not None:
            tool.assistants.set(list(assistants))
            llm_config_bump()
        audit_record(
            action="http_tool.updated",
            actor=actor,
            object_type="http_tool",
            object_id=str(tool.pk),
            data={**_audit_view(tool), "fields": sorted(fields)},
        )
    return tool


def http_tool_delete(*, tool: HttpTool, actor: Any = None) -> None:
    with transaction.atomic():
        audit_record(
            action="http_tool.deleted",
            actor=actor,
            object_type="http_tool",
            object_id=str(tool.pk),
            data={"name": tool.name},
        )
        tool.delete()
        llm_config_bump()


def _set_secret_headers(tool: HttpTool, secret_headers: dict[str, str]) -> None:
    clean = check_headers(secret_headers, what="Secret headers")
    overlap = {k.lower() for k in clean} & {k.lower() for k in tool.headers}
    if overlap:
        raise InvalidInput(
            f"A header is both plain and secret: {', '.join(sorted(overlap))}.",
            code="invalid_headers",
        )
    tool.secret_headers = json.dumps(clean) if clean else ""
    tool.secret_header_names = sorted(clean)


def _audit_view(tool: HttpTool) -> dict[str, Any]:
    """What the audit log keeps about a tool: never a secret header's value."""
    return {
        "name": tool.name,
        "method": tool.method,
        "url_template": tool.url_template,
        "allowed_hosts": tool.allowed_hosts,
        "allow_private_network": tool.allow_private_network,
        "secret_headers": tool.secret_header_names,
    }


# --- Assistants -----------------------------------------------------------------------------------


def tool_assistants_set(*, name: str, assistants: Iterable[Any], actor: Any = None) -> None:
    """Which assistants may call the tool ``name`` (replaces the current set)."""
    from apps.tools.registry import find_tool

    tool = find_tool(name)
    if tool is None:
        raise NotFound(f"There is no tool named '{name}'.", code="unknown_tool")
    chosen = list(assistants)
    with transaction.atomic():
        tool.assistant_relation().set(chosen)
        llm_config_bump()
        audit_record(
            action="tool.assistants_set",
            actor=actor,
            object_type=tool.kind,
            object_id=tool.object_id,
            data={"tool": name, "assistants": sorted(a.name for a in chosen)},
        )
