"""The database threads of async code (``acall_in_tenant``) keep the last call's schema between
calls, to spare a round trip: every call must still run in the tenant it names."""

from __future__ import annotations

import asyncio

from asgiref.sync import async_to_sync
from django.db import connection

from apps.core.tenancy import acall_in_tenant
from apps.tenants.models import Tenant


def _where() -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        return connection.schema_name, cursor.fetchone()[0]


def test_each_call_runs_in_the_tenant_it_names(django_db_setup, committed):
    alpha, beta = (Tenant.objects.get(slug=slug) for slug in ("alpha", "beta"))
    order = [alpha, alpha, beta, alpha, beta, beta] * 5

    async def run() -> list[tuple[str, str]]:
        seen = []
        for tenant in order:  # one after another: the same threads serve both tenants
            seen.append(await acall_in_tenant(tenant, _where))
        # and at once, so that threads switch tenants under concurrency too
        seen += await asyncio.gather(*(acall_in_tenant(tenant, _where) for tenant in order))
        return seen

    expected = [(tenant.schema_name, tenant.schema_name) for tenant in order] * 2
    assert async_to_sync(run)() == expected
