"""Re-ingesting: unchanged content embeds nothing, changed content embeds only changed chunks,
and a rerun after an interruption finishes without duplicates."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from apps.knowledge import services
from apps.knowledge.models import Chunk, Embedding, SourceStatus
from tests.knowledge.conftest import ingest

SECTIONS = {
    "Returns": "Customers may return unused products within 30 days for a full refund.",
    "Shipping": "Orders placed before noon ship the same business day from our warehouse.",
    "Warranty": "All devices carry a two year warranty covering manufacturing defects.",
    "Support": "Our support team answers emails within one business day, weekdays only.",
}


def markdown(sections: dict[str, str]) -> bytes:
    return "".join(f"# {h}\n\n{t}\n\n" for h, t in sections.items()).encode()


def upload(kb, data: bytes, name: str = "policies.md"):
    return services.source_create_file(
        knowledge_base=kb, uploaded_file_or_path=SimpleUploadedFile(name, data)
    )


def test_first_ingestion_embeds_every_chunk_once(kb, embed_counter):
    source = ingest(upload(kb, markdown(SECTIONS)))
    assert source.status == SourceStatus.READY
    assert source.chunk_count == 4
    assert len(embed_counter.documents) == 4
    assert Embedding.objects.filter(source=source).count() == 4
    assert source.progress == 100 and source.ingested_at is not None


def test_unchanged_source_is_not_embedded_again(kb, embed_counter):
    source = ingest(upload(kb, markdown(SECTIONS)))
    first_chunks = set(Chunk.objects.filter(source=source).values_list("id", flat=True))
    embed_counter.reset()
    source = ingest(source)
    assert embed_counter.documents == []
    assert source.status == SourceStatus.READY
    assert set(Chunk.objects.filter(source=source).values_list("id", flat=True)) == first_chunks


def test_changed_source_embeds_only_changed_chunks(kb, embed_counter):
    source = ingest(upload(kb, markdown(SECTIONS)))
    kept = dict(Chunk.objects.filter(source=source).values_list("heading", "id"))
    changed = {**SECTIONS, "Shipping": "Orders ship within two business days from Lyon."}
    del changed["Support"]
    changed["Privacy"] = "We never sell personal data and delete it on request."
    embed_counter.reset()
    source = ingest(
        services.source_replace_file(
            source=source,
            uploaded_file_or_path=SimpleUploadedFile("policies.md", markdown(changed)),
        )
    )
    assert source.status == SourceStatus.READY
    assert sorted(embed_counter.documents) == sorted(
        [f"Shipping\n{changed['Shipping']}", f"Privacy\n{changed['Privacy']}"]
    )
    now = dict(Chunk.objects.filter(source=source).values_list("heading", "id"))
    assert set(now) == {"Returns", "Shipping", "Warranty", "Privacy"}
    assert now["Returns"] == kept["Returns"] and now["Warranty"] == kept["Warranty"]
    assert now["Shipping"] != kept["Shipping"]
    assert source.chunk_count == 4
    assert Embedding.objects.filter(source=source).count() == 4
    assert list(
        Chunk.objects.filter(source=source).order_by("ordinal").values_list("heading", flat=True)
    ) == ["Returns", "Shipping", "Warranty", "Privacy"]


def test_force_reingest_keeps_vectors_of_unchanged_chunks(kb, embed_counter):
    source = ingest(upload(kb, markdown(SECTIONS)))
    embed_counter.reset()
    source = ingest(source, force=True)
    assert embed_counter.documents == []
    assert source.chunk_count == 4


def test_rerun_after_an_interruption_completes_without_duplicates(kb, embed_counter, settings):
    """A run that dies after its first batch committed leaves a partial source; the retry embeds
    only what is missing and ends with exactly one chunk per section."""
    settings.KNOWLEDGE_EMBED_BATCH_SIZE = 2
    source = upload(kb, markdown(SECTIONS))
    calls = {"n": 0}
    real = services._insert_embeddings

    def crash_on_second_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("worker killed")  # not an Exception: nothing catches it
        return real(*args, **kwargs)

    services._insert_embeddings = crash_on_second_batch
    try:
        services.source_ingest(source_id=source.id)
    except KeyboardInterrupt:
        pass
    finally:
        services._insert_embeddings = real
    source.refresh_from_db()
    assert source.status == SourceStatus.PROCESSING
    assert Chunk.objects.filter(source=source).count() == 2
    embed_counter.reset()
    source = ingest(source)
    assert source.status == SourceStatus.READY
    assert len(embed_counter.documents) == 2
    assert Chunk.objects.filter(source=source).count() == 4
    assert Embedding.objects.filter(source=source).count() == 4
    assert Chunk.objects.filter(source=source).values("content_hash").distinct().count() == 4


def test_a_source_being_ingested_by_another_worker_is_left_alone(kb, embed_counter):
    from django.db import connections

    source = upload(kb, markdown(SECTIONS))
    other = connections.create_connection("default")  # another worker's session
    key = f"alpha:knowledge.source:{source.id}"
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [key])
        assert services.source_ingest(source_id=source.id) == "busy"
        assert embed_counter.documents == []
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [key])
        assert services.source_ingest(source_id=source.id) == "ingested"
    finally:
        other.close()


def test_status_moves_from_queued_to_ready_with_timestamps(kb):
    source = upload(kb, markdown(SECTIONS))
    assert (source.status, source.progress, source.ingested_at) == (SourceStatus.QUEUED, 0, None)
    source = ingest(source)
    assert source.status == SourceStatus.READY and source.status_reason == ""
    assert source.processing_started_at <= source.ingested_at
    assert source.last_checked_at is not None and len(source.content_hash) == 64


def test_a_file_missing_from_storage_fails_with_a_reason(kb):
    source = upload(kb, markdown(SECTIONS))
    source.file.storage.delete(source.file.name)
    source = ingest(source)
    assert source.status == SourceStatus.FAILED
    assert source.error_code == "file_missing"
    assert "upload it again" in source.status_reason


def test_a_failed_source_recovers_when_fixed(kb):
    source = ingest(services.source_create_text(knowledge_base=kb, title="t", text="x" * 10))
    assert source.status == SourceStatus.READY
    bad = ingest(upload(kb, b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, name="a.png"))
    assert bad.status == SourceStatus.FAILED
    fixed = ingest(
        services.source_replace_file(
            source=bad, uploaded_file_or_path=SimpleUploadedFile("a.md", markdown(SECTIONS))
        )
    )
    assert (
        fixed.status == SourceStatus.READY and fixed.status_reason == "" and fixed.error_code == ""
    )
