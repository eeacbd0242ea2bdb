"""HTTP surfaces of the widget: the script, its config, and the SSE fallback transport.

Every endpoint is keyed by the embed key and answers cross-origin requests only from the
widget's allowed origins (CORS headers echo the exact origin; no cookies are involved).
Protocol: docs/widget-protocol.md.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from functools import lru_cache, wraps
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from apps.conversations.services import check_user_text
from apps.core.errors import AppError, InvalidInput
from apps.core.tenancy import acall_in_tenant
from apps.tenants.models import Tenant
from apps.widgets import selectors, services, streams
from apps.widgets.limits import message_retry_after
from apps.widgets.models import Widget
from apps.widgets.protocol import error_payload
from apps.widgets.security import identity_verify, origin_allowed
from apps.widgets.turns import turn_start

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


# --- /widget.js -------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _script(mtime: float) -> tuple[bytes, bytes, str]:
    body = (Path(settings.BASE_DIR) / "static" / "widget.js").read_bytes()
    digest = hashlib.sha256(body).hexdigest()[:16]
    return body, gzip.compress(body, 9), digest


def widget_script(request: HttpRequest, digest: str | None = None) -> HttpResponse:
    """The embeddable script. ``/widget.js`` revalidates cheaply (ETag = content hash) and is
    cached for an hour; ``/widget.<hash>.js`` never changes and is cached for a year."""
    path = Path(settings.BASE_DIR) / "static" / "widget.js"
    try:
        body, compressed, current = _script(path.stat().st_mtime)
    except FileNotFoundError:
        return HttpResponse(
            "// widget not built: run `make widget`\n", status=503, content_type="text/javascript"
        )
    if digest is not None and digest != current:
        return HttpResponse(status=404)
    etag = f'"{current}"'
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponse(status=304)
    else:
        gzipped = "gzip" in request.headers.get("Accept-Encoding", "")
        response = HttpResponse(
            compressed if gzipped else body, content_type="text/javascript; charset=utf-8"
        )
        if gzipped:
            response["Content-Encoding"] = "gzip"
    response["ETag"] = etag
    response["Vary"] = "Accept-Encoding"
    response["Access-Control-Allow-Origin"] = "*"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    if digest is None:
        response["Cache-Control"] = "public, max-age=3600, stale-while-revalidate=86400"
    else:
        response["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


# --- keyed, cross-origin endpoints ----------------------------------------------------------------
def error_body(code: str, message: str, status: int, **extra: Any) -> JsonResponse:
    return JsonResponse(error_payload(code, message, **extra), status=status)


def _cors(response: HttpResponseBase, origin: str | None) -> HttpResponseBase:
    if origin:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Methods"] = "GET, POST"
        response["Access-Control-Allow-Headers"] = "Content-Type, X-AIChat-Identity"
        response["Access-Control-Max-Age"] = "600"
    response["Vary"] = "Origin"
    return response


class Visitor:
    """What one request of a page may do: its tenant, widget, origin and verified identity."""

    def __init__(
        self, tenant: Tenant, widget: Widget, origin: str, visitor_id: str | None, ip: str
    ) -> None:
        self.tenant, self.widget, self.origin, self.visitor_id, self.ip = (
            tenant,
            widget,
            origin,
            visitor_id,
            ip,
        )


def keyed(view: Callable[..., Any]) -> Callable[..., Any]:
    """Resolve key and origin once; answer preflights; add CORS headers to every answer."""

    @csrf_exempt
    @wraps(view)
    async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        origin = request.headers.get("Origin")
        if origin is None and request.headers.get("Sec-Fetch-Site") == "same-origin":
            # Browsers send no Origin on same-origin GETs (the backoffice preview, or a site
            # that serves the widget from its own domain through a proxy).
            origin = f"{request.scheme}://{request.get_host()}"
        found = await sync_to_async(selectors.widget_by_embed_key)(request.GET.get("key", ""))
        if found is None:
            return _cors(error_body("unknown_key", "Unknown widget key.", 401), origin)
        tenant, widget = found
        if not origin_allowed(widget, origin):
            # Readable by the refused page (an error, nothing else), so it can say why.
            return _cors(
                error_body("origin_not_allowed", "This page may not use this widget.", 403), origin
            )
        if request.method == "OPTIONS":
            return _cors(HttpResponse(status=204), origin)
        identity_header = request.headers.get("X-AIChat-Identity")
        identity = None
        if identity_header:
            try:
                identity = json.loads(unquote(identity_header))
            except ValueError:
                identity = None
        visitor_id = identity_verify(widget, identity).user_id
        ip = request.META.get("REMOTE_ADDR", "unknown")
        try:
            response = await view(
                request, Visitor(tenant, widget, origin or "", visitor_id, ip), *args, **kwargs
            )
        except AppError as exc:
            response = error_body(exc.code, exc.message, exc.http_status)
        except Exception:
            # The protocol's answer to anything unexpected: a coded error, never a traceback
            # (Django's HTML error page would not even be readable across origins).
            logger.exception("Widget endpoint %s failed", request.path)
            response = error_body("internal_error", "Something went wrong.", 500)
        return _cors(response, origin)

    return wrapper


@keyed
async def widget_config(request: HttpRequest, visitor: Visitor) -> HttpResponse:
    response = JsonResponse(selectors.widget_public_config(visitor.widget))
    response["Cache-Control"] = "max-age=60"
    return response


@keyed
async def widget_session(request: HttpRequest, visitor: Visitor) -> HttpResponse:
    welcome = await acall_in_tenant(
        visitor.tenant,
        selectors.session_welcome,
        widget=visitor.widget,
        session_id=request.GET.get("session_id", ""),
        visitor_id=visitor.visitor_id,
    )
    return JsonResponse(welcome)


def _sse(frame: dict[str, Any]) -> str:
    event_id = f"id: {frame['seq']}\n" if "seq" in frame else ""
    return f"{event_id}data: {json.dumps(frame)}\n\n"


async def _reply_state(
    visitor: Visitor, session_id: str, message_id: str
) -> streams.ReplyState | None:
    return await acall_in_tenant(
        visitor.tenant,
        selectors.session_reply_state,
        widget=visitor.widget,
        session_id=session_id,
        visitor_id=visitor.visitor_id,
        message_id=message_id,
    )


async def _follow_sse(
    visitor: Visitor, session_id: str, reply_id: str, after_seq: int
) -> AsyncIterator[str]:
    async def state() -> streams.ReplyState | None:
        return await _reply_state(visitor, session_id, reply_id)

    async for frame in streams.follow(reply_id, after_seq, state):
        yield ": keep-alive\n\n" if frame is streams.KEEPALIVE else _sse(frame)


class FrameTooLarge(InvalidInput):
    code = "frame_too_large"
    http_status = 413


def _read_json(request: HttpRequest) -> dict[str, Any]:
    if len(request.body) > MAX_BODY_BYTES:
        raise FrameTooLarge("Requests are limited to 16 KiB.")
    try:
        body = json.loads(request.body or b"{}")
    except ValueError as exc:
        raise InvalidInput("The body is not JSON.", code="bad_frame") from exc
    if not isinstance(body, dict):
        raise InvalidInput("The body is not a JSON object.", code="bad_frame")
    return body


@keyed
async def widget_message(request: HttpRequest, visitor: Visitor) -> HttpResponseBase:
    if request.method != "POST":
        return error_body("bad_frame", "Use POST.", 405)
    body = _read_json(request)
    session_id = request.GET.get("session_id") or body.get("session_id")
    client_id, text = body.get("client_id"), body.get("text")
    if (
        not selectors.is_session_id(session_id)
        or not selectors.is_client_id(client_id)
        or not isinstance(text, str)
    ):
        return error_body(
            "bad_frame", "A message needs session_id, client_id and text.", 400, client_id=client_id
        )
    try:
        text = check_user_text(text)  # before the session's conversation is created
    except InvalidInput as exc:
        return error_body(exc.code, exc.message, 400, client_id=client_id)
    retry_after = await message_retry_after(
        tenant=visitor.tenant, widget=visitor.widget, session_id=session_id, ip=visitor.ip
    )
    if retry_after:
        response = error_body(
            "rate_limited",
            "You are sending messages too fast.",
            429,
            retry_after=round(retry_after),
            client_id=client_id,
        )
        response["Retry-After"] = str(round(retry_after))
        return response
    conversation_id = await acall_in_tenant(
        visitor.tenant,
        services.session_conversation_ensure,
        widget=visitor.widget,
        session_id=session_id,
        visitor_id=visitor.visitor_id,
    )
    accepted = await turn_start(
        tenant=visitor.tenant, conversation_id=conversation_id, text=text, client_id=client_id
    )

    async def events() -> AsyncIterator[str]:
        yield _sse(
            {
                "type": "aichat.accepted",
                "client_id": client_id,
                "message_id": accepted.message_id,
                "reply_id": accepted.reply_id,
            }
        )
        async for chunk in _follow_sse(visitor, session_id, accepted.reply_id, 0):
            yield chunk

    return StreamingHttpResponse(events(), content_type="text/event-stream", headers=SSE_HEADERS)


@keyed
async def widget_message_stream(
    request: HttpRequest, visitor: Visitor, message_id: str
) -> HttpResponseBase:
    session_id = request.GET.get("session_id", "")
    try:
        after_seq = max(0, int(request.GET.get("after_seq", "0")))
    except ValueError:
        return error_body("bad_frame", "after_seq must be a number.", 400)
    if await _reply_state(visitor, session_id, message_id) is None:
        return error_body("not_found", "Unknown message.", 404, message_id=message_id)
    return StreamingHttpResponse(
        _follow_sse(visitor, session_id, message_id, after_seq),
        content_type="text/event-stream",
        headers=SSE_HEADERS,
    )


@keyed
async def widget_message_stop(
    request: HttpRequest, visitor: Visitor, message_id: str
) -> HttpResponse:
    if await _reply_state(visitor, request.GET.get("session_id", ""), message_id) is None:
        return error_body("not_found", "Unknown message.", 404, message_id=message_id)
    await streams.request_stop(message_id)
    return HttpResponse(status=204)


@keyed
async def widget_message_feedback(
    request: HttpRequest, visitor: Visitor, message_id: str
) -> HttpResponse:
    body = _read_json(request)
    comment = body.get("comment") or ""
    await acall_in_tenant(
        visitor.tenant,
        services.session_feedback,
        widget=visitor.widget,
        session_id=request.GET.get("session_id", ""),
        visitor_id=visitor.visitor_id,
        message_id=message_id,
        rating=body.get("rating"),
        comment=str(comment)[:2000],
    )
    return HttpResponse(status=204)
