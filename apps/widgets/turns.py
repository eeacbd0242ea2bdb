"""Answers for widget visitors: generated in a task that outlives the socket that asked.

``turn_start`` persists the question (through the engine), then lets a background task stream
the answer into the answer's shared stream (``apps.widgets.streams``); connections follow that
stream. A visitor who reloads, loses the network or switches node resumes from the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from apps.conversations.engine import TurnEvent, TurnRunner
from apps.tenants.models import Tenant
from apps.widgets import streams

logger = logging.getLogger(__name__)

_running: set[asyncio.Task[None]] = set()


@dataclass(frozen=True)
class Accepted:
    message_id: str
    reply_id: str
    replayed: bool


def frame_for(event: TurnEvent, reply_id: str) -> dict[str, Any] | None:
    """The protocol frame for an engine event (None for events the widget has no use for)."""
    base = {"type": f"aichat.{event.type}", "message_id": reply_id, "seq": event.seq}
    if event.type == "delta":
        return {**base, "text": event.data["text"]}
    if event.type == "sources":
        return {**base, "sources": event.data["sources"]}
    if event.type == "tool":
        return {**base, "summary": event.data["summary"]}
    if event.type == "done":
        return {**base, "status": event.data["status"], "notice": event.data.get("notice")}
    return None


async def turn_start(
    *, tenant: Tenant, conversation_id: Any, text: str, client_id: str
) -> Accepted:
    """Persist the question and start answering it; raises the engine's coded errors."""
    runner = TurnRunner(
        tenant=tenant, conversation_id=conversation_id, text=text, client_id=client_id
    )
    events = runner.events()
    accepted = await events.__anext__()
    reply_id = accepted.data["reply_id"]
    if runner.plan is not None and runner.plan.replayed:
        await events.aclose()  # type: ignore[attr-defined]  # an async generator
        return Accepted(accepted.data["message_id"], reply_id, replayed=True)
    streams.open_local(reply_id)  # before the socket that asked starts following it
    task = asyncio.create_task(_drive(runner, events, reply_id), name=f"answer-{reply_id}")
    _running.add(task)
    task.add_done_callback(_running.discard)
    return Accepted(accepted.data["message_id"], reply_id, replayed=False)


async def _watch_stop(runner: TurnRunner, reply_id: str) -> None:
    """Look for a stop request while the answer is silent (publishing looks otherwise)."""
    while not runner.stop.is_set():
        await asyncio.sleep(streams.STOP_CHECK_SECONDS)
        if await streams.poll_stop(reply_id):
            runner.stop.set()
            return


async def _drive(runner: TurnRunner, events: Any, reply_id: str) -> None:
    watcher = asyncio.create_task(_watch_stop(runner, reply_id))
    try:
        async for event in events:
            frame = frame_for(event, reply_id)
            if frame is not None and await streams.publish(reply_id, frame):
                runner.stop.set()
    except Exception:
        logger.exception("Answer %s failed", reply_id)
        # The engine saved the reply as incomplete; followers still need the end of it.
        await streams.publish(
            reply_id,
            {
                "type": "aichat.done",
                "message_id": reply_id,
                "seq": runner.seq + 1,
                "status": "incomplete",
                "notice": None,
            },
        )
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
