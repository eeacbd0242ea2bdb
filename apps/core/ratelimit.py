"""Fixed-window rate limits shared by every node (Redis counters).

``hit`` counts one event in a bucket and says how long to wait when the bucket is over its
limit. Buckets name their tenant explicitly (``<schema>:session:<id>``).
"""

from __future__ import annotations

import time

from asgiref.sync import sync_to_async
from django.core.cache import caches

from apps.core.redis import async_redis, key


async def hit(bucket: str, *, limit: int, window: int) -> float | None:
    """Count one event; return seconds to wait if over ``limit`` per ``window``, else None."""
    client = async_redis()
    now = int(time.time())
    slot = now // window
    redis_key = key("rl", bucket, slot)
    if client is None:
        count = await sync_to_async(_cache_incr)(redis_key, window)
    else:
        pipe = client.pipeline(transaction=False)
        pipe.incr(redis_key)
        pipe.expire(redis_key, window + 1, nx=True)
        count, _ = await pipe.execute()
    if count > limit:
        return float((slot + 1) * window - now) or 1.0
    return None


def _cache_incr(name: str, window: int) -> int:
    cache = caches["default"]
    if cache.add(name, 1, window + 1):
        return 1
    try:
        return int(cache.incr(name))
    except ValueError:  # expired between add and incr
        cache.set(name, 1, window + 1)
        return 1
