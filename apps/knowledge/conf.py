"""The knowledge app's settings, read when needed (never at import time), with defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings

_REPOSITORY = Path(__file__).resolve().parents[2]

DEFAULTS: dict[str, Any] = {
    "KNOWLEDGE_MAX_UPLOAD_BYTES": 50 * 1024 * 1024,
    "KNOWLEDGE_MAX_FETCH_BYTES": 20 * 1024 * 1024,
    "KNOWLEDGE_MAX_TEXT_CHARS": 20_000_000,
    "KNOWLEDGE_MAX_PAGE_CHARS": 1_000_000,
    "KNOWLEDGE_FETCH_ALLOW_LOOPBACK": False,
    "KNOWLEDGE_FETCH_TIMEOUT_SECONDS": 20.0,
    "KNOWLEDGE_CRAWL_MAX_PAGES": 500,
    "KNOWLEDGE_CRAWL_MAX_DEPTH": 5,
    "KNOWLEDGE_CHUNK_TOKENS": 200,
    "KNOWLEDGE_CHUNK_OVERLAP_TOKENS": 30,
    "KNOWLEDGE_EMBED_BATCH_SIZE": 64,
    "KNOWLEDGE_RRF_K": 10,
    "KNOWLEDGE_DENSE_WEIGHT": 1.0,
    "KNOWLEDGE_KEYWORD_WEIGHT": 0.75,
    "KNOWLEDGE_CANDIDATES": 40,
    "KNOWLEDGE_HNSW_EF_SEARCH": 100,
    "KNOWLEDGE_RERANKER": "",
    "KNOWLEDGE_LOCAL_EMBEDDING_DTYPE": "auto",
    "KNOWLEDGE_LOCAL_EMBEDDER": "auto",
    "KNOWLEDGE_LOCAL_EMBEDDER_ONNX": str(_REPOSITORY / "var/models/all-MiniLM-L6-v2.onnx"),
    "KNOWLEDGE_LOCAL_EMBEDDER_THREADS": 0,
}


def setting(name: str) -> Any:
    return getattr(settings, name, DEFAULTS[name])


def current_schema() -> str:
    """The schema the default connection is set to (django-tenants' backend attribute)."""
    from django.db import connection

    return str(getattr(connection, "schema_name", "public"))
