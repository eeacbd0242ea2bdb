"""Reads: knowledge bases, sources, and hybrid retrieval over their chunks.

``knowledge_retrieve`` runs, inside the caller's tenant schema:
1. the query embedding, once per embedding model among the knowledge bases (local model:
   cached per process);
2. dense search: pgvector HNSW (cosine) over the model's vectors, with iterative index scans
   so that filters (knowledge base, source, metadata) still fill the candidate list;
3. keyword search: BM25 (pg_search) on heading and text with English stemming, or PostgreSQL
   full-text search where the schema has no BM25 index (detected at run time, per schema);
4. reciprocal rank fusion: score = sum over lists of weight / (k + rank), divided by its
   maximum (every list ranking the chunk first), so scores lie in (0, 1];
5. an optional reranker (``KNOWLEDGE_RERANKER``) and the ``min_score`` cutoff.
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils.module_loading import import_string

from apps.core.errors import NotFound
from apps.knowledge import embeddings
from apps.knowledge.conf import current_schema, setting
from apps.knowledge.models import KnowledgeBase, Source

SNIPPET_CHARS = 300
HNSW_DIMENSIONS = (384, 768, 1024, 1536)  # the partial indexes of migration 0003


@dataclass(frozen=True)
class RetrievedChunk:
    chunk_id: int
    source_id: int
    knowledge_base_id: int
    title: str  # source title or file name (for a crawl, the page's title)
    url: str  # "" when not a URL source
    page: int | None
    heading: str
    text: str
    score: float  # fused score, higher is better

    def as_source(self) -> dict:
        """What the widget and the API show as a citation."""
        snippet = " ".join(self.text.split())
        if len(snippet) > SNIPPET_CHARS:
            snippet = snippet[: SNIPPET_CHARS - 1].rsplit(" ", 1)[0] + "…"
        return {"title": self.title, "url": self.url, "page": self.page, "snippet": snippet}


@dataclass(frozen=True)
class RetrievalResult:
    chunks: list[RetrievedChunk]
    embedding_ms: float
    search_ms: float


# --- Simple reads -------------------------------------------------------------------------------


def knowledge_base_list() -> list[KnowledgeBase]:
    return list(KnowledgeBase.objects.all())


def knowledge_base_overview() -> list[KnowledgeBase]:
    """Knowledge bases with ``source_total``, ``failed_total`` and ``chunk_total``."""
    from django.db.models import Count, Q, Sum

    return list(
        KnowledgeBase.objects.annotate(
            source_total=Count("sources"),
            failed_total=Count("sources", filter=Q(sources__status="failed")),
            chunk_total=Sum("sources__chunk_count", default=0),
        )
    )


def knowledge_base_get(*, name: str | None = None, id: int | None = None) -> KnowledgeBase:
    kb = KnowledgeBase.objects.filter(**({"id": id} if id is not None else {"name": name})).first()
    if kb is None:
        raise NotFound(f"No knowledge base '{name or id}'.", code="knowledge_base_not_found")
    return kb


def source_list(*, knowledge_base: KnowledgeBase) -> list[Source]:
    return list(Source.objects.filter(knowledge_base=knowledge_base).order_by("-created_at", "-id"))


def source_get(*, source_id: int, knowledge_base: KnowledgeBase | None = None) -> Source:
    query = Source.objects.select_related("knowledge_base").filter(id=source_id)
    if knowledge_base is not None:
        query = query.filter(knowledge_base=knowledge_base)
    source = query.first()
    if source is None:
        raise NotFound("No such source.", code="source_not_found")
    return source


def source_find(*, knowledge_base: KnowledgeBase, origin: str) -> Source | None:
    return Source.objects.filter(knowledge_base=knowledge_base, origin=origin).first()


# --- Retrieval ----------------------------------------------------------------------------------


def knowledge_retrieve(
    *,
    query: str,
    knowledge_base_ids: Sequence[int],
    limit: int = 5,
    source_ids: Sequence[int] | None = None,
    metadata: dict | None = None,
    min_score: float | None = None,
) -> RetrievalResult:
    """The best chunks for ``query`` in the given knowledge bases, best first."""
    query = " ".join((query or "").split())[:2000]
    kb_ids = [int(i) for i in knowledge_base_ids]
    if not query or not kb_ids or limit <= 0:
        return RetrievalResult([], 0.0, 0.0)
    started = time.perf_counter()
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    providers: dict[tuple[str, int], int | None] = {}
    with connection.cursor() as cursor:  # raw SQL: this runs on every question
        cursor.execute(
            "SELECT id, embedding_model, embedding_dimensions, embedding_provider_id "
            "FROM knowledge_knowledgebase WHERE id = ANY(%s)",
            [kb_ids],
        )
        rows = cursor.fetchall()
    for kb_id, model, dims, provider_id in rows:
        groups[(model, dims)].append(kb_id)
        providers[(model, dims)] = provider_id
    if not groups:
        return RetrievalResult([], 0.0, 0.0)
    lookup_s = time.perf_counter() - started

    # A weight of 0 switches a retriever off (e.g. to measure the other one alone).
    dense_weight = setting("KNOWLEDGE_DENSE_WEIGHT")
    keyword_weight = setting("KNOWLEDGE_KEYWORD_WEIGHT")
    embed_started = time.perf_counter()
    vectors = (
        {key: _query_vector(key, providers[key], query) for key in groups}
        if dense_weight > 0
        else {}
    )
    embedding_ms = (time.perf_counter() - embed_started) * 1000

    search_started = time.perf_counter()
    candidates = setting("KNOWLEDGE_CANDIDATES")
    wanted = max(candidates, limit)
    reranker = _reranker()
    filters = _Filters(
        kb_ids=[i for ids in groups.values() for i in ids],
        source_ids=[int(i) for i in source_ids] if source_ids is not None else None,
        metadata=json.dumps(metadata) if metadata else None,
    )
    with transaction.atomic(), connection.cursor() as cursor:
        # For this transaction only: HNSW breadth, filtered scans that keep going until the
        # candidate list is full, and no parallel workers (starting them costs more than the
        # search itself at this size; measured in docs/benchmarks.md).
        cursor.execute(
            f"SET LOCAL hnsw.ef_search = {int(setting('KNOWLEDGE_HNSW_EF_SEARCH'))}; "
            "SET LOCAL hnsw.iterative_scan = relaxed_order; "
            "SET LOCAL max_parallel_workers_per_gather = 0"
        )
        dense: list[int] = []
        for (model, dims), kb_group in groups.items() if vectors else ():
            dense.extend(
                _dense(cursor, model, dims, vectors[(model, dims)], kb_group, filters, wanted)
            )
        keyword = _keyword(cursor, query, filters, wanted) if keyword_weight > 0 else []
    fused = fuse(
        [dense, keyword], weights=[dense_weight, keyword_weight], k=setting("KNOWLEDGE_RRF_K")
    )
    pool = max(limit * 4, 20) if reranker else limit
    if min_score is not None:
        fused = [(cid, score) for cid, score in fused if score >= min_score]
    chunks = _hydrate(fused[:pool])
    if reranker:
        chunks = list(reranker(query, chunks))
        if min_score is not None:
            chunks = [c for c in chunks if c.score >= min_score]
    search_ms = (time.perf_counter() - search_started + lookup_s) * 1000
    return RetrievalResult(chunks[:limit], embedding_ms, search_ms)


def _query_vector(key: tuple[str, int], provider_id: int | None, query: str) -> str:
    model, dims = key
    provider = None
    if provider_id is not None:
        from apps.llm.models import Provider

        provider = Provider.objects.filter(id=provider_id).first()
    vector = embeddings.get_embedder(model, provider=provider, dimensions=dims).embed_query(query)
    return "[" + ",".join(f"{x:.7g}" for x in vector.tolist()) + "]"


@dataclass(frozen=True)
class _Filters:
    kb_ids: list[int]
    source_ids: list[int] | None
    metadata: str | None  # JSON for jsonb containment

    def sql(self, alias: str, *, chunk_id: str) -> tuple[str, list[Any]]:
        clauses = [f"{alias}.knowledge_base_id = ANY(%s)"]
        params: list[Any] = [self.kb_ids]
        if self.source_ids is not None:
            clauses.append(f"{alias}.source_id = ANY(%s)")
            params.append(self.source_ids)
        if self.metadata is not None:
            clauses.append(
                f"EXISTS (SELECT 1 FROM knowledge_chunk m WHERE m.id = {chunk_id} "  # noqa: S608
                "AND m.metadata @> %s::jsonb)"
            )
            params.append(self.metadata)
        return " AND ".join(clauses), params


def _dense(
    cursor: Any,
    model: str,
    dims: int,
    vector: str,
    kb_ids: list[int],
    filters: _Filters,
    limit: int,
) -> list[int]:
    dims = int(dims)
    where, params = _Filters(kb_ids, filters.source_ids, filters.metadata).sql(
        "e", chunk_id="e.chunk_id"
    )
    # The expression and the dimension predicate match the partial HNSW index of that size.
    # Only integers and fixed SQL are formatted into the statement; values are parameters.
    distance = f"(e.embedding::extensions.vector({dims})) OPERATOR(extensions.<=>) %s::extensions.vector({dims})"
    cursor.execute(
        f"SELECT e.chunk_id FROM knowledge_embedding e "  # noqa: S608
        f"WHERE e.dimensions = {dims} AND e.model = %s AND {where} "
        f"ORDER BY {distance} LIMIT %s",
        [model, *params, vector, limit],
    )
    return [row[0] for row in cursor.fetchall()]


_keyword_backend: dict[str, str] = {}


def keyword_backend() -> str:
    """``bm25`` where this schema has the pg_search index, else ``fts`` (detected once)."""
    schema = current_schema()
    if schema not in _keyword_backend:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() "
                "AND indexname = 'knowledge_chunk_bm25'"
            )
            _keyword_backend[schema] = "bm25" if cursor.fetchone() else "fts"
    return _keyword_backend[schema]


# Words that carry no topic: removed from the keyword query (the embedding sees the whole
# question). Fewer, rarer terms also make BM25's top-k search faster.
_STOPWORDS_TEXT = (
    "a an the of to in on for with and or is are was were be been being it its this that "
    "these those from by as at into about how what why when where which who whom do does did "
    "doing i me my we our you your can could should would will shall may might must not no "
    "there here than then so if"
)
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
_WORD_RE = re.compile(r"\w+")


def keyword_query(query: str) -> str:
    words = [w for w in _WORD_RE.findall(query) if w.lower() not in STOPWORDS]
    return " ".join(words) or query


def _keyword(cursor: Any, query: str, filters: _Filters, limit: int) -> list[int]:
    # ``where`` is fixed SQL with placeholders (``_Filters.sql``); values are parameters.
    where, params = filters.sql("c", chunk_id="c.id")
    if keyword_backend() == "bm25":
        query = keyword_query(query)
        cursor.execute(
            "SELECT c.id, pdb.score(c.id) AS score FROM knowledge_chunk c "  # noqa: S608
            f"WHERE (c.text ||| %s OR c.heading ||| %s) AND {where} "
            "ORDER BY score DESC LIMIT %s",
            [query, query, *params, limit],
        )
    else:
        document = "to_tsvector('english'::regconfig, c.heading || ' ' || c.text)"
        cursor.execute(
            f"SELECT c.id, ts_rank_cd({document}, q.query) AS score FROM knowledge_chunk c, "  # noqa: S608
            "(SELECT replace(plainto_tsquery('english', %s)::text, '&', '|')::tsquery AS query) q "
            f"WHERE {document} @@ q.query AND {where} "
            "ORDER BY score DESC, c.id LIMIT %s",
            [query, *params, limit],
        )
    return [row[0] for row in cursor.fetchall()]


def fuse(
    ranked_lists: Sequence[Sequence[int]], *, weights: Sequence[float], k: int
) -> list[tuple[int, float]]:
    """Reciprocal rank fusion, normalised so that first place in every list scores 1.0."""
    scores: dict[int, float] = defaultdict(float)
    for ids, weight in zip(ranked_lists, weights, strict=True):
        for rank, chunk_id in enumerate(ids, start=1):
            scores[chunk_id] += weight / (k + rank)
    best = sum(w for ids, w in zip(ranked_lists, weights, strict=True) if ids) / (k + 1)
    if best <= 0:
        return []
    return sorted(((cid, s / best) for cid, s in scores.items()), key=lambda x: (-x[1], x[0]))


def _hydrate(ranked: list[tuple[int, float]]) -> list[RetrievedChunk]:
    if not ranked:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.id, c.source_id, c.knowledge_base_id, c.heading, c.text, c.page, c.url, "
            "c.metadata ->> 'title', s.title, s.file_name, s.url "
            "FROM knowledge_chunk c JOIN knowledge_source s ON s.id = c.source_id "
            "WHERE c.id = ANY(%s)",
            [[cid for cid, _ in ranked]],
        )
        rows = {row[0]: row for row in cursor.fetchall()}
    out = []
    for chunk_id, score in ranked:
        row = rows.get(chunk_id)
        if row is None:  # deleted between the search and now
            continue
        _, source_id, kb_id, heading, text, page, url, page_title, title, file_name, source_url = (
            row
        )
        out.append(
            RetrievedChunk(
                chunk_id=chunk_id,
                source_id=source_id,
                knowledge_base_id=kb_id,
                title=page_title or title or file_name,
                url=url or source_url or "",
                page=page,
                heading=heading,
                text=text,
                score=round(score, 6),
            )
        )
    return out


def _reranker() -> Callable[[str, list[RetrievedChunk]], Sequence[RetrievedChunk]] | None:
    path = setting("KNOWLEDGE_RERANKER")
    return import_string(path) if path else None
