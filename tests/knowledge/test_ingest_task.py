"""A real Celery worker (in a thread, real Redis broker) ingests sources for the tenant that
queued them; a run interrupted after some batches is retried and finishes without duplicates.

The worker uses its own database connection, so the data it reads is committed by a helper
thread (the test's own transaction would hide it) and removed again at the end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import OperationalError, connection
from django_tenants.utils import tenant_context

from apps.knowledge import services
from apps.knowledge.models import Chunk, Embedding, KnowledgeBase, Source, SourceStatus
from apps.tenants.models import Tenant
from config.celery import app

SECTIONS = [
    ("Returns", "Customers may return unused products within 30 days for a full refund."),
    ("Shipping", "Orders placed before noon ship the same business day from the warehouse."),
    ("Warranty", "All devices carry a two year warranty covering manufacturing defects."),
    ("Support", "Support answers emails within one business day, on weekdays only."),
    ("Privacy", "Personal data is never sold and is deleted on request within a month."),
    ("Invoices", "Invoices are sent by email on the first working day of each month."),
]


@pytest.fixture(scope="module")
def celery_worker(django_db_setup, django_db_blocker):
    app.conf.task_always_eager = False
    with (
        django_db_blocker.unblock(),
        start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as worker,
    ):
        yield worker


def committed(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` on a separate connection in autocommit mode, so the worker sees its writes
    (and ``transaction.on_commit`` fires at once, queueing tasks as in production)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised in the test thread
            box["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=120)
    if "error" in box:
        raise box["error"]
    return box.get("value")


def in_tenant(slug: str, fn: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        with tenant_context(Tenant.objects.get(slug=slug)):
            return fn()

    return run


def markdown() -> str:
    return "".join(f"# {h}\n\n{t}\n\n" for h, t in SECTIONS)


@pytest.fixture
def committed_kb(celery_worker, django_db_blocker):
    with django_db_blocker.unblock():
        kb_id = committed(
            in_tenant("alpha", lambda: services.knowledge_base_create(name="Worker KB").id)
        )
        yield kb_id
        committed(
            in_tenant(
                "alpha",
                lambda: services.knowledge_base_delete(
                    knowledge_base=KnowledgeBase.objects.get(id=kb_id)
                ),
            )
        )


def wait_for(source_id: int, statuses: set[str], timeout: float = 90) -> Source:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        source = Source.objects.get(id=source_id)
        if source.status in statuses:
            return source
        time.sleep(0.2)
    raise AssertionError(f"source {source_id} still {source.status} after {timeout} s")


def test_worker_ingests_a_queued_source_in_its_tenant(committed_kb, in_tenant_a, django_db_blocker):
    with django_db_blocker.unblock():
        source_id = committed(
            in_tenant(
                "alpha",
                lambda: (
                    services.source_create_text(
                        knowledge_base=KnowledgeBase.objects.get(id=committed_kb),
                        title="Policies",
                        text=markdown(),
                    ).id
                ),
            )
        )
    source = wait_for(source_id, {SourceStatus.READY, SourceStatus.FAILED})
    assert source.status == SourceStatus.READY, source.status_reason
    assert source.chunk_count == len(SECTIONS)
    assert Embedding.objects.filter(source_id=source_id).count() == len(SECTIONS)


def test_interrupted_run_is_retried_and_leaves_no_duplicates(
    committed_kb, in_tenant_a, django_db_blocker, settings
):
    settings.KNOWLEDGE_EMBED_BATCH_SIZE = 2
    real = services._insert_embeddings
    calls = {"n": 0}

    def lose_the_database_after_the_first_batch(*args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OperationalError("server closed the connection unexpectedly")
        real(*args, **kwargs)

    services._insert_embeddings = lose_the_database_after_the_first_batch
    try:
        with django_db_blocker.unblock():
            source_id = committed(
                in_tenant(
                    "alpha",
                    lambda: (
                        services.source_create_text(
                            knowledge_base=KnowledgeBase.objects.get(id=committed_kb),
                            title="Policies",
                            text=markdown(),
                        ).id
                    ),
                )
            )
        source = wait_for(source_id, {SourceStatus.READY, SourceStatus.FAILED})
    finally:
        services._insert_embeddings = real
    assert source.status == SourceStatus.READY, source.status_reason
    assert calls["n"] >= 4  # batch 1, the failure, then the rest on the retry
    chunks = Chunk.objects.filter(source_id=source_id)
    assert chunks.count() == len(SECTIONS)
    assert chunks.values("content_hash").distinct().count() == len(SECTIONS)
    assert Embedding.objects.filter(source_id=source_id).count() == len(SECTIONS)
