"""Changing a knowledge base's embedding model re-embeds in the background while the old
vectors keep serving; Ollama embeddings go through LiteLLM with the provider's settings."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from apps.core.errors import Conflict, InvalidInput
from apps.knowledge import selectors, services
from apps.knowledge.models import Embedding, SourceStatus
from apps.llm.models import Provider, ProviderKind
from tests.knowledge.conftest import ingest

DIMS = 768


def fake_vector(text: str) -> list[float]:
    """Bag of hashed words: texts sharing words get similar vectors."""
    vector = np.zeros(DIMS)
    for word in text.lower().replace("?", " ").replace(".", " ").split():
        vector[int(hashlib.sha256(word.encode()).hexdigest(), 16) % DIMS] += 1.0
    return (vector / max(np.linalg.norm(vector), 1e-9)).tolist()


class FakeOllama:
    def __init__(self) -> None:
        self.inputs: list[str] = []

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                assert self.path == "/api/embed" and body["model"] == "nomic-embed-text"
                fake.inputs.extend(body["input"])
                # Real Ollama reports prompt_eval_count; LiteLLM 1.106 breaks without it.
                reply = json.dumps(
                    {
                        "model": body["model"],
                        "embeddings": [fake_vector(t) for t in body["input"]],
                        "prompt_eval_count": sum(len(t.split()) for t in body["input"]),
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@pytest.fixture
def ollama(in_tenant_a) -> Iterator[tuple[FakeOllama, Provider]]:
    fake = FakeOllama()
    server = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    provider = Provider.objects.create(
        name="Office GPU",
        kind=ProviderKind.OLLAMA,
        api_base=f"http://127.0.0.1:{server.server_address[1]}",
    )
    yield fake, provider
    server.shutdown()
    server.server_close()


def add(kb, title, text):
    source = ingest(services.source_create_text(knowledge_base=kb, title=title, text=text))
    assert source.status == SourceStatus.READY, source.status_reason
    return source


def test_old_vectors_serve_until_the_new_model_is_complete(
    kb, ollama, django_capture_on_commit_callbacks
):
    fake, provider = ollama
    add(kb, "Holidays", "Employees receive twenty five days of paid vacation per year.")
    add(kb, "Parking", "Visitors park in the underground garage near the entrance.")
    with django_capture_on_commit_callbacks() as callbacks:
        services.knowledge_base_change_embedding(
            knowledge_base=kb,
            embedding_model="ollama/nomic-embed-text",
            embedding_provider=provider,
        )
    assert len(callbacks) == 1  # the background re-embedding task
    kb.refresh_from_db()
    assert kb.embedding_model == "local/all-MiniLM-L6-v2"
    assert kb.pending_embedding_model == "ollama/nomic-embed-text"
    before = selectors.knowledge_retrieve(query="paid vacation days", knowledge_base_ids=[kb.id])
    assert before.chunks[0].title == "Holidays"
    assert fake.inputs == []  # queries still use the old model

    # A source added meanwhile is embedded with both models.
    added = add(kb, "Security", "Report a lost laptop to the helpdesk at once.")
    assert set(Embedding.objects.filter(source=added).values_list("model", flat=True)) == {
        "local/all-MiniLM-L6-v2",
        "ollama/nomic-embed-text",
    }

    assert services.knowledge_base_reembed(knowledge_base_id=kb.id) == "switched"
    kb.refresh_from_db()
    assert (kb.embedding_model, kb.embedding_dimensions, kb.pending_embedding_model) == (
        "ollama/nomic-embed-text",
        DIMS,
        "",
    )
    assert set(Embedding.objects.filter(knowledge_base=kb).values_list("model", "dimensions")) == {
        ("ollama/nomic-embed-text", DIMS)
    }
    assert Embedding.objects.filter(knowledge_base=kb).count() == 3
    assert all(text.startswith("search_document: ") for text in fake.inputs)

    after = selectors.knowledge_retrieve(
        query="where do visitors park?", knowledge_base_ids=[kb.id]
    )
    assert after.chunks[0].title == "Parking"
    assert fake.inputs[-1] == "search_query: where do visitors park?"


def test_a_new_source_after_the_switch_uses_only_the_new_model(kb, ollama):
    _, provider = ollama
    services.knowledge_base_change_embedding(
        knowledge_base=kb, embedding_model="ollama/nomic-embed-text", embedding_provider=provider
    )
    services.knowledge_base_reembed(knowledge_base_id=kb.id)
    kb.refresh_from_db()
    source = add(kb, "Invoices", "Invoices are sent on the first working day of the month.")
    assert list(Embedding.objects.filter(source=source).values_list("model", flat=True)) == [
        "ollama/nomic-embed-text"
    ]


def test_create_with_a_provider_model_records_model_and_dimension(in_tenant_a, ollama):
    _, provider = ollama
    kb = services.knowledge_base_create(
        name="GPU docs", embedding_model="ollama/nomic-embed-text", embedding_provider=provider
    )
    assert (kb.embedding_model, kb.embedding_dimensions) == ("ollama/nomic-embed-text", DIMS)


def test_invalid_models_and_names_are_refused(in_tenant_a, kb):
    with pytest.raises(InvalidInput):
        services.knowledge_base_create(name="X", embedding_model="local/some-other-model")
    with pytest.raises(InvalidInput):
        services.knowledge_base_create(
            name="Y", embedding_model="ollama/nomic-embed-text"
        )  # no provider
    with pytest.raises(Conflict):
        services.knowledge_base_create(name="Handbook")
    with pytest.raises(InvalidInput):
        services.knowledge_base_create(name="  ")
