"""Database connections of ASGI request threads."""

from __future__ import annotations

import threading
from typing import Any

from django.db import connections


def close_request_thread_connections(**kwargs: Any) -> None:
    """Close the database connections of the thread that served a request under ASGI.

    Django runs each ASGI request's synchronous code (views, middleware, the API) in a thread
    of its own, made for that request and gone after it. A persistent connection
    (``CONN_MAX_AGE``) opened there is never used again, and it stays open until the garbage
    collector reaches the dead thread's objects, which the web processes' frozen heap and
    raised thresholds make rare: one connection leaked per request, until PostgreSQL refused
    new ones. Connected to ``request_finished``, which Django sends in that same thread.

    The main thread is left alone: WSGI servers and the test client serve requests there, and
    their persistent connections are reused. So are the engine's database threads
    (``apps.core.tenancy``), which serve no request and keep theirs on purpose.
    """
    if threading.current_thread() is threading.main_thread():
        return
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()
