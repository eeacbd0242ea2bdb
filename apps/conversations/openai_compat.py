"""The OpenAI-compatible surface: ``GET /v1/models`` and ``POST /v1/chat/completions``.

Authenticated with a tenant API key (``Authorization: Bearer sk_...``); the key decides the
tenant. ``model`` is a model alias the tenant configured (a plain model, the client sends its
own system prompt) or ``assistant:<name>`` (the assistant's prompt, knowledge and settings).
Conversations are stored like widget ones unless the request says ``"store": false``.
Errors use OpenAI's shape, so the official clients raise their usual exceptions.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from apps.accounts.models import ApiKey
from apps.accounts.selectors import api_key_resolve
from apps.accounts.services import api_key_touch
from apps.conversations.engine import TurnRunner
from apps.conversations.services import TurnPlan, api_turn_store, check_user_text
from apps.core.errors import AppError, InvalidInput, NotFound
from apps.core.tenancy import acall_in_tenant
from apps.llm.selectors import AssistantConfig, assistant_config, assistant_get, model_aliases

ASSISTANT_PREFIX = "assistant:"
MAX_BODY_BYTES = 1024 * 1024
PASSTHROUGH = ("temperature", "max_tokens", "top_p", "stop", "tool_choice", "seed")


def openai_error(
    status: int, message: str, code: str, type_: str = "invalid_request_error"
) -> JsonResponse:
    return JsonResponse(
        {"error": {"message": message, "type": type_, "param": None, "code": code}}, status=status
    )


def _authenticate(request: HttpRequest) -> ApiKey | JsonResponse:
    """The request's tenant API key, or the OpenAI-shaped error to answer: 401 for a missing
    or unknown key, 403 for a key without the ``chat`` (or ``admin``) scope."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    api_key = api_key_resolve(token.strip()) if scheme.lower() == "bearer" else None
    if api_key is None:
        return openai_error(
            401, "Invalid or missing API key.", "invalid_api_key", "authentication_error"
        )
    if not {"chat", "admin"} & set(api_key.scopes):
        return openai_error(
            403, "This API key lacks the chat scope.", "permission_denied", "permission_error"
        )
    api_key_touch(api_key=api_key)
    return api_key


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def _models_for_tenant() -> list[str]:
    from apps.llm.models import Assistant

    return [
        *model_aliases(),
        *(f"{ASSISTANT_PREFIX}{name}" for name in Assistant.objects.values_list("name", flat=True)),
    ]


ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
RANGES = {"temperature": (0.0, 2.0), "top_p": (0.0, 1.0)}
MAX_TOKENS_LIMIT = 1_000_000
MAX_TOOLS = 128


def _invalid(message: str, code: str) -> InvalidInput:
    return InvalidInput(message, code=code)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_content(content: Any, index: int) -> None:
    if content is None or isinstance(content, str):
        return
    if not isinstance(content, list) or not all(
        isinstance(part, dict) and isinstance(part.get("type"), str) for part in content
    ):
        raise _invalid(
            f"messages[{index}].content must be a string or a list of typed parts.",
            "invalid_messages",
        )
    if any(part["type"] == "text" and not isinstance(part.get("text"), str) for part in content):
        raise _invalid(f"messages[{index}]: a text part needs a string 'text'.", "invalid_messages")


def _check_tools(tools: Any) -> None:
    if not isinstance(tools, list) or len(tools) > MAX_TOOLS:
        raise _invalid(f"'tools' must be a list of at most {MAX_TOOLS} tools.", "invalid_tools")
    for index, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if (
            not isinstance(function, dict)
            or tool.get("type") != "function"
            or not isinstance(function.get("name"), str)
            or not TOOL_NAME.fullmatch(function["name"])
            or not isinstance(function.get("parameters", {}), dict)
            or not isinstance(function.get("description", ""), str)
        ):
            raise _invalid(
                f"tools[{index}] must be a function with a name of letters, digits, '_' or "
                "'-' (at most 64), and an object of parameters.",
                "invalid_tools",
            )


def _check_tool_choice(choice: Any) -> None:
    if choice in ("none", "auto", "required"):
        return
    function = choice.get("function") if isinstance(choice, dict) else None
    if not (
        isinstance(function, dict)
        and choice.get("type") == "function"
        and isinstance(function.get("name"), str)
    ):
        raise _invalid(
            "'tool_choice' must be 'none', 'auto', 'required' or a function to call.",
            "invalid_tool_choice",
        )


