"""The tools an assistant may call, and the one way to run them.

This is the contract the conversation engine uses: ``tools_for_assistant`` gives the function
specs to offer the model (LiteLLM/OpenAI function calling) and ``tool_run`` runs one call. Both
are synchronous and run in the current tenant's schema (the caller sets it).

Permissions come only from the tenant's configuration and from ``ToolContext.visitor_id`` (a
verified identity, set by the engine, never by the model). Arguments and earlier tool outputs
are untrusted text: they choose *what* to look up inside what is allowed, never widen it.
``tool_run`` never raises for a tool-level problem; it returns ``ok=False`` with a stable code,
and writes every call to the audit log.
"""

from __future__ import annotations

import importlib
import json
import logging
import re
import time
import traceback
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, ClassVar

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from apps.core.errors import AppError
from apps.core.logging import redact

logger = logging.getLogger(__name__)

TOOL_NAME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]{0,63}$")
MAX_ARGUMENTS_CHARS = 20_000

# Modules that provide tools: each has ``find_tool(name)`` and ``tools_for(assistant)``.
PROVIDERS = ("apps.connectors.tools", "apps.tools.http_tools")


# --- The contract -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolSpec:
    name: str  # unique per tenant, ^[a-zA-Z][a-zA-Z0-9_]{0,63}$
    description: str
    parameters: dict  # JSON schema (type=object)

    def as_openai(self) -> dict:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


@dataclass(frozen=True)
class ToolContext:
    visitor_id: str | None  # ONLY a verified identity; None for anonymous visitors
    conversation_id: str | None = None
    message_id: str | None = None
    actor_label: str = "assistant"  # for the audit log ("assistant", "cli", "backoffice:<email>")


@dataclass(frozen=True)
class ToolResult:
    ok: bool
    data: Any = None  # JSON-serialisable; what goes back to the model
    summary: str = ""  # short visitor-facing text, e.g. "Looked up order 1234"
    error_code: str = ""  # stable code when ok is False
    error_message: str = ""  # safe human text for the model/admin; no secrets, no traceback
    duration_ms: float = 0.0

    def for_model(self) -> str:
        """Compact JSON for the tool message the model reads next."""
        if self.ok:
            body: dict[str, Any] = {"ok": True, "data": self.data}
        else:
            body = {"ok": False, "error": {"code": self.error_code, "message": self.error_message}}
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str)


# --- What a provider implements -----------------------------------------------------------------


class ToolRefused(AppError):
    """A tool-level refusal raised inside a tool; ``tool_run`` turns it into a ToolResult."""

    code = "tool_refused"


@dataclass
class ToolOutput:
    data: Any
    summary: str
    audit: dict[str, Any] = field(default_factory=dict)  # extra facts for the audit row


class Tool(ABC):
    """One runnable tool, bound to the tenant object that configures it."""

    kind: ClassVar[str]

    @property
    @abstractmethod
    def spec(self) -> ToolSpec: ...

    @property
    @abstractmethod
    def object_id(self) -> str: ...

    @abstractmethod
    def is_enabled(self) -> bool:
        """Switched on at all (independent of assistants)."""

    @abstractmethod
    def enabled_for(self, assistant: Any) -> bool:
        """Switched on for this assistant."""

    @abstractmethod
    def assistant_relation(self) -> Any:
        """The many-to-many manager of the assistants allowed to call this tool."""

    @abstractmethod
    def run(self, arguments: dict[str, Any], context: ToolContext) -> ToolOutput:
        """Do the work; raise an ``AppError`` (coded) to refuse or report a failure."""

    def summary_on_error(self, arguments: dict[str, Any]) -> str:
        return f"Could not use {self.spec.name}"


# --- Public functions ---------------------------------------------------------------------------


def tools_for_assistant(assistant: Any) -> list[ToolSpec]:
    """Specs of the tools enabled for ``assistant`` (None means no tools), sorted by name."""
    if assistant is None:
        return []
    tools: list[Tool] = []
    for provider in _providers():
        tools.extend(provider.tools_for(assistant))
    return sorted((t.spec for t in tools), key=lambda spec: spec.name)


