"""A task sent for tenant A runs in A's schema, never B's or public's, retries included.

The worker is a real Celery worker (in a thread) consuming from the real Redis broker.
"""

from __future__ import annotations

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import connection
from django_tenants.utils import schema_context, tenant_context

from apps.widgets.models import Widget
from config.celery import app


@app.task(bind=True, name="tests.tenant_probe", max_retries=2)
def tenant_probe(self, retry_first: bool = False) -> dict:
    """Report the schema the worker runs in and the widgets it can read there."""
    if retry_first and self.request.retries == 0:
        # Switch the connection away on purpose: the retry must still come back to the tenant.
        connection.set_schema_to_public()
        raise self.retry(countdown=0)
    return {
        "schema": connection.schema_name,
        "retries": self.request.retries,
        "widgets": sorted(Widget.objects.values_list("embed_key", flat=True)),
    }


@pytest.fixture(scope="module")
def celery_worker(django_db_setup, django_db_blocker):
    app.conf.task_always_eager = False
    with (
        django_db_blocker.unblock(),
        start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as worker,
    ):
        yield worker


def send_as(tenant, **kwargs):
    with tenant_context(tenant):
        return tenant_probe.delay(**kwargs)


def test_task_runs_in_the_sending_tenant(celery_worker, tenant_a, tenant_b, seeded):
    result_a = send_as(tenant_a).get(timeout=20)
    result_b = send_as(tenant_b).get(timeout=20)
    assert result_a["schema"] == "alpha"
    assert result_a["widgets"] == [seeded["alpha"].embed_key]
    assert result_b["schema"] == "beta"
    assert result_b["widgets"] == [seeded["beta"].embed_key]


def test_retry_stays_in_the_sending_tenant(celery_worker, tenant_a, seeded):
    result = send_as(tenant_a, retry_first=True).get(timeout=20)
    assert result["retries"] == 1
    assert result["schema"] == "alpha"
    assert result["widgets"] == [seeded["alpha"].embed_key]


def test_interleaved_tasks_never_cross_tenants(celery_worker, tenant_a, tenant_b):
    pending = [(send_as(t), t.schema_name) for t in (tenant_a, tenant_b) * 4]
    for async_result, expected in pending:
        assert async_result.get(timeout=20)["schema"] == expected


def test_task_sent_from_public_cannot_read_tenant_tables(celery_worker, db):
    with schema_context("public"):
        async_result = tenant_probe.delay()
    with pytest.raises(Exception) as excinfo:
        async_result.get(timeout=20)
    assert "widgets_widget" in str(excinfo.value)
