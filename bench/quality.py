"""Retrieval quality on Python's documentation: hit@5 and MRR@10 for BM25 alone, dense alone
and hybrid (reciprocal rank fusion).

Corpus: the HTML pages of Debian's ``python3-doc`` listed in ``bench/data/python_docs_corpus.txt``
(all tutorial, howto and FAQ pages and 80 library pages), ingested with the product's pipeline
(HTML extraction, chunking, local all-MiniLM-L6-v2 embeddings) into a throwaway tenant schema.
Questions: ``bench/data/python_docs_questions.tsv``, each with the page(s) that answer it. A
question scores a hit@5 when a chunk of an expected page is among the first 5 results; MRR uses
the rank of the first such chunk within the first 10 (0 when none).

The fusion constant and weights are also swept; to keep that honest the questions are split in
two halves (odd and even lines): the setting that is best on one half is reported on the other.

Usage (needs ``apt-get install python3-doc``):
    python -m bench.quality [--keep]    # --keep: leave the schema for another run (faster)
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import time
from pathlib import Path

DOCS = Path("/usr/share/doc/python3.11/html")
DATA = Path(__file__).resolve().parent / "data"
SCHEMA = "bench_quality"
MEDIA = Path(__file__).resolve().parent.parent / "var" / "bench-cache" / "quality-media"


def corpus_pages() -> list[str]:
    pages: list[str] = []
    for line in (DATA / "python_docs_corpus.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            pages.extend(sorted(str(p.relative_to(DOCS)) for p in DOCS.glob(line)))
    return pages


def questions() -> list[tuple[str, set[str]]]:
    out = []
    for line in (DATA / "python_docs_questions.tsv").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            question, pages = line.split("\t")
            out.append((question, set(pages.split(","))))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the bench schema")
    args, _ = parser.parse_known_args()
    if not DOCS.is_dir():
        raise SystemExit("python3-doc is not installed: apt-get install python3-doc")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    from django.conf import settings

    settings.DEBUG = False  # as in production: no per-query logging (time and memory)
    from django.db import connection
    from django_tenants.utils import tenant_context

    from apps.tenants.models import Tenant

    pages = corpus_pages()
    asked = questions()
    missing = {p for _, expected in asked for p in expected} - set(pages)
    assert not missing, f"expected pages outside the corpus: {missing}"
    tenant = Tenant.objects.filter(schema_name=SCHEMA).first()
    fresh = tenant is None
    if tenant is None:
        tenant = Tenant(schema_name=SCHEMA, slug="bench-quality", name="Bench quality")
        tenant.save(verbosity=0)
    try:
        with tenant_context(tenant):
            kb_id = ingest(pages) if fresh else _kb_id()
            evaluate(kb_id, asked)
    finally:
        if not args.keep:
            connection.set_schema_to_public()
            with connection.cursor() as cursor:
                cursor.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
            Tenant.objects.filter(pk=tenant.pk).delete()
            shutil.rmtree(MEDIA, ignore_errors=True)


def _kb_id() -> int:
    from apps.knowledge.models import KnowledgeBase

    return KnowledgeBase.objects.get(name="Python docs").id


def ingest(pages: list[str]) -> int:
    from django.test import override_settings

    from apps.knowledge import services
    from apps.knowledge.models import Source

    kb = services.knowledge_base_create(name="Python docs")
    started = time.perf_counter()
    with override_settings(MEDIA_ROOT=MEDIA):
        for page in pages:
            source = services.source_create_file(
                knowledge_base=kb, uploaded_file_or_path=DOCS / page, title=page, queue=False
            )
            outcome = services.source_ingest(source_id=source.id)
            assert outcome == "ingested", (page, Source.objects.get(id=source.id).status_reason)
    chunks = sum(Source.objects.filter(knowledge_base=kb).values_list("chunk_count", flat=True))
    print(
        f"corpus: {len(pages)} pages, {chunks:,} chunks, ingested in "
        f"{time.perf_counter() - started:.0f} s"
    )
    return kb.id


def run(kb_id: int, asked: list[tuple[str, set[str]]], **overrides: float) -> list[int | None]:
    """For each question, the rank (1-based) of the first chunk of an expected page, or None."""
    from django.test import override_settings

    from apps.knowledge.selectors import knowledge_retrieve

    ranks: list[int | None] = []
    with override_settings(**overrides):
        for question, expected in asked:
            chunks = knowledge_retrieve(query=question, knowledge_base_ids=[kb_id], limit=10).chunks
            ranks.append(next((i for i, c in enumerate(chunks, 1) if c.title in expected), None))
    return ranks


def scores(ranks: list[int | None]) -> tuple[float, float]:
    hit5 = sum(1 for r in ranks if r is not None and r <= 5) / len(ranks)
    mrr = statistics.fmean(1 / r if r else 0.0 for r in ranks)
    return hit5, mrr


def evaluate(kb_id: int, asked: list[tuple[str, set[str]]]) -> None:
    from django.conf import settings

    default_k = settings.KNOWLEDGE_RRF_K
    default_w = (settings.KNOWLEDGE_DENSE_WEIGHT, settings.KNOWLEDGE_KEYWORD_WEIGHT)
    modes = {
        "BM25 alone": {"KNOWLEDGE_DENSE_WEIGHT": 0.0, "KNOWLEDGE_KEYWORD_WEIGHT": 1.0},
        "dense alone": {"KNOWLEDGE_DENSE_WEIGHT": 1.0, "KNOWLEDGE_KEYWORD_WEIGHT": 0.0},
        "hybrid, untuned (k=60, weights 1:1)": {
            "KNOWLEDGE_RRF_K": 60,
            "KNOWLEDGE_DENSE_WEIGHT": 1.0,
            "KNOWLEDGE_KEYWORD_WEIGHT": 1.0,
        },
        f"hybrid, defaults (k={default_k}, weights {default_w[0]:g}:{default_w[1]:g})": {},
    }
    print(f"{len(asked)} questions")
    print("| retrieval | hit@5 | MRR@10 |")
    print("| --- | --- | --- |")
    for name, overrides in modes.items():
        hit5, mrr = scores(run(kb_id, asked, **overrides))
        print(f"| {name} | {hit5:.3f} | {mrr:.3f} |")
    sweep(kb_id, asked)


def sweep(kb_id: int, asked: list[tuple[str, set[str]]]) -> None:
    """Grid over k and the dense:keyword weights; pick on one half, report on the other."""
    halves = (asked[0::2], asked[1::2])
    grid = list(
        itertools.product(
            (10, 30, 60, 100), ((1.0, 1.0), (1.0, 0.5), (1.0, 0.75), (0.75, 1.0), (0.5, 1.0))
        )
    )
    results = {}
    for k, (dense, keyword) in grid:
        overrides = {
            "KNOWLEDGE_RRF_K": k,
            "KNOWLEDGE_DENSE_WEIGHT": dense,
            "KNOWLEDGE_KEYWORD_WEIGHT": keyword,
        }
        results[(k, dense, keyword)] = [scores(run(kb_id, half, **overrides)) for half in halves]
    alone = {
        "BM25 alone": {"KNOWLEDGE_DENSE_WEIGHT": 0.0, "KNOWLEDGE_KEYWORD_WEIGHT": 1.0},
        "dense alone": {"KNOWLEDGE_DENSE_WEIGHT": 1.0, "KNOWLEDGE_KEYWORD_WEIGHT": 0.0},
    }
    print("\nsweep (hit@5 / MRR@10 on the odd | even questions):")
    for name, overrides in alone.items():
        (h1, m1), (h2, m2) = (scores(run(kb_id, half, **overrides)) for half in halves)
        print(f"  {name:<30}  {h1:.3f}/{m1:.3f} | {h2:.3f}/{m2:.3f}")
    for (k, dense, keyword), ((h1, m1), (h2, m2)) in results.items():
        print(
            f"  k={k:<3} dense:keyword={dense:g}:{keyword:g}  {h1:.3f}/{m1:.3f} | {h2:.3f}/{m2:.3f}"
        )
    for tune, test in ((0, 1), (1, 0)):
        best = max(results, key=lambda key: (results[key][tune][1], results[key][tune][0]))
        hit5, mrr = results[best][test]
        print(
            f"best on {'odd' if tune == 0 else 'even'} questions: k={best[0]}, weights "
            f"{best[1]:g}:{best[2]:g}; on the other half: hit@5 {hit5:.3f}, MRR@10 {mrr:.3f}"
        )


if __name__ == "__main__":
    main()
