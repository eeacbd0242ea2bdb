"""A worker process killed (SIGKILL) in the middle of a source loses nothing and duplicates
nothing: the late-acknowledged message goes back to the queue, a new worker resumes from the
batches the first one committed, and the source ends with exactly one chunk per section."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings
from django.db import connection
from django_tenants.utils import tenant_context

from apps.knowledge import services
from apps.knowledge.models import Chunk, Embedding, KnowledgeBase, Source, SourceStatus
from apps.tenants.models import Tenant

BASE_DIR = Path(__file__).resolve().parents[2]
SECTIONS = 120


def committed(fn):
    box = {}

    def target():
        try:
            with tenant_context(Tenant.objects.get(slug="alpha")):
                box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=60)
    if "error" in box:
        raise box["error"]
    return box.get("value")


def start_worker(prefix: str, queue: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "TEST_SERVER_DATABASE_NAME": settings.DATABASES["default"]["NAME"],
        "KB_TEST_BROKER_PREFIX": prefix,
        "KB_TEST_QUEUE": queue,
        "KNOWLEDGE_EMBED_BATCH_SIZE": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.knowledge.worker_main"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.django_db
def test_killed_worker_is_replaced_without_loss_or_duplicates(django_db_blocker, in_tenant_a):
    text = "".join(
        f"# Section {i}\n\nParagraph number {i} explains rule {i * 7} of the handbook.\n\n"
        for i in range(SECTIONS)
    )
    with django_db_blocker.unblock():
        kb_id = committed(
            lambda: services.knowledge_base_create(name=f"Killed {uuid.uuid4().hex[:6]}").id
        )
        source_id = committed(
            lambda: (
                services.source_create_text(
                    knowledge_base=KnowledgeBase.objects.get(id=kb_id),
                    title="Rules",
                    text=text,
                    queue=False,
                ).id
            )
        )
    prefix, queue = f"kb-kill-{uuid.uuid4().hex[:8]}:", f"kb-kill-{uuid.uuid4().hex[:8]}"
    sender = Celery(broker=settings.CELERY_BROKER_URL)
    sender.conf.broker_transport_options = {"global_keyprefix": prefix, "visibility_timeout": 3}
    first = start_worker(prefix, queue)
    second = None
    try:
        sender.send_task(
            "knowledge.ingest_source",
            args=[source_id],
            queue=queue,
            headers={"_schema_name": "alpha"},
        )
        wait(
            lambda: Chunk.objects.filter(source_id=source_id).count() >= 3, 240, "the first batches"
        )
        stop(first)  # SIGKILL in the middle of the source
        written = Chunk.objects.filter(source_id=source_id).count()
        assert 3 <= written < SECTIONS
        assert Source.objects.get(id=source_id).status == SourceStatus.PROCESSING

        second = start_worker(prefix, queue)
        source = wait(
            lambda: Source.objects.filter(
                id=source_id, status__in=[SourceStatus.READY, SourceStatus.FAILED]
            ).first(),
            240,
            "the redelivered task",
        )
        assert source.status == SourceStatus.READY, source.status_reason
        chunks = Chunk.objects.filter(source_id=source_id)
        assert chunks.count() == SECTIONS == source.chunk_count
        assert chunks.values("content_hash").distinct().count() == SECTIONS
        assert Embedding.objects.filter(source_id=source_id).count() == SECTIONS
    finally:
        stop(first)
        if second is not None:
            stop(second)
        with django_db_blocker.unblock():
            committed(
                lambda: services.knowledge_base_delete(
                    knowledge_base=KnowledgeBase.objects.get(id=kb_id)
                )
            )
