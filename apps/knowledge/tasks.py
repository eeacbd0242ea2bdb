"""Celery tasks: ids in, one service call. The tenant schema travels in the message headers.

Tasks are late-acknowledged (settings: acks_late, reject_on_worker_lost): a worker killed in
the middle of a source leaves the message unacknowledged, another worker runs it again, and the
service resumes from what was written (chunks are keyed by content hash, so nothing is
duplicated and finished batches are not embedded again).
"""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from apps.knowledge import services


@shared_task(
    name="knowledge.ingest_source",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=8,
)
def ingest_source(self, source_id: int, force: bool = False) -> str:
    outcome = services.source_ingest(source_id=source_id, force=force)
    if outcome == "busy":
        # Another worker is on this source; run again after it, so newer content is not lost.
        raise self.retry(countdown=15, max_retries=40)
    return outcome


@shared_task(
    name="knowledge.reembed_knowledge_base",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=8,
)
def reembed_knowledge_base(self, knowledge_base_id: int) -> str:
    outcome = services.knowledge_base_reembed(knowledge_base_id=knowledge_base_id)
    if outcome == "busy":
        raise self.retry(countdown=30, max_retries=40)
    return outcome


@shared_task(name="knowledge.resync_url_sources")
def resync_url_sources() -> int:
    """Celery beat: for every tenant, queue a re-sync of its URL and crawl sources."""
    from django_tenants.utils import get_public_schema_name, tenant_context

    from apps.tenants.models import Tenant

    queued = 0
    for tenant in Tenant.objects.exclude(schema_name=get_public_schema_name()):
        with tenant_context(tenant):
            queued += services.sources_resync_due()
    return queued
