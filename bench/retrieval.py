"""Hybrid retrieval latency at 100,000 chunks of one tenant, and HNSW recall@10 vs exact search.

Builds a throwaway tenant schema (all tenant migrations, so the same indexes as production),
fills it with 100,000 chunks and drops it at the end. Chunk text: 120-word windows of real
English technical prose (the reST sources of Python's documentation from Debian's
``python3-doc``, then the standard library's docstrings and comments). Vectors, one of:
- ``--vectors real`` (default): all-MiniLM-L6-v2 embeddings of the first 25 words of each
  chunk (each chunk starts a fresh 25-word span; the model reads 32 tokens to keep the one-time
  embedding of 100,000 passages to minutes on 2 cores). Cached under ``var/bench-cache/``.
- ``--vectors random``: random unit vectors made in SQL: free to make, no structure at all,
  the worst case for HNSW recall; latency does not depend on what the vectors mean.
Indexes are built after loading (as after a bulk import). For each query, the query embedding
(local model) is timed on its own, and ``knowledge_retrieve`` (the whole hybrid call: dense HNSW
+ BM25 + fusion + loading the chunks) is timed with the query embedding already cached.

Usage: python -m bench.retrieval [--chunks 100000] [--queries 200] [--vectors real|random]
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import importlib
import os
import random
import re
import statistics
import sysconfig
import time
import uuid
from pathlib import Path

DOCS = Path("/usr/share/doc/python3.11/html/_sources")
CACHE = Path(__file__).resolve().parent.parent / "var" / "bench-cache"
SPAN = 25  # words embedded per chunk (its start)
WINDOW = 120  # words of text per chunk
QUESTION_TEMPLATES = [
    "how do I {} the {}",
    "what does {} {} return",
    "why is {} slower than {}",
    "{} {} example",
    "can {} be used with {}",
    "difference between {} and {}",
    "where is the {} {} configured",
]


def corpus_words() -> list[str]:
    words: list[str] = []
    for path in sorted(DOCS.rglob("*.txt")):
        words.extend(path.read_text(errors="ignore").split())
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py")):
        for block in re.findall(r'"""(.*?)"""|#([^\n]*)', path.read_text(errors="ignore"), re.S):
            words.extend((block[0] or block[1]).split())
    return words


def vocabulary(limit: int = 20_000) -> list[str]:
    counts = collections.Counter(w.lower() for w in corpus_words()[:1_000_000] if w.isalpha())
    return [w for w, _ in counts.most_common(limit) if len(w) > 2]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--vectors", choices=["real", "random"], default="real")
    parser.add_argument(
        "--keep", action="store_true", help="keep the schema (and reuse it next time)"
    )
    args, _ = parser.parse_known_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    from django.conf import settings

    settings.DEBUG = False  # as in production: no per-query logging (time and memory)
    from django.db import connection
    from django_tenants.utils import tenant_context

    from apps.knowledge.models import KnowledgeBase
    from apps.tenants.models import Tenant

    kept = f"bench_retrieval_kept_{args.vectors}_{args.chunks}"
    tenant = Tenant.objects.filter(schema_name=kept).first() if args.keep else None
    reuse = tenant is not None
    if tenant is None:
        run = uuid.uuid4().hex[:6]
        name = kept if args.keep else f"bench_retrieval_{run}"
        tenant = Tenant(schema_name=name, slug=name.replace("_", "-"), name="Bench")
        started = time.perf_counter()
        tenant.save(verbosity=0)
        print(f"tenant schema {name} migrated in {time.perf_counter() - started:.1f} s")
    try:
        with tenant_context(tenant):
            kb_id = (
                KnowledgeBase.objects.get(name="Bench").id
                if reuse
                else load(args.chunks, args.vectors)
            )
            measure(kb_id, args.queries, recall_too=args.vectors == "real")
    finally:
        if not args.keep:
            connection.set_schema_to_public()
            with connection.cursor() as cursor:
                cursor.execute(f'DROP SCHEMA IF EXISTS "{tenant.schema_name}" CASCADE')
            Tenant.objects.filter(pk=tenant.pk).delete()


def chunk_texts(total: int) -> list[str]:
    words = corpus_words()
    if len(words) < total * SPAN + WINDOW:
        words = words * (1 + total * SPAN // len(words))
    return [" ".join(words[i * SPAN : i * SPAN + WINDOW]) for i in range(total)]


def real_vectors(texts: list[str]) -> object:
    """MiniLM embeddings of each chunk's first SPAN words, computed once and cached."""
    import numpy as np

    key = hashlib.sha256("\n".join(t[:200] for t in texts).encode()).hexdigest()[:16]
    path = CACHE / f"minilm-{len(texts)}-{key}.npy"
    if path.exists():
        return np.load(path).astype(np.float32)
    from apps.knowledge.embeddings import LocalEmbedder

    model = LocalEmbedder.sentence_transformer()
    model.max_seq_length = 32
    started = time.perf_counter()
    spans = [" ".join(t.split()[:SPAN]) for t in texts]
    vectors = model.encode(
        spans,
        batch_size=256,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    model.max_seq_length = 256
    print(f"embedded {len(spans):,} passages in {time.perf_counter() - started:.0f} s (cached)")
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors.astype(np.float16))
    return vectors.astype(np.float32)


