"""Knowledge bases: documents chunked and embedded for retrieval (tenant data).

A ``KnowledgeBase`` holds ``Source``s (a file, a URL, a website crawl or pasted text). Ingestion
turns a source into ``Chunk``s (a section of text with its heading, page and URL) and gives each
chunk one ``Embedding`` per embedding model in use: the knowledge base's current model, plus the
model it is moving to while a re-embedding runs in the background (the old vectors keep serving
until the new ones are complete).
"""

from __future__ import annotations

from django.db import models
from pgvector.django import VectorField

DEFAULT_EMBEDDING_MODEL = "local/all-MiniLM-L6-v2"
DEFAULT_EMBEDDING_DIMENSIONS = 384


class KnowledgeBase(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    # "local/all-MiniLM-L6-v2", "ollama/nomic-embed-text", "openai/text-embedding-3-small", ...
    embedding_model = models.CharField(max_length=200, default=DEFAULT_EMBEDDING_MODEL)
    embedding_dimensions = models.PositiveIntegerField(default=DEFAULT_EMBEDDING_DIMENSIONS)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Credentials for a non-local embedding model (an Ollama server, an OpenAI account).
    embedding_provider = models.ForeignKey(
        "llm.Provider", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Set while the knowledge base moves to another embedding model; cleared when it is done.
    pending_embedding_model = models.CharField(max_length=200, blank=True)
    pending_embedding_dimensions = models.PositiveIntegerField(null=True, blank=True)
    pending_embedding_provider = models.ForeignKey(
        "llm.Provider", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reembed_error = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SourceKind(models.TextChoices):
    FILE = "file", "File"
    URL = "url", "Web page"
    CRAWL = "crawl", "Website crawl"
    TEXT = "text", "Pasted text"


class SourceStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    PROCESSING = "processing", "Processing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


def source_upload_to(instance: Source, filename: str) -> str:
    # The schema name keeps tenants' files apart on disk as they are in the database.
    from apps.knowledge.conf import current_schema

    return f"knowledge/{current_schema()}/{instance.storage_key}/{filename}"


class Source(models.Model):
    knowledge_base = models.ForeignKey(
        KnowledgeBase, on_delete=models.CASCADE, related_name="sources"
    )
    kind = models.CharField(max_length=16, choices=SourceKind.choices)
    title = models.CharField(max_length=300)
    # What the operator gave (a path or a URL), so that ingesting it again finds this source.
    origin = models.CharField(max_length=2000, blank=True)
    url = models.URLField(max_length=2000, blank=True)
    file = models.FileField(upload_to=source_upload_to, max_length=500, blank=True)
    file_name = models.CharField(max_length=255, blank=True)
    storage_key = models.CharField(max_length=32, blank=True)
    text = models.TextField(blank=True)
    crawl_max_depth = models.PositiveSmallIntegerField(default=2)
    crawl_max_pages = models.PositiveIntegerField(default=50)
    metadata = models.JSONField(default=dict, blank=True)

    status = models.CharField(
        max_length=16, choices=SourceStatus.choices, default=SourceStatus.QUEUED
    )
    # Why a source failed, in words a person understands; ``error_code`` is for programs.
    status_reason = models.TextField(blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    progress = models.PositiveSmallIntegerField(default=0)
    chunk_count = models.PositiveIntegerField(default=0)
    page_count = models.PositiveIntegerField(default=0)
    byte_size = models.BigIntegerField(default=0)
    content_type = models.CharField(max_length=100, blank=True)
    # SHA-256 of what was extracted from (file bytes, fetched pages, pasted text).
    content_hash = models.CharField(max_length=64, blank=True)
    # What the chunks reflect now: content hash + pipeline version + embedding model(s).
    ingest_key = models.CharField(max_length=64, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    processing_started_at = models.DateTimeField(null=True, blank=True)
    ingested_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["knowledge_base", "title", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["knowledge_base", "origin"],
                condition=~models.Q(origin=""),
                name="knowledge_source_unique_origin",
            )
        ]
        indexes = [models.Index(fields=["kind", "status"], name="knowledge_source_kind_status")]

    def __str__(self) -> str:
        return self.title


class Chunk(models.Model):
    """A section of a source's text, small enough to embed and to quote."""

    knowledge_base = models.ForeignKey(
        KnowledgeBase, on_delete=models.CASCADE, related_name="chunks"
    )
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="chunks")
    ordinal = models.PositiveIntegerField()
    # SHA-256 of heading + text: an unchanged chunk keeps its row and its vectors.
    content_hash = models.CharField(max_length=64)
    heading = models.CharField(max_length=500, blank=True)
    text = models.TextField()
    page = models.PositiveIntegerField(null=True, blank=True)
    # The page a crawl found this chunk on; "" for files and pasted text.
    url = models.CharField(max_length=2000, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    token_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["source", "ordinal"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "content_hash"], name="knowledge_chunk_unique_content"
            )
        ]

    def __str__(self) -> str:
        return f"{self.source_id}#{self.ordinal}"


class Embedding(models.Model):
    """One chunk's vector from one embedding model (cosine distance).

    The column has no fixed dimension so that knowledge bases may use different models; one
    partial HNSW index per common dimension (see migration 0002) serves the searches.
    """

    chunk = models.ForeignKey(Chunk, on_delete=models.CASCADE, related_name="embeddings")
    knowledge_base = models.ForeignKey(KnowledgeBase, on_delete=models.CASCADE, related_name="+")
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="+")
    model = models.CharField(max_length=200)
    dimensions = models.PositiveIntegerField()
    embedding = VectorField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chunk", "model"], name="knowledge_embedding_unique")
        ]
        indexes = [models.Index(fields=["knowledge_base", "model"], name="knowledge_emb_kb_model")]

    def __str__(self) -> str:
        return f"{self.chunk_id}:{self.model}"
