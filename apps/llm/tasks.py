"""Celery tasks of the LLM layer: ids in, one service call. The tenant schema travels in the
message headers (tenant-schemas-celery), so the task reads the sending tenant's provider and
writes progress under that tenant's cache keys."""

from __future__ import annotations

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from apps.llm import ollama

# Big models are tens of gigabytes: a pull may take much longer than the default task limit.
PULL_TIME_LIMIT_SECONDS = 6 * 3600


@shared_task(
    name="llm.ollama_pull",
    acks_late=True,
    reject_on_worker_lost=True,  # Ollama resumes a partial download when pulled again
    time_limit=PULL_TIME_LIMIT_SECONDS + 60,
    soft_time_limit=PULL_TIME_LIMIT_SECONDS,
)
def ollama_pull(provider_id: int, model: str) -> str:
    try:
        return ollama.ollama_pull_run(provider_id=provider_id, model=model).status
    except SoftTimeLimitExceeded:
        ollama.pull_failed(provider_id=provider_id, model=model, message="The pull took too long.")
        return ollama.PullStatus.ERROR
