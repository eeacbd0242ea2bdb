"""Async Redis clients for code on the event loop (rate limits, widget streams).

redis.asyncio connections belong to the loop that opened them, so clients are kept per loop.
``None`` in the single-node fallback (REDIS_URL=off).
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from django.conf import settings

READ_TIMEOUT_SECONDS = 30.0
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, object] = weakref.WeakKeyDictionary()


def async_redis() -> Any:
    """The current loop's client, or None when running without Redis."""
    if settings.REDIS_FALLBACK:
        return None
    import redis.asyncio as aioredis

    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        # Each socket following an answer holds a connection in a blocking XREAD, so the pool
        # is large, and a burst beyond it waits for a free connection instead of failing.
        pool: aioredis.BlockingConnectionPool = aioredis.BlockingConnectionPool.from_url(
            settings.REDIS_URL,
            decode_responses=True,
            max_connections=settings.REDIS_ASYNC_MAX_CONNECTIONS,
            timeout=10,
            # Longer than the longest blocking read (the widget streams' 15 s XREAD): redis-py's
            # default of 5 s cut every quiet read short, so a follower never reached the check
            # that finishes an answer whose generator died.
            socket_timeout=READ_TIMEOUT_SECONDS,
        )
        client = aioredis.Redis(connection_pool=pool)
        _clients[loop] = client
    return client


def key(*parts: object) -> str:
    """A Redis key under this deployment's prefix (tests get their own prefix)."""
    return ":".join([settings.CACHE_KEY_PREFIX, *map(str, parts)])
