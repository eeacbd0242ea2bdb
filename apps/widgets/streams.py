"""Frames of answers being generated, shared by every node: one Redis stream per answer.

The task generating an answer publishes each frame (with its sequence number) to the answer's
stream; any connection on any node follows it from any sequence number, which is how a
reloaded page or a dropped socket resumes without losing or repeating a word. Streams expire
an hour after their last frame.

The process generating an answer also keeps its frames in memory while it streams (and a
little after), and connections of that process follow them there: the visitor who asked is
almost always connected to the node that answers, so a streamed token costs one Redis call
(the append), not two. Connections on other nodes, and later resumes, read Redis. Without
Redis (the single-node fallback) the memory copy is the only one, kept for the hour.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from apps.core.redis import async_redis, key

STREAM_TTL_SECONDS = 3600
LOCAL_TTL_SECONDS = 60  # with Redis: how long a finished answer's frames stay in memory
STOP_CHECK_SECONDS = 0.25  # a streaming answer reads the stop flag at most this often
STOP_TTL_SECONDS = 600
KEEPALIVE_SECONDS = 15.0
MAX_SEQ = 2**63 - 1


@dataclass(frozen=True)
class ReplyState:
    """What the database knows about an answer (for streams that are gone or silent)."""

    status: str  # a MessageStatus value
    seq: int  # last frame folded into the stored content
    alive: bool  # a generator is still working on it (heartbeat)


StateLookup = Callable[[], Awaitable[ReplyState | None]]
KEEPALIVE: dict[str, Any] = {"type": "keepalive"}


def _done(reply_id: str, state: ReplyState) -> dict[str, Any]:
    status = state.status if state.status != "streaming" else "incomplete"
    return {
        "type": "aichat.done",
        "message_id": reply_id,
        "seq": state.seq + 1,
        "status": status,
        "notice": None,
    }


@dataclass
class _MemoryStream:
    frames: list[dict[str, Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    stop_checked: float = 0.0  # when a publish last read the stop flag


_memory: dict[str, _MemoryStream] = {}
_memory_stops: set[str] = set()


def open_local(reply_id: str) -> None:
    """This process is about to generate ``reply_id``: its followers here read memory."""
    _memory.setdefault(reply_id, _MemoryStream())


async def publish(reply_id: str, frame: dict[str, Any]) -> bool:
    """Append ``frame`` to the answer's stream; True when someone asked to stop the answer.

    Most frames cost one command (XADD). The stream's expiry is set with its first frame and
    its last, and the stop flag is read in the same round trip at most every
    ``STOP_CHECK_SECONDS`` (``poll_stop`` covers the silences in between).
    """
    client = async_redis()
    local = _memory.get(reply_id)
    stopped = False
    if client is None:
        local = local or _memory.setdefault(reply_id, _MemoryStream())
        stopped = reply_id in _memory_stops
    else:
        name, fields, entry_id = (
            key("answer", reply_id),
            {"f": json.dumps(frame)},
            f"0-{frame['seq']}",
        )
        now = time.monotonic()
        if (
            local is None
            or not local.frames  # the first frame: set the expiry
            or frame["type"] == "aichat.done"  # the last: renew it
            or now - local.stop_checked >= STOP_CHECK_SECONDS
        ):
            pipe = client.pipeline(transaction=False)
            pipe.xadd(name, fields, id=entry_id)
            pipe.expire(name, STREAM_TTL_SECONDS)
            pipe.exists(key("stop", reply_id))
            stopped = bool((await pipe.execute())[2])
            if local is not None:
                local.stop_checked = now
        else:
            await client.xadd(name, fields, id=entry_id)
    if local is not None:
        # After the append to Redis: a frame seen here is already durable there.
        local.frames.append(frame)
        local.changed.set()
        local.changed = asyncio.Event()
        if frame["type"] == "aichat.done":
            keep = STREAM_TTL_SECONDS if client is None else LOCAL_TTL_SECONDS
            asyncio.get_running_loop().call_later(keep, _memory.pop, reply_id, None)
    return stopped


async def follow(
    reply_id: str, after_seq: int, state: StateLookup
) -> AsyncIterator[dict[str, Any]]:
    """Frames with ``seq > after_seq`` until ``done``; KEEPALIVE on long silences.

    When the stream is gone (expired) or silent while no generator is alive, the answer is
    finished from the database's record: a ``done`` with the stored (or "incomplete") status.
    """
    client = async_redis()
    if client is None or reply_id in _memory:
        async for frame in _follow_memory(reply_id, after_seq, state):
            yield frame
        return
    name = key("answer", reply_id)
    last = f"0-{min(after_seq, MAX_SEQ)}"  # entry ids are 64-bit
    if not await client.exists(name):
        known = await state()
        if known is None:
            return
        if known.status != "streaming" or not known.alive:
            yield _done(reply_id, known)
            return
    if after_seq > 0:
        # A resume from the answer's end (or past it) gets the done frame at once.
        tail = await client.xrevrange(name, count=1)
        if tail:
            frame = json.loads(tail[0][1]["f"])
            if frame["type"] == "aichat.done" and frame["seq"] <= after_seq:
                yield frame
                return
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    while True:
        try:
            reply = await client.xread({name: last}, block=int(KEEPALIVE_SECONDS * 1000), count=500)
        except (RedisTimeoutError, RedisConnectionError):
            # A dropped or slow Redis connection: read again from the same position.
            await asyncio.sleep(0.1)
            continue
        if not reply:
            known = await state()
            if known is None or known.status != "streaming" or not known.alive:
                if known is not None:
                    yield _done(reply_id, known)
                return
            yield KEEPALIVE
            continue
        for entry_id, fields in reply[0][1]:
            last = entry_id
            frame = json.loads(fields["f"])
            yield frame
            if frame["type"] == "aichat.done":
                return


async def _follow_memory(
    reply_id: str, after_seq: int, state: StateLookup
) -> AsyncIterator[dict[str, Any]]:
    position = after_seq
    index = 0  # frames are appended in sequence order: where to look next
    while True:
        stream = _memory.get(reply_id)
        if stream is None:
            known = await state()
            if known is None:
                return
            if known.status != "streaming" or not known.alive:
                yield _done(reply_id, known)
                return
            await asyncio.sleep(0.05)
            continue
        while index < len(stream.frames):
            frame = stream.frames[index]
            index += 1
            if frame["type"] == "aichat.done":
                yield frame  # even to a follower that asked from past the end: it must end
                return
            if frame["seq"] <= position:
                continue
            position = frame["seq"]
            yield frame
        # The generator is in this process and always ends with "done" (turns._drive), so
        # there is no silence to watch for here, and no timer per frame.
        await stream.changed.wait()


async def request_stop(reply_id: str) -> None:
    client = async_redis()
    if client is None:
        _memory_stops.add(reply_id)
        return
    await client.set(key("stop", reply_id), "1", ex=STOP_TTL_SECONDS)


async def poll_stop(reply_id: str) -> bool:
    """Whether someone asked to stop the answer, for its generator between frames.

    Reads Redis only when no publish has read the flag in the last ``STOP_CHECK_SECONDS``:
    while frames flow, publishing does the looking.
    """
    client = async_redis()
    if client is None:
        return reply_id in _memory_stops
    local = _memory.get(reply_id)
    now = time.monotonic()
    if local is not None:
        if now - local.stop_checked < STOP_CHECK_SECONDS:
            return False
        local.stop_checked = now
    return bool(await client.exists(key("stop", reply_id)))