def _check_sampling(body: dict[str, Any]) -> None:
    for name, (low, high) in RANGES.items():
        value = body.get(name)
        if value is not None and not (_is_number(value) and low <= value <= high):
            raise _invalid(
                f"'{name}' must be a number from {low:g} to {high:g}.", f"invalid_{name}"
            )
    max_tokens = body.get("max_tokens")
    if max_tokens is not None and not (
        _is_whole(max_tokens) and 1 <= max_tokens <= MAX_TOKENS_LIMIT
    ):
        raise _invalid(
            f"'max_tokens' must be a whole number from 1 to {MAX_TOKENS_LIMIT:,}.",
            "invalid_max_tokens",
        )
    if body.get("n") not in (None, 1):
        raise _invalid("Only one choice per request is supported ('n': 1).", "unsupported_n")
    stop = body.get("stop")
    if stop is not None and not (
        isinstance(stop, str)
        or (isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) for s in stop))
    ):
        raise _invalid("'stop' must be a string or a list of at most 4 strings.", "invalid_stop")
    seed = body.get("seed")
    if seed is not None and not _is_whole(seed):
        raise _invalid("'seed' must be a whole number.", "invalid_seed")


def check_chat_request(body: Any) -> dict[str, Any]:
    """The request body, checked field by field: anything a provider would refuse, or that
    would break the answer half-way, is a 400 with a code before a turn begins."""
    if not isinstance(body, dict):
        raise InvalidInput("The request body must be a JSON object.", code="invalid_body")
    model = body.get("model")
    messages = body.get("messages")
    if not isinstance(model, str) or not model:
        raise InvalidInput("'model' is required.", code="missing_model")
    if not isinstance(messages, list) or not messages:
        raise _invalid("'messages' must be a non-empty list of messages.", "invalid_messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise _invalid(
                f"messages[{index}] needs a role: one of {', '.join(sorted(ROLES))}.",
                "invalid_messages",
            )
        _check_content(message.get("content"), index)
    if body.get("tools") is not None:
        _check_tools(body["tools"])
    if body.get("tool_choice") is not None:
        _check_tool_choice(body["tool_choice"])
    _check_sampling(body)
    for flag in ("stream", "store"):
        if body.get(flag) is not None and not isinstance(body[flag], bool):
            raise _invalid(f"'{flag}' must be true or false.", f"invalid_{flag}")
    options = body.get("stream_options")
    if options is not None and not (
        isinstance(options, dict) and isinstance(options.get("include_usage", False), bool)
    ):
        raise _invalid(
            "'stream_options' must be an object such as {\"include_usage\": true}.",
            "invalid_stream_options",
        )
    return body


def api_turn_begin(*, body: dict[str, Any], api_key_name: str) -> TurnPlan:
    """Resolve the model, store the user's message and an empty reply (unless store=false)."""
    model: str = body["model"]
    messages: list[dict[str, Any]] = body["messages"]
    if model.startswith(ASSISTANT_PREFIX):
        assistant = assistant_get(name=model[len(ASSISTANT_PREFIX) :])
        config = assistant_config(assistant)
        use_prompt = True
    elif model in model_aliases():
        assistant = None
        config = AssistantConfig(
            id=None,
            name="",
            system_prompt="",
            model_chain=(model,),
            allow_cloud_fallback=True,  # the client named this model explicitly
            temperature=1.0,
            max_tokens=4096,
            history_budget_tokens=0,
            max_tool_steps=0,
            retrieval_limit=0,
        )
        use_prompt = False
    else:
        raise NotFound(f"The model '{model}' does not exist.", code="model_not_found")
    last_user = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    text = _text_of(last_user.get("content")) if last_user else ""
    if last_user is not None:
        text = check_user_text(text)
    overrides = {key: body[key] for key in PASSTHROUGH if body.get(key) is not None}
    store = body.get("store", True) is not False
    plan = TurnPlan(
        conversation_id=None,
        user_message_id=None,
        reply_id=None,
        text=text,
        assistant=config,
        history=[],
        visitor_id="",
        request_messages=messages,
        client_tools=body.get("tools"),
        overrides=overrides,
        use_assistant_prompt=use_prompt,
        persist=store,
    )
    if store:
        plan.conversation_id, plan.user_message_id, plan.reply_id = api_turn_store(
            assistant=assistant, text=text, title=(text or api_key_name)[:80]
        )
    else:
        plan.reply_id = uuid.uuid4()
    return plan


