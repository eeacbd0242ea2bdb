"""The widget's WebSocket (/ws/widget/?key=EMBED_KEY). Protocol: docs/widget-protocol.md.

Thin: parse a frame, call a service in the tenant's schema, send the reply. The key (not the
host) decides the tenant; every database call sets it explicitly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from apps.conversations.services import check_user_text
from apps.core.errors import AppError
from apps.core.ratelimit import hit
from apps.core.tenancy import acall_in_tenant
from apps.widgets import selectors, services, streams
from apps.widgets.limits import message_retry_after
from apps.widgets.protocol import error_payload
from apps.widgets.security import identity_verify, origin_allowed
from apps.widgets.turns import turn_start

logger = logging.getLogger(__name__)

MAX_FRAME_BYTES = 16 * 1024
CLOSE_UNKNOWN_KEY = 4401
CLOSE_ORIGIN = 4403
CLOSE_RATE_LIMITED = 4429


def error_frame(code: str, message: str, **extra: Any) -> str:
    return json.dumps(error_payload(code, message, **extra))


def client_ip(scope: dict[str, Any]) -> str:
    client = scope.get("client") or ("unknown", 0)
    return str(client[0])


def header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


class WidgetConsumer(AsyncWebsocketConsumer):
    # Answers travel through their own streams (apps.widgets.streams), not the channel layer:
    # a socket costs no Redis subscription while it idles.
    channel_layer_alias = None

    async def connect(self) -> None:
        self.followers: dict[str, asyncio.Task[None]] = {}
        self.session_id: str | None = None
        self.visitor_id: str | None = None
        await self.accept()  # refusals are sent as close codes the page can read
        query = parse_qs(self.scope.get("query_string", b"").decode())
        found = await database_sync_to_async(selectors.widget_by_embed_key)(
            query.get("key", [""])[0]
        )
        if found is None:
            await self.close(code=CLOSE_UNKNOWN_KEY)
            return
        self.tenant, self.widget = found
        origin = header(self.scope, b"origin")
        if not origin_allowed(self.widget, origin):
            logger.info("Widget %s: refused a connection from origin %r", self.widget.pk, origin)
            await self.close(code=CLOSE_ORIGIN)
            return
        self.ip = client_ip(self.scope)
        limit, window = settings.WIDGET_CONNECTIONS_PER_IP
        if await hit(f"{self.tenant.schema_name}:connect:{self.ip}", limit=limit, window=window):
            await self.close(code=CLOSE_RATE_LIMITED)
            return

    async def disconnect(self, code: int) -> None:
        # Answers go on generating; only this connection's followers stop.
        for task in getattr(self, "followers", {}).values():
            task.cancel()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        raw = text_data if text_data is not None else (bytes_data or b"").decode("utf-8", "replace")
        if len(raw.encode()) > MAX_FRAME_BYTES:
            client_id = None
            with contextlib.suppress(ValueError, AttributeError):
                client_id = json.loads(raw).get("client_id")
            if not selectors.is_client_id(client_id):
                client_id = None  # echo back an id, never whatever the frame carried
            await self.send(
                error_frame("frame_too_large", "Frames are limited to 16 KiB.", client_id=client_id)
            )
            return
        try:
            frame = json.loads(raw)
            kind = frame["type"]
        except (ValueError, KeyError, TypeError):
            kind = None
        if not isinstance(kind, str):
            await self.send(error_frame("bad_frame", "Frames are JSON objects with a type."))
            return
        handler = {
            "aichat.hello": self.on_hello,
            "aichat.message": self.on_message,
            "aichat.resume": self.on_resume,
            "aichat.stop": self.on_stop,
            "aichat.feedback": self.on_feedback,
            "aichat.ping": self.on_ping,
        }.get(kind)
        if handler is None or (kind != "aichat.hello" and self.session_id is None):
            await self.send(error_frame("bad_frame", f"Unexpected frame {str(kind)[:40]!r}."))
            return
        try:
            await handler(frame)
        except AppError as exc:
            await self.send(
                error_frame(
                    exc.code,
                    exc.message,
                    client_id=frame.get("client_id"),
                    message_id=frame.get("message_id"),
                )
            )
        except Exception:
            # Anything unexpected: a coded frame and the socket stays open (the protocol's
            # internal_error), the traceback only in the log.
            logger.exception("Widget frame %s failed", kind)
            await self.send(
                error_frame(
                    "internal_error",
                    "Something went wrong.",
                    client_id=frame.get("client_id"),
                    message_id=frame.get("message_id"),
                )
            )

    # --- frames ---------------------------------------------------------------------------
    async def on_ping(self, frame: dict[str, Any]) -> None:
        await self.send(json.dumps({"type": "aichat.pong"}))

    async def on_hello(self, frame: dict[str, Any]) -> None:
        identity = identity_verify(self.widget, frame.get("identity"))
        if identity.claimed and identity.user_id is None:
            await self.send(
                error_frame("invalid_identity", "The visitor identity could not be verified.")
            )
        self.visitor_id = identity.user_id
        session_id = frame.get("session_id")
        session_id = session_id if selectors.is_session_id(session_id) else None
        welcome = await acall_in_tenant(
            self.tenant,
            selectors.session_welcome,
            widget=self.widget,
            session_id=session_id,
            visitor_id=self.visitor_id,
        )
        self.session_id = welcome["session_id"]
        await self.send(json.dumps(welcome))

    async def on_message(self, frame: dict[str, Any]) -> None:
        client_id, text = frame.get("client_id"), frame.get("text")
        if not selectors.is_client_id(client_id) or not isinstance(text, str):
            await self.send(
                error_frame(
                    "bad_frame", "A message needs a client_id and text.", client_id=client_id
                )
            )
            return
        text = check_user_text(text)  # before the session's conversation is created
        retry_after = await message_retry_after(
            tenant=self.tenant, widget=self.widget, session_id=self.session_id or "", ip=self.ip
        )
        if retry_after:
            await self.send(
                error_frame(
                    "rate_limited",
                    "You are sending messages too fast.",
                    retry_after=round(retry_after),
                    client_id=client_id,
                )
            )
            return
        conversation_id = await acall_in_tenant(
            self.tenant,
            services.session_conversation_ensure,
            widget=self.widget,
            session_id=self.session_id,
            visitor_id=self.visitor_id,
        )
        accepted = await turn_start(
            tenant=self.tenant, conversation_id=conversation_id, text=text, client_id=client_id
        )
        await self.send(
            json.dumps(
                {
                    "type": "aichat.accepted",
                    "client_id": client_id,
                    "message_id": accepted.message_id,
                    "reply_id": accepted.reply_id,
                }
            )
        )
        self._follow(accepted.reply_id, 0)

    async def on_resume(self, frame: dict[str, Any]) -> None:
        message_id, after_seq = frame.get("message_id"), frame.get("after_seq", 0)
        if not isinstance(message_id, str) or not isinstance(after_seq, int) or after_seq < 0:
            await self.send(error_frame("bad_frame", "resume needs message_id and after_seq."))
            return
        state = await self._state(message_id)
        if state is None:
            await self.send(error_frame("not_found", "Unknown message.", message_id=message_id))
            return
        self._follow(message_id, after_seq)

    async def on_stop(self, frame: dict[str, Any]) -> None:
        message_id = frame.get("message_id")
        if isinstance(message_id, str) and await self._state(message_id) is not None:
            await streams.request_stop(message_id)
        else:
            await self.send(error_frame("not_found", "Unknown message.", message_id=message_id))

    async def on_feedback(self, frame: dict[str, Any]) -> None:
        message_id, rating, comment = (
            frame.get("message_id"),
            frame.get("rating"),
            frame.get("comment") or "",
        )
        if not isinstance(message_id, str) or not isinstance(comment, str):
            await self.send(error_frame("bad_frame", "feedback needs message_id and rating."))
            return
        await acall_in_tenant(
            self.tenant,
            services.session_feedback,
            widget=self.widget,
            session_id=self.session_id,
            visitor_id=self.visitor_id,
            message_id=message_id,
            rating=rating,
            comment=comment[:2000],
        )
        await self.send(json.dumps({"type": "aichat.feedback_saved", "message_id": message_id}))

    # --- following answers ----------------------------------------------------------------
    async def _state(self, message_id: str) -> streams.ReplyState | None:
        return await acall_in_tenant(
            self.tenant,
            selectors.session_reply_state,
            widget=self.widget,
            session_id=self.session_id or "",
            visitor_id=self.visitor_id,
            message_id=message_id,
        )

    def _follow(self, reply_id: str, after_seq: int) -> None:
        current = self.followers.get(reply_id)
        if current is not None and not current.done():
            current.cancel()
        self.followers[reply_id] = asyncio.create_task(self._forward(reply_id, after_seq))

    async def _forward(self, reply_id: str, after_seq: int) -> None:
        async for frame in streams.follow(reply_id, after_seq, lambda: self._state(reply_id)):
            if frame is not streams.KEEPALIVE:
                await self.send(json.dumps(frame))