def load(total: int, kind: str) -> int:
    from django.db import connection

    from apps.knowledge.models import KnowledgeBase, Source

    texts = chunk_texts(total)
    vectors = real_vectors(texts) if kind == "real" else None
    kb = KnowledgeBase.objects.create(name="Bench")
    sources = [
        Source.objects.create(knowledge_base=kb, kind="text", title=f"Document {i}", status="ready")
        for i in range(100)
    ]
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for name in ("knowledge_chunk_bm25", "knowledge_chunk_fts", "knowledge_embedding_hnsw_384"):
            cursor.execute(f"DROP INDEX IF EXISTS {name}")
        with cursor.cursor.copy(
            "COPY knowledge_chunk (id, knowledge_base_id, source_id, ordinal, content_hash, "
            "heading, text, page, url, metadata, token_count, created_at) FROM STDIN"
        ) as copy:
            for i, text in enumerate(texts):
                copy.write_row(
                    (i + 1, kb.id, sources[i % 100].id, i, uuid.uuid4().hex, " ".join(text.split()[:4])[:200],
                     text.replace("\x00", ""), 1 + i % 40, "", "{}", WINDOW, "2026-01-01T00:00:00Z")
                )  # fmt: skip
        print(f"{total:,} chunks copied in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        if vectors is None:
            cursor.execute(
                "INSERT INTO knowledge_embedding "
                "(chunk_id, knowledge_base_id, source_id, model, dimensions, embedding) "
                "SELECT c.id, c.knowledge_base_id, c.source_id, 'local/all-MiniLM-L6-v2', 384, "
                "extensions.l2_normalize(ARRAY(SELECT random_normal() FROM generate_series(1, 384) "
                "WHERE c.id > 0)::extensions.vector(384)) FROM knowledge_chunk c"
            )
        else:
            with cursor.cursor.copy(
                "COPY knowledge_embedding (chunk_id, knowledge_base_id, source_id, model, "
                "dimensions, embedding) FROM STDIN"
            ) as copy:
                for i, vector in enumerate(vectors):  # type: ignore[call-overload]
                    literal = "[" + ",".join(f"{x:.6g}" for x in vector.tolist()) + "]"
                    copy.write_row(
                        (i + 1, kb.id, sources[i % 100].id, "local/all-MiniLM-L6-v2", 384, literal)
                    )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('knowledge_chunk', 'id'), max(id)) FROM knowledge_chunk"
        )
        print(f"{total:,} {kind} vectors loaded in {time.perf_counter() - started:.1f} s")
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute("SET max_parallel_maintenance_workers = 1")
        index = importlib.import_module("apps.knowledge.migrations.0003_search_indexes")
        started = time.perf_counter()
        cursor.execute(index.hnsw_sql(384))
        print(
            f"HNSW index (m=16, ef_construction=128) built in {time.perf_counter() - started:.1f} s"
        )
        started = time.perf_counter()
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_search'")
        cursor.execute(index.BM25 if cursor.fetchone() else index.FTS)
        print(f"keyword index built in {time.perf_counter() - started:.1f} s")
        cursor.execute("VACUUM ANALYZE knowledge_chunk")
        cursor.execute("VACUUM ANALYZE knowledge_embedding")
    return kb.id


