"""Deleting a source deletes its chunks, vectors and stored file; deleting a knowledge base
deletes its sources."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from apps.knowledge import services
from apps.knowledge.models import Chunk, Embedding, Source
from tests.knowledge.conftest import ingest


def test_source_delete_removes_chunks_vectors_and_file(
    kb, media_root, django_capture_on_commit_callbacks
):
    source = ingest(
        services.source_create_file(
            knowledge_base=kb,
            uploaded_file_or_path=SimpleUploadedFile("a.md", b"# A\n\nSome text here.\n"),
        )
    )
    other = ingest(services.source_create_text(knowledge_base=kb, title="B", text="Other text."))
    path = source.file.path
    assert Chunk.objects.filter(source=source).exists()
    with django_capture_on_commit_callbacks(execute=True):
        services.source_delete(source=source)
    assert not Source.objects.filter(id=source.id).exists()
    assert not Chunk.objects.filter(source_id=source.id).exists()
    assert not Embedding.objects.filter(source_id=source.id).exists()
    assert not __import__("os").path.exists(path)
    assert Chunk.objects.filter(source=other).count() == 1


def test_knowledge_base_delete_removes_everything(kb, media_root):
    ingest(services.source_create_text(knowledge_base=kb, title="B", text="Other text."))
    services.knowledge_base_delete(knowledge_base=kb)
    assert (
        not Chunk.objects.exists()
        and not Embedding.objects.exists()
        and not Source.objects.exists()
    )
