"""Knowledge tests run with the network blocked: any attempt to reach beyond this machine
(a model or NLP-data download, telemetry, a DNS look-up) fails the test that made it.

Loopback (PostgreSQL, Redis, the test HTTP servers) and unix sockets stay allowed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django_tenants.utils import tenant_context

from apps.knowledge import embeddings, services
from apps.knowledge.models import KnowledgeBase, Source
from tests.network import NetworkGuard


@pytest.fixture(autouse=True)
def network_blocked(monkeypatch: pytest.MonkeyPatch) -> Iterator[NetworkGuard]:
    guard = NetworkGuard()
    guard.install(monkeypatch)
    yield guard
    assert not guard.attempts, f"the test tried to reach the network: {guard.attempts}"


class EmbedCounter:
    """Wraps the real embedders and counts the texts each model was asked to embed."""

    def __init__(self) -> None:
        self.documents: list[str] = []
        self.queries: list[str] = []

    def reset(self) -> None:
        self.documents.clear()
        self.queries.clear()


@pytest.fixture
def embed_counter(monkeypatch: pytest.MonkeyPatch) -> EmbedCounter:
    counter = EmbedCounter()
    real = embeddings.get_embedder

    class Counting:
        def __init__(self, inner: Any) -> None:
            self.inner = inner
            self.model = inner.model
            self.dimensions = inner.dimensions

        def embed_documents(self, texts: Any) -> Any:
            counter.documents.extend(texts)
            return self.inner.embed_documents(texts)

        def embed_query(self, text: str) -> Any:
            counter.queries.append(text)
            return self.inner.embed_query(text)

    monkeypatch.setattr(embeddings, "get_embedder", lambda *a, **k: Counting(real(*a, **k)))
    return counter


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def kb(in_tenant_a, media_root) -> KnowledgeBase:
    return services.knowledge_base_create(name="Handbook", description="Company handbook")


@pytest.fixture
def kb_b(tenant_b, media_root) -> KnowledgeBase:
    """A knowledge base of the same name in tenant beta; use it inside beta's context."""
    with tenant_context(tenant_b):
        return services.knowledge_base_create(name="Handbook")


def ingest(source: Source, **kwargs: Any) -> Source:
    """Run the ingestion pipeline inline (what the Celery task does) and reload the source."""
    services.source_ingest(source_id=source.id, **kwargs)
    source.refresh_from_db()
    return source
