"""Knowledge bases: documents chunked and embedded for retrieval (tenant data)."""

from __future__ import annotations

from django.db import models

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

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