def _chunk(base: dict[str, Any], delta: dict[str, Any], finish: str | None = None) -> str:
    payload = {
        **base,
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(payload)}\n\n"


def _openai_tool_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "id": call["id"] or f"call_{index}",
            "type": "function",
            "function": {"name": call["name"], "arguments": call["arguments"]},
        }
        for index, call in enumerate(calls)
    ]


async def _stream(runner: TurnRunner, body: dict[str, Any]) -> AsyncIterator[str]:
    base: dict[str, Any] = {"id": "", "created": int(time.time()), "model": body["model"]}
    async for event in runner.events():
        if event.type == "accepted":
            base["id"] = f"chatcmpl-{event.data['reply_id']}"
            yield _chunk(base, {"role": "assistant", "content": ""})
        elif event.type == "delta":
            yield _chunk(base, {"content": event.data["text"]})
        elif event.type == "tool_calls":
            calls = _openai_tool_calls(event.data["calls"])
            yield _chunk(
                base, {"tool_calls": [{"index": i, **call} for i, call in enumerate(calls)]}
            )
        elif event.type == "done":
            yield _chunk(base, {}, event.data.get("finish_reason") or "stop")
    if (body.get("stream_options") or {}).get("include_usage") and runner.outcome is not None:
        usage = _usage(runner)
        yield f"data: {json.dumps({**base, 'object': 'chat.completion.chunk', 'choices': [], 'usage': usage})}\n\n"
    yield "data: [DONE]\n\n"


def _usage(runner: TurnRunner) -> dict[str, int]:
    outcome = runner.outcome
    prompt = outcome.prompt_tokens if outcome else 0
    completion = outcome.completion_tokens if outcome else 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


async def _complete(runner: TurnRunner, body: dict[str, Any]) -> dict[str, Any]:
    reply_id = ""
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    finish = "stop"
    async for event in runner.events():
        if event.type == "accepted":
            reply_id = event.data["reply_id"]
        elif event.type == "delta":
            text.append(event.data["text"])
        elif event.type == "tool_calls":
            calls = _openai_tool_calls(event.data["calls"])
        elif event.type == "done":
            finish = event.data.get("finish_reason") or "stop"
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
    if calls:
        message["tool_calls"] = calls
    return {
        "id": f"chatcmpl-{reply_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": _usage(runner),
    }


@csrf_exempt
async def models_view(request: HttpRequest) -> HttpResponse:
    if request.method != "GET":
        return openai_error(405, "Use GET.", "method_not_allowed")
    api_key = await sync_to_async(_authenticate)(request)
    if isinstance(api_key, JsonResponse):
        return api_key
    names = await acall_in_tenant(api_key.tenant, _models_for_tenant)
    created = int(api_key.tenant.created_at.timestamp())
    data = [
        {"id": name, "object": "model", "created": created, "owned_by": api_key.tenant.slug}
        for name in names
    ]
    return JsonResponse({"object": "list", "data": data})


@csrf_exempt
async def chat_completions_view(request: HttpRequest) -> HttpResponseBase:
    if request.method != "POST":
        return openai_error(405, "Use POST.", "method_not_allowed")
    api_key = await sync_to_async(_authenticate)(request)
    if isinstance(api_key, JsonResponse):
        return api_key
    try:
        too_large = len(request.body) > MAX_BODY_BYTES
    except RequestDataTooBig:  # over Django's own limit, which is checked first
        too_large = True
    if too_large:
        return openai_error(413, "The request body is too large.", "body_too_large")
    try:
        body = check_chat_request(json.loads(request.body or b"null"))
    except json.JSONDecodeError:
        return openai_error(400, "The request body is not valid JSON.", "invalid_json")
    except AppError as exc:
        return openai_error(400, exc.message, exc.code)
    tenant = api_key.tenant
    runner = TurnRunner(
        tenant=tenant, begin=lambda: api_turn_begin(body=body, api_key_name=api_key.name)
    )
    if body.get("stream"):
        stream = _stream(runner, body)
        try:
            first = await stream.__anext__()  # begin the turn: errors here are still HTTP errors
        except AppError as exc:
            return openai_error(exc.http_status, exc.message, exc.code)
        response = StreamingHttpResponse(_prepend(first, stream), content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response
    try:
        return JsonResponse(await _complete(runner, body))
    except AppError as exc:
        return openai_error(exc.http_status, exc.message, exc.code)


async def _prepend(first: str, rest: AsyncIterator[str]) -> AsyncIterator[str]:
    yield first
    async for item in rest:
        yield item
