"""Ingestion throughput of one worker: text PDFs, pages per second, with the local embedder.

Makes text PDFs whose pages carry real English prose (paragraphs of the Python standard
library's docstrings, ~400 words per page, a heading every few paragraphs), ingests them in a
throwaway tenant schema with the same code path a Celery worker runs (``source_ingest``, in this
process), and reports pages per second overall, the share of time spent embedding, and the
process's memory (peak RSS, and resident anonymous vs shared-library memory at the end), the
local embedder's runner (ONNX Runtime or the PyTorch fallback), whether PyTorch was imported,
and the load average (other work on the machine slows every figure).

Usage: python -m bench.ingestion [--documents 10] [--pages 20]
                                 [--embedder auto|onnx|sentence-transformers]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import sysconfig
import tempfile
import time
import uuid
from pathlib import Path


def paragraphs(limit: int = 4000) -> list[str]:
    """Docstring paragraphs of 25+ words from the standard library: real technical prose."""
    found: list[str] = []
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        for doc in re.findall(r'"""(.*?)"""', path.read_text(errors="ignore"), re.S):
            for para in re.split(r"\n\s*\n", doc):
                words = para.split()
                if len(words) >= 25 and not any(c in para for c in "{}>>>"):
                    found.append(" ".join(words))
        if len(found) >= limit:
            break
    return found


def make_documents(count: int, pages: int) -> list[bytes]:
    from tests.knowledge.documents import make_text_pdf, wrap

    rng = random.Random(3)
    pool = paragraphs()
    documents = []
    for _ in range(count):
        doc_pages = []
        for number in range(pages):
            lines = [f"Section {number + 1}: {rng.choice(pool).split('.')[0][:60]}", ""]
            words = 0
            while words < 400:
                para = rng.choice(pool)
                words += len(para.split())
                lines += [*wrap(para), ""]
                if rng.random() < 0.25:
                    lines += [rng.choice(pool).split(".")[0][:50].strip().capitalize(), ""]
            doc_pages.append(lines[:64])
        documents.append(make_text_pdf(doc_pages))
    return documents


def memory() -> dict[str, float]:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
            fields[name] = int(value.split()[0]) / 1024
    return fields


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=10)
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument(
        "--embedder",
        choices=["auto", "onnx", "sentence-transformers"],
        default="auto",
        help="the local embedder's runner (KNOWLEDGE_LOCAL_EMBEDDER)",
    )
    args, _ = parser.parse_known_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    from django.conf import settings

    settings.DEBUG = False  # as in production: no per-query logging (time and memory)
    settings.KNOWLEDGE_LOCAL_EMBEDDER = args.embedder
    from django.db import connection
    from django.test import override_settings
    from django_tenants.utils import tenant_context

    from apps.tenants.models import Tenant

    documents = make_documents(args.documents, args.pages)
    run = uuid.uuid4().hex[:6]
    tenant = Tenant(schema_name=f"bench_ingest_{run}", slug=f"bench-ingest-{run}", name="Bench")
    tenant.save(verbosity=0)
    media = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        with tenant_context(tenant), override_settings(MEDIA_ROOT=media):
            ingest(documents)
    finally:
        connection.set_schema_to_public()
        with connection.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{tenant.schema_name}" CASCADE')
        Tenant.objects.filter(pk=tenant.pk).delete()
        import shutil

        shutil.rmtree(media, ignore_errors=True)


def ingest(documents: list[bytes]) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from apps.knowledge import embeddings, services
    from apps.knowledge.models import Chunk, Source

    kb = services.knowledge_base_create(name="Bench")
    # Warm up what a long-running worker has loaded already: the model and the parsers.
    load_before = os.getloadavg()
    warm = services.source_create_file(
        knowledge_base=kb,
        uploaded_file_or_path=SimpleUploadedFile("w.pdf", documents[0]),
        queue=False,
    )
    services.source_ingest(source_id=warm.id)
    services.source_delete(source=warm)
    warmed = memory()

    spent = {"embedding": 0.0, "embedding_cpu": 0.0, "texts": 0}
    real = embeddings.LocalEmbedder.embed_documents

    def timed(self, texts):
        started, cpu = time.perf_counter(), time.process_time()
        try:
            return real(self, texts)
        finally:
            spent["embedding"] += time.perf_counter() - started
            spent["embedding_cpu"] += time.process_time() - cpu  # all of this process's threads
            spent["texts"] += len(texts)

    embeddings.LocalEmbedder.embed_documents = timed  # type: ignore[method-assign]
    sources = [
        services.source_create_file(
            knowledge_base=kb,
            uploaded_file_or_path=SimpleUploadedFile(f"doc{i}.pdf", data),
            queue=False,
        )
        for i, data in enumerate(documents)
    ]
    started, cpu = time.perf_counter(), time.process_time()
    for source in sources:
        assert services.source_ingest(source_id=source.id) == "ingested"
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    embeddings.LocalEmbedder.embed_documents = real  # type: ignore[method-assign]
    pages = sum(
        Source.objects.filter(id__in=[s.id for s in sources]).values_list("page_count", flat=True)
    )
    chunks = sum(
        Source.objects.filter(id__in=[s.id for s in sources]).values_list("chunk_count", flat=True)
    )
    mem = memory()
    words = sum(
        len(t.split())
        for t in Chunk.objects.filter(source__in=sources).values_list("text", flat=True)
    )
    print(
        f"{len(sources)} PDFs, {pages} pages, {chunks} chunks in {elapsed:.1f} s "
        f"(~{words / pages:.0f} words per page, overlap included)"
    )
    print(
        f"throughput: {pages / elapsed:.1f} pages/s ({chunks / elapsed:.1f} chunks/s), one process"
    )
    print(
        f"embedding: {spent['embedding']:.1f} s of {elapsed:.1f} s "
        f"({100 * spent['embedding'] / elapsed:.0f}%), {spent['texts'] / spent['embedding']:.1f} chunks/s; "
        f"without it: {pages / max(elapsed - spent['embedding'], 1e-9):.1f} pages/s"
    )
    print(
        f"CPU time of this process (comparable under load): {cpu:.1f} s, of which embedding "
        f"{spent['embedding_cpu']:.1f} s ({spent['texts'] / max(spent['embedding_cpu'], 1e-9):.1f} "
        f"chunks per CPU-second); {pages / cpu:.1f} pages per CPU-second"
    )
    print(
        f"embedder: {embeddings.LocalEmbedder().runner_name}; PyTorch imported: "
        f"{'torch' in sys.modules}; load average (1 min) {load_before[0]:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after"
    )
    print(
        f"memory: peak RSS {mem['VmHWM']:.0f} MB; now RSS {mem['VmRSS']:.0f} MB = "
        f"{mem['RssAnon']:.0f} MB anonymous + {mem['RssFile']:.0f} MB shared-library pages; "
        f"after warm-up (model and parsers loaded, one document ingested): RSS "
        f"{warmed['VmRSS']:.0f} MB ({warmed['RssAnon']:.0f} MB anonymous)"
    )


if __name__ == "__main__":
    main()
