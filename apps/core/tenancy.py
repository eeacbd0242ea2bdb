"""Running code in a tenant's schema from places without a request (consumers, tasks, CLI)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.db import DatabaseSyncToAsync
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django_tenants.utils import tenant_context

from apps.tenants.models import Tenant

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _db_executor() -> ThreadPoolExecutor:
    """A pool of database threads, so concurrent turns do not queue behind one thread."""
    global _executor
    if _executor is None:
        with _executor_lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(
                    max_workers=settings.DB_THREAD_POOL_SIZE, thread_name_prefix="db"
                )
    return _executor


def call_in_tenant[R](tenant: Tenant, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """Run ``fn`` with the connection set to ``tenant`` (and restored afterwards)."""
    with tenant_context(tenant):
        return fn(*args, **kwargs)


def _call_in_pool_thread[R](tenant: Tenant, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """``call_in_tenant`` for the database threads of ``acall_in_tenant``, which run nothing else.

    Every call there names its tenant, so the thread's connection is left in the last call's
    schema instead of being switched back to public: a turn in the same tenant as the one
    before it on that thread then skips django-tenants' ``SET search_path`` round trip
    (~0.3 ms of every trip to the database). The content-type cache, which is per process
    while content types are per schema, is still cleared on every call, as ``set_tenant`` does.
    """
    if connection.schema_name != tenant.schema_name:  # type: ignore[attr-defined]
        connection.set_tenant(tenant)  # type: ignore[attr-defined]  # django-tenants backend
    else:
        connection.tenant = tenant  # type: ignore[attr-defined]  # the caller's own copy
        ContentType.objects.clear_cache()
    return fn(*args, **kwargs)


async def acall_in_tenant[R](tenant: Tenant, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """From async code: run ``fn`` in a database thread, explicitly in ``tenant``'s schema.

    Channels' DatabaseSyncToAsync closes obsolete connections around the call (persistent ones
    survive per ``CONN_MAX_AGE``); the pool lets many turns hit the database in parallel.
    """
    runner = DatabaseSyncToAsync(
        _call_in_pool_thread, thread_sensitive=False, executor=_db_executor()
    )
    return await runner(tenant, fn, *args, **kwargs)
