"""Running code in a tenant's schema from places without a request (consumers, tasks, CLI)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async
from django_tenants.utils import tenant_context

from apps.tenants.models import Tenant


def call_in_tenant[R](tenant: Tenant, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """Run ``fn`` with the connection set to ``tenant`` (and restored afterwards)."""
    with tenant_context(tenant):
        return fn(*args, **kwargs)


async def acall_in_tenant[R](tenant: Tenant, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """From async code: run ``fn`` in a database thread, explicitly in ``tenant``'s schema."""
    return await database_sync_to_async(call_in_tenant)(tenant, fn, *args, **kwargs)