def questions(count: int) -> list[str]:
    words = vocabulary(3000)
    rng = random.Random(7)
    return [rng.choice(QUESTION_TEMPLATES).format(*rng.sample(words[50:], 2)) for _ in range(count)]


def measure(kb_id: int, count: int, *, recall_too: bool) -> None:
    from apps.knowledge import selectors
    from apps.knowledge.embeddings import LocalEmbedder

    embedder = LocalEmbedder()
    embedder.embed_query("warm up the model")
    queries = questions(count)
    for query in queries[:10]:  # warm caches and connection
        selectors.knowledge_retrieve(query=query, knowledge_base_ids=[kb_id])
    embed_ms, cold_ms, whole_ms, search_ms = [], [], [], []
    for query in queries:  # first time: the query embedding is computed (and cached)
        started = time.perf_counter()
        result = selectors.knowledge_retrieve(query=query, knowledge_base_ids=[kb_id], limit=5)
        cold_ms.append((time.perf_counter() - started) * 1000)
        embed_ms.append(result.embedding_ms)
    for query in queries:  # again: the same call with the embedding cached
        started = time.perf_counter()
        result = selectors.knowledge_retrieve(query=query, knowledge_base_ids=[kb_id], limit=5)
        whole_ms.append((time.perf_counter() - started) * 1000)
        search_ms.append(result.search_ms)
        assert len(result.chunks) == 5

    def line(label: str, values: list[float]) -> None:
        print(
            f"{label}: p50 {percentile(values, 50):.1f} ms, p95 {percentile(values, 95):.1f} ms, "
            f"mean {statistics.fmean(values):.1f} ms"
        )

    print(f"{count} queries, limit 5, {len(queries)} distinct questions")
    line("query embedding alone (local MiniLM, CPU)", embed_ms)
    line("knowledge_retrieve without the embedding (hybrid search, fusion, chunks)", whole_ms)
    line("  of which reported search_ms", search_ms)
    line("knowledge_retrieve with the embedding (first time a question is asked)", cold_ms)
    if recall_too:
        recall(kb_id, queries[:100])
    else:  # real questions are about equally far from every random vector: no true neighbours
        print("recall not measured on random vectors (real queries have no true neighbours there)")


def recall(kb_id: int, queries: list[str]) -> None:
    """HNSW top-10 against exact top-10 (sequential scan on the same vectors)."""
    from django.db import connection

    from apps.knowledge.embeddings import LocalEmbedder

    embedder = LocalEmbedder()
    vectors = ["[" + ",".join(f"{x:.7g}" for x in embedder.embed_query(q)) + "]" for q in queries]
    distance = (
        "(embedding::extensions.vector(384)) OPERATOR(extensions.<=>) %s::extensions.vector(384)"
    )
    sql = (
        f"SELECT chunk_id FROM knowledge_embedding WHERE dimensions = 384 "  # noqa: S608
        f"AND knowledge_base_id = %s ORDER BY {distance} LIMIT 10"
    )
    with connection.cursor() as cursor:
        exact = []
        cursor.execute("SET enable_indexscan = off")
        for vector in vectors:
            cursor.execute(sql, [kb_id, vector])
            exact.append({r[0] for r in cursor.fetchall()})
        cursor.execute("SET enable_indexscan = on")
        for ef in (40, 100, 200):
            cursor.execute(f"SET hnsw.ef_search = {ef}")
            cursor.execute("SET hnsw.iterative_scan = relaxed_order")
            cursor.execute("EXPLAIN " + sql, [kb_id, vectors[0]])
            if "knowledge_embedding_hnsw_384" not in " ".join(r[0] for r in cursor.fetchall()):
                print(f"(ef_search={ef}: the planner chose an exact scan at this size)")
            found = 0
            for vector, truth in zip(vectors, exact, strict=True):
                cursor.execute(sql, [kb_id, vector])
                found += len(truth & {r[0] for r in cursor.fetchall()})
            print(f"HNSW recall@10 vs exact, ef_search={ef}: {found / (10 * len(vectors)):.3f}")


if __name__ == "__main__":
    main()
