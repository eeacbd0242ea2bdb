"""Async Redis clients for code on the event loop (rate limits, widget streams).

redis.asyncio connections belong to the loop that opened them, so clients are kept per loop.
``None`` in the single-node fallback (REDIS_URL=off).
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from django.conf import settings

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, object] = weakref.WeakKeyDictionary()


def async_redis() -> Any:
    """The current loop's client, or None when running without Redis."""
    if settings.REDIS_FALLBACK:
        return None
    import redis.asyncio as aioredis

    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = aioredis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
        _clients[loop] = client
    return client


def key(*parts: object) -> str:
    """A Redis key under this deployment's prefix (tests get their own prefix)."""
    return ":".join([settings.CACHE_KEY_PREFIX, *map(str, parts)])