def tool_run(
    *, name: str, arguments: dict | str, context: ToolContext, assistant: Any = None
) -> ToolResult:
    """Run one tool call as the assistant would; never raises for tool-level problems."""
    started = time.perf_counter()
    tool: Tool | None = None
    parsed: dict[str, Any] | None = None
    output: ToolOutput | None = None
    try:
        parsed = parse_arguments(arguments)
        tool = find_tool(name)
        if tool is None or not tool.is_enabled():
            raise ToolRefused(f"There is no tool named '{_clip(name, 64)}'.", code="unknown_tool")
        if assistant is not None and not tool.enabled_for(assistant):
            raise ToolRefused(
                f"The tool '{name}' is not enabled for this assistant.", code="tool_not_enabled"
            )
        validate_arguments(tool.spec, parsed)
        output = tool.run(parsed, context)
        result = ToolResult(
            ok=True,
            data=output.data,
            summary=output.summary,
            duration_ms=_elapsed(started),
        )
    except AppError as exc:
        result = ToolResult(
            ok=False,
            summary=tool.summary_on_error(parsed or {}) if tool else "",
            error_code=exc.code,
            error_message=redact(exc.message),
            duration_ms=_elapsed(started),
        )
    except Exception:
        # A bug, not a tool-level refusal: log it (redacted by the logging filter), keep the
        # contract, and never show the traceback to the model.
        # (The traceback is redacted here: the logging filter only sees the message.)
        logger.error(
            "Tool %s failed unexpectedly:\n%s", _clip(name, 64), redact(traceback.format_exc())
        )
        result = ToolResult(
            ok=False,
            summary=tool.summary_on_error(parsed or {}) if tool else "",
            error_code="tool_failed",
            error_message="The tool failed unexpectedly; the error was logged.",
            duration_ms=_elapsed(started),
        )
    _audit(name, tool, parsed, arguments, context, result, output)
    return result


def find_tool(name: str) -> Tool | None:
    if not isinstance(name, str) or not TOOL_NAME_RE.match(name):
        return None
    for provider in _providers():
        tool = provider.find_tool(name)
        if tool is not None:
            return tool
    return None


def parse_arguments(arguments: dict | str | None) -> dict[str, Any]:
    if arguments is None or arguments == "":
        return {}
    if isinstance(arguments, str):
        if len(arguments) > MAX_ARGUMENTS_CHARS:
            raise ToolRefused("The arguments are too long.", code="invalid_arguments")
        try:
            arguments = json.loads(arguments)
        except ValueError:
            raise ToolRefused(
                "The arguments are not valid JSON.", code="invalid_arguments"
            ) from None
    if not isinstance(arguments, dict):
        raise ToolRefused("The arguments must be a JSON object.", code="invalid_arguments")
    return arguments


def validate_arguments(spec: ToolSpec, arguments: dict[str, Any]) -> None:
    try:
        validator = Draft202012Validator(spec.parameters)
        error = next(iter(validator.iter_errors(arguments)), None)
    except SchemaError:
        raise ToolRefused(
            "The tool's parameter schema is invalid; ask an admin to fix it.",
            code="tool_misconfigured",
        ) from None
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "arguments"
        raise ToolRefused(f"Invalid {where}: {_clip(error.message, 200)}", code="invalid_arguments")


def check_parameters_schema(schema: Any) -> dict:
    """Validate a JSON schema given by an admin for a tool's parameters."""
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise AppError(
            "Parameters must be a JSON schema with type 'object'.", code="invalid_schema"
        )
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise AppError(
            f"Invalid parameters schema: {_clip(exc.message, 200)}", code="invalid_schema"
        ) from None
    return schema


def mask_arguments(arguments: Any) -> Any:
    """Arguments for the audit log: secret-looking keys and values masked."""
    if isinstance(arguments, dict):
        return {
            str(k): "***" if _SECRET_KEY.search(str(k)) else mask_arguments(v)
            for k, v in arguments.items()
        }
    if isinstance(arguments, list):
        return [mask_arguments(v) for v in arguments[:50]]
    if isinstance(arguments, str):
        return redact(_clip(arguments, 2000))
    return arguments


_SECRET_KEY = re.compile(
    r"(?i)pass(word)?|secret|token|api[_-]?key|authorization|cookie|credential"
)


# --- Internals ----------------------------------------------------------------------------------


def _providers() -> list[Any]:
    return [importlib.import_module(path) for path in PROVIDERS]


def _elapsed(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _clip(text: str, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _audit(
    name: str,
    tool: Tool | None,
    parsed: dict[str, Any] | None,
    raw_arguments: Any,
    context: ToolContext,
    result: ToolResult,
    output: ToolOutput | None,
) -> None:
    from apps.audit.services import audit_record

    arguments = mask_arguments(parsed if parsed is not None else _clip(str(raw_arguments), 500))
    data: dict[str, Any] = {
        "tool": _clip(name, 64),
        "kind": tool.kind if tool else "",
        "arguments": arguments,
        "outcome": "ok" if result.ok else result.error_code,
        "duration_ms": result.duration_ms,
        "visitor_id": context.visitor_id,
        "conversation_id": context.conversation_id,
        "message_id": context.message_id,
    }
    if not result.ok:
        data["error"] = _clip(result.error_message, 300)
    if output is not None:
        data.update(output.audit)
    try:
        # audit_record takes a person; tool calls are made by the assistant or an operator,
        # so the label alone identifies the actor.
        audit_record(
            action="tool.called",
            actor=SimpleNamespace(pk=None, email=_clip(context.actor_label, 254)),
            object_type=tool.kind if tool else "tool",
            object_id=_clip(tool.object_id if tool else "", 64),
            data=data,
        )
    except Exception:
        logger.error(
            "Could not write the audit row for tool %s:\n%s",
            _clip(name, 64),
            redact(traceback.format_exc()),
        )
