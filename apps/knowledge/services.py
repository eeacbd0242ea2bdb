"""Knowledge bases and their sources: create, ingest, re-sync, re-embed, delete.

Public functions (keyword-only; call them inside the tenant's schema):

    knowledge_base_create(*, name, description="", embedding_model=DEFAULT_EMBEDDING_MODEL,
                          embedding_dimensions=None, embedding_provider=None) -> KnowledgeBase
    knowledge_base_update(*, knowledge_base, name=None, description=None) -> KnowledgeBase
    knowledge_base_change_embedding(*, knowledge_base, embedding_model, embedding_dimensions=None,
                                    embedding_provider=None) -> KnowledgeBase
    knowledge_base_delete(*, knowledge_base) -> None

    source_create_text(*, knowledge_base, title, text, metadata=None, queue=True) -> Source
    source_create_file(*, knowledge_base, uploaded_file_or_path, title="", metadata=None,
                       origin="", queue=True) -> Source
    source_replace_file(*, source, uploaded_file_or_path, queue=True) -> Source
    source_create_url(*, knowledge_base, url, crawl=False, max_depth=2, max_pages=50, title="",
                      metadata=None, queue=True) -> Source
    source_reingest(*, source, force=False) -> Source       # queue it again
    source_delete(*, source) -> None                        # its chunks and file go too

    source_ingest(*, source_id, force=False, fetch_options=None) -> str    # the pipeline (task body)
    knowledge_base_reembed(*, knowledge_base_id) -> str                    # (task body)
    sources_resync_due() -> int                                            # queue URL re-syncs

Writes that start background work queue a Celery task with ``transaction.on_commit``; the task
carries the tenant schema (tenant-schemas-celery).
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.core.errors import Conflict, InvalidInput
from apps.knowledge import embeddings
from apps.knowledge.chunking import ChunkDraft, chunk_blocks
from apps.knowledge.conf import current_schema, setting
from apps.knowledge.errors import IngestionError
from apps.knowledge.models import (
    DEFAULT_EMBEDDING_MODEL,
    Chunk,
    Embedding,
    KnowledgeBase,
    Source,
    SourceKind,
    SourceStatus,
)

logger = logging.getLogger(__name__)

MAX_TITLE = 300


# --- Knowledge bases ----------------------------------------------------------------------------


def _check_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name or len(name) > 100:
        raise InvalidInput(
            "A knowledge base needs a name of 1-100 characters.", code="invalid_name"
        )
    return name


def knowledge_base_create(
    *,
    name: str,
    description: str = "",
    embedding_model: str = DEFAULT_EMBEDDING_MODEL,
    embedding_dimensions: int | None = None,
    embedding_provider: Any = None,
) -> KnowledgeBase:
    name = _check_name(name)
    embeddings.check_model_key(embedding_model)
    if KnowledgeBase.objects.filter(name=name).exists():
        raise Conflict(f"A knowledge base named '{name}' already exists.", code="duplicate_name")
    if embedding_model != embeddings.LOCAL_MODEL_KEY:
        embeddings.get_embedder(embedding_model, provider=embedding_provider)  # provider exists
    kb = KnowledgeBase(
        name=name,
        description=description,
        embedding_model=embedding_model,
        embedding_dimensions=embeddings.dimensions_for(embedding_model, embedding_dimensions),
        embedding_provider=embedding_provider,
    )
    kb.full_clean()
    kb.save()
    return kb


def knowledge_base_update(
    *, knowledge_base: KnowledgeBase, name: str | None = None, description: str | None = None
) -> KnowledgeBase:
    if name is not None:
        name = _check_name(name)
        if KnowledgeBase.objects.filter(name=name).exclude(id=knowledge_base.id).exists():
            raise Conflict(
                f"A knowledge base named '{name}' already exists.", code="duplicate_name"
            )
        knowledge_base.name = name
    if description is not None:
        knowledge_base.description = description
    knowledge_base.full_clean()
    knowledge_base.save()
    return knowledge_base


def knowledge_base_change_embedding(
    *,
    knowledge_base: KnowledgeBase,
    embedding_model: str,
    embedding_dimensions: int | None = None,
    embedding_provider: Any = None,
) -> KnowledgeBase:
    """Move to another embedding model: re-embed in the background, old vectors serve meanwhile."""
    embeddings.check_model_key(embedding_model)
    dimensions = embeddings.dimensions_for(embedding_model, embedding_dimensions)
    if embedding_model != embeddings.LOCAL_MODEL_KEY:
        embeddings.get_embedder(embedding_model, provider=embedding_provider, dimensions=dimensions)
    if embedding_model == knowledge_base.embedding_model:
        knowledge_base.pending_embedding_model = ""
        knowledge_base.pending_embedding_dimensions = None
        knowledge_base.pending_embedding_provider = None
        knowledge_base.embedding_provider = embedding_provider or knowledge_base.embedding_provider
        knowledge_base.save()
        return knowledge_base
    knowledge_base.pending_embedding_model = embedding_model
    knowledge_base.pending_embedding_dimensions = dimensions
    knowledge_base.pending_embedding_provider = embedding_provider
    knowledge_base.reembed_error = ""
    knowledge_base.full_clean()
    knowledge_base.save()
    _queue("knowledge.reembed_knowledge_base", knowledge_base.id)
    return knowledge_base


def knowledge_base_delete(*, knowledge_base: KnowledgeBase) -> None:
    files = list(
        Source.objects.filter(knowledge_base=knowledge_base)
        .exclude(file="")
        .values_list("file", flat=True)
    )
    with transaction.atomic():
        Embedding.objects.filter(knowledge_base=knowledge_base).delete()
        Chunk.objects.filter(knowledge_base=knowledge_base).delete()
        knowledge_base.delete()
    transaction.on_commit(lambda: _delete_files(files))


# --- Sources: creation and deletion -------------------------------------------------------------


def _clean_metadata(metadata: dict | None) -> dict:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise InvalidInput("Source metadata must be an object.", code="invalid_metadata")
    return metadata


def _save_new_source(source: Source, *, queue: bool) -> Source:
    source.full_clean()
    try:
        with transaction.atomic():
            source.save()
    except IntegrityError as exc:
        raise Conflict(
            f"This knowledge base already has the source {source.origin[:200]}.",
            code="duplicate_source",
        ) from exc
    if queue:
        _queue_ingest(source)
    return source


def source_create_text(
    *,
    knowledge_base: KnowledgeBase,
    title: str,
    text: str,
    metadata: dict | None = None,
    queue: bool = True,
) -> Source:
    title = " ".join((title or "").split())[:MAX_TITLE]
    if not text or not text.strip():
        raise InvalidInput("Pasted text is empty.", code="empty_document")
    if len(text.encode()) > setting("KNOWLEDGE_MAX_UPLOAD_BYTES"):
        raise InvalidInput(_too_large_message(len(text.encode())), code="file_too_large")
    source = Source(
        knowledge_base=knowledge_base,
        kind=SourceKind.TEXT,
        title=title or "Pasted text",
        text=text,
        byte_size=len(text.encode()),
        metadata=_clean_metadata(metadata),
    )
    return _save_new_source(source, queue=queue)


FileInput = UploadedFile | File | str | os.PathLike | IO[bytes]


@dataclass(frozen=True)
class _Upload:
    name: str
    size: int
    file: File


def _upload(uploaded_file_or_path: FileInput) -> _Upload:
    if isinstance(uploaded_file_or_path, str | os.PathLike):
        path = Path(uploaded_file_or_path)
        if not path.is_file():
            raise InvalidInput(f"No file at {path}.", code="file_not_found")
        handle = path.open("rb")
        return _Upload(path.name, path.stat().st_size, File(handle, name=path.name))
    upload = (
        uploaded_file_or_path
        if isinstance(uploaded_file_or_path, File)
        else File(uploaded_file_or_path)
    )
    name = Path(getattr(upload, "name", "") or "upload").name
    return _Upload(name, int(upload.size or 0), upload)


def _too_large_message(size: int) -> str:
    limit = setting("KNOWLEDGE_MAX_UPLOAD_BYTES")
    return (
        f"The file is {size / 2**20:,.1f} MB; the limit is {limit / 2**20:,.0f} MB "
        "(KNOWLEDGE_MAX_UPLOAD_BYTES)."
    )


def _store(source: Source, upload: _Upload) -> None:
    if upload.size > setting("KNOWLEDGE_MAX_UPLOAD_BYTES"):
        raise InvalidInput(_too_large_message(upload.size), code="file_too_large")
    if upload.size == 0:
        raise InvalidInput("The file is empty.", code="empty_document")
    source.storage_key = uuid.uuid4().hex
    source.file_name = upload.name[:255]
    source.byte_size = upload.size
    source.file.save(_safe_file_name(upload.name), upload.file, save=False)


def _safe_file_name(name: str) -> str:
    stem = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[-120:]
    return stem.lstrip(".") or "upload"


def source_create_file(
    *,
    knowledge_base: KnowledgeBase,
    uploaded_file_or_path: FileInput,
    title: str = "",
    metadata: dict | None = None,
    origin: str = "",
    queue: bool = True,
) -> Source:
    """A file source (upload or path); its type comes from its content when ingested."""
    upload = _upload(uploaded_file_or_path)
    source = Source(
        knowledge_base=knowledge_base,
        kind=SourceKind.FILE,
        title=(" ".join(title.split()) or upload.name)[:MAX_TITLE],
        origin=origin[:2000],
        metadata=_clean_metadata(metadata),
    )
    try:
        _store(source, upload)
        return _save_new_source(source, queue=queue)
    except Exception:
        if source.file:
            source.file.delete(save=False)
        raise
    finally:
        upload.file.close()


def source_replace_file(
    *, source: Source, uploaded_file_or_path: FileInput, queue: bool = True
) -> Source:
    """New content for a file source; unchanged chunks keep their vectors."""
    if source.kind != SourceKind.FILE:
        raise InvalidInput("Only file sources take a new file.", code="invalid_source_kind")
    old = source.file.name if source.file else ""
    upload = _upload(uploaded_file_or_path)
    try:
        _store(source, upload)
    finally:
        upload.file.close()
    source.status = SourceStatus.QUEUED
    source.progress = 0
    source.save()
    if old:
        transaction.on_commit(lambda: _delete_files([old]))
    if queue:
        _queue_ingest(source)
    return source


def check_url(url: str) -> str:
    from apps.knowledge.fetch import parse_target

    try:
        return parse_target(url).url
    except IngestionError as exc:
        raise InvalidInput(exc.message, code="invalid_url") from exc


def source_create_url(
    *,
    knowledge_base: KnowledgeBase,
    url: str,
    crawl: bool = False,
    max_depth: int = 2,
    max_pages: int = 50,
    title: str = "",
    metadata: dict | None = None,
    queue: bool = True,
) -> Source:
    """A web page, or with ``crawl`` its site (same host, depth and page limits)."""
    url = check_url(url)
    depth_limit = setting("KNOWLEDGE_CRAWL_MAX_DEPTH")
    pages_limit = setting("KNOWLEDGE_CRAWL_MAX_PAGES")
    if crawl and not (0 <= max_depth <= depth_limit and 1 <= max_pages <= pages_limit):
        raise InvalidInput(
            f"A crawl may go {depth_limit} links deep and {pages_limit} pages at most.",
            code="invalid_crawl_limits",
        )
    source = Source(
        knowledge_base=knowledge_base,
        kind=SourceKind.CRAWL if crawl else SourceKind.URL,
        title=(" ".join(title.split()) or url)[:MAX_TITLE],
        origin=url,
        url=url,
        crawl_max_depth=max_depth if crawl else 0,
        crawl_max_pages=max_pages if crawl else 1,
        metadata=_clean_metadata(metadata),
    )
    return _save_new_source(source, queue=queue)


def source_reingest(*, source: Source, force: bool = False) -> Source:
    Source.objects.filter(id=source.id).update(
        status=SourceStatus.QUEUED, progress=0, updated_at=timezone.now()
    )
    source.refresh_from_db()
    _queue_ingest(source, force=force)
    return source


def source_delete(*, source: Source) -> None:
    """Delete a source with its chunks, vectors and stored file."""
    file_name = source.file.name if source.file else ""
    with transaction.atomic():
        Embedding.objects.filter(source=source).delete()
        Chunk.objects.filter(source=source).delete()
        source.delete()
    if file_name:
        transaction.on_commit(lambda: _delete_files([file_name]))


def _delete_files(names: Sequence[str]) -> None:
    from django.core.files.storage import default_storage

    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            logger.warning("could not delete stored file %s", name)


# --- Queueing -----------------------------------------------------------------------------------


def _queue(task_name: str, *args: Any, **kwargs: Any) -> None:
    """Send a task after the current transaction commits, for the current tenant's schema."""
    schema = current_schema()

    def send() -> None:
        from config.celery import app

        app.send_task(task_name, args=args, kwargs=kwargs, headers={"_schema_name": schema})

    transaction.on_commit(send)


def _queue_ingest(source: Source, *, force: bool = False) -> None:
    _queue("knowledge.ingest_source", source.id, force=force)


def sources_resync_due(*, older_than: timedelta | None = None) -> int:
    """Queue a re-sync of URL and crawl sources not checked for ``older_than`` (default: the
    re-sync interval). Unchanged pages cost a fetch, no embedding."""
    from django.conf import settings

    age = older_than or timedelta(
        seconds=getattr(settings, "KNOWLEDGE_RESYNC_INTERVAL_SECONDS", 21600) * 0.9
    )
    cutoff = timezone.now() - age
    stuck = timezone.now() - timedelta(hours=2)
    due = Source.objects.filter(kind__in=[SourceKind.URL, SourceKind.CRAWL]).exclude(
        status=SourceStatus.QUEUED
    )
    due = due.exclude(status=SourceStatus.PROCESSING, processing_started_at__gt=stuck)
    ids = list(due.filter(last_checked_at__lt=cutoff).values_list("id", flat=True)) + list(
        due.filter(last_checked_at__isnull=True).values_list("id", flat=True)
    )
    for source_id in ids:
        _queue("knowledge.ingest_source", source_id)
    return len(ids)


# --- Ingestion ----------------------------------------------------------------------------------


@contextmanager
def _source_lock(source_id: int) -> Iterator[bool]:
    """A session advisory lock: one ingestion per source at a time, released if the worker dies
    (its connection closes)."""
    key = f"{current_schema()}:knowledge.source:{source_id}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [key])
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [key])


@dataclass(frozen=True)
class _Document:
    data: bytes
    name: str
    url: str = ""
    declared_mime: str = ""


@dataclass(frozen=True)
class _ModelSpec:
    model: str
    dimensions: int
    provider: Any

    def embedder(self) -> Any:
        return embeddings.get_embedder(
            self.model, provider=self.provider, dimensions=self.dimensions
        )


def _models_for(kb: KnowledgeBase) -> list[_ModelSpec]:
    specs = [_ModelSpec(kb.embedding_model, kb.embedding_dimensions, kb.embedding_provider)]
    if kb.pending_embedding_model and kb.pending_embedding_model != kb.embedding_model:
        specs.append(
            _ModelSpec(
                kb.pending_embedding_model,
                kb.pending_embedding_dimensions
                or embeddings.dimensions_for(kb.pending_embedding_model),
                kb.pending_embedding_provider,
            )
        )
    return specs


def source_ingest(*, source_id: int, force: bool = False, fetch_options: dict | None = None) -> str:
    """Run the pipeline for one source. Returns ``ingested``, ``unchanged``, ``failed``,
    ``busy`` (another worker holds it) or ``missing`` (deleted meanwhile).

    Safe to run twice or to resume after a crash: chunks are keyed by content hash, so a rerun
    finds what an interrupted run wrote and embeds only what is still missing.
    """
    with _source_lock(source_id) as acquired:
        if not acquired:
            return "busy"
        source = Source.objects.select_related("knowledge_base").filter(id=source_id).first()
        if source is None:
            return "missing"
        was_ready = source.status == SourceStatus.READY
        _update(
            source, status=SourceStatus.PROCESSING, progress=0, processing_started_at=timezone.now()
        )
        try:
            return _ingest(source, force=force or not was_ready, fetch_options=fetch_options or {})
        except IngestionError as exc:
            return _fail(source, exc.message, exc.code)
        except InvalidInput as exc:
            return _fail(source, exc.message, exc.code)
        except IntegrityError:
            if not Source.objects.filter(id=source_id).exists():
                return "missing"
            raise
        except Exception as exc:
            from celery.exceptions import SoftTimeLimitExceeded

            if isinstance(exc, SoftTimeLimitExceeded):
                return _fail(source, "Ingestion took longer than the time limit.", "time_limit")
            if _is_database_outage(exc):
                raise  # the task retries when the database is back
            logger.exception("ingestion of source %s failed", source_id)
            return _fail(
                source,
                f"An unexpected error stopped the ingestion ({type(exc).__name__}); the details "
                "are in the worker log.",
                "internal_error",
            )


def _is_database_outage(exc: Exception) -> bool:
    from django.db import InterfaceError, OperationalError

    return isinstance(exc, OperationalError | InterfaceError)


def _update(source: Source, **fields: Any) -> None:
    fields["updated_at"] = timezone.now()
    Source.objects.filter(id=source.id).update(**fields)
    for name, value in fields.items():
        setattr(source, name, value)


def _fail(source: Source, reason: str, code: str) -> str:
    _update(
        source,
        status=SourceStatus.FAILED,
        status_reason=reason[:2000],
        error_code=code[:64],
        progress=0,
        last_checked_at=timezone.now(),
    )
    return "failed"


def _ingest(source: Source, *, force: bool, fetch_options: dict) -> str:
    kb = source.knowledge_base
    specs = _models_for(kb)
    budget = setting("KNOWLEDGE_CHUNK_TOKENS")
    overlap = setting("KNOWLEDGE_CHUNK_OVERLAP_TOKENS")
    settings_key = f"{budget}:{overlap}:" + ",".join(s.model for s in specs)

    if source.kind == SourceKind.CRAWL:
        drafts, page_count, content_digest, content_type = _crawl_drafts(
            source, budget=budget, overlap=overlap, fetch_options=fetch_options
        )
    else:
        document = _load_document(source, fetch_options)
        content_digest = hashlib.sha256(document.data).hexdigest()
        key = _ingest_key(content_digest, settings_key)
        if not force and key == source.ingest_key:
            _update(source, status=SourceStatus.READY, progress=100, last_checked_at=timezone.now())
            return "unchanged"
        drafts, page_count, content_type = _document_drafts(
            source, document, budget=budget, overlap=overlap
        )
    if not drafts:
        raise IngestionError("Nothing to index: no text was found.", code="empty_document")
    _write_chunks(source, drafts, specs)
    with transaction.atomic():
        Embedding.objects.filter(source=source).exclude(model__in=[s.model for s in specs]).delete()
        _update(
            source,
            status=SourceStatus.READY,
            status_reason="",
            error_code="",
            progress=100,
            chunk_count=Chunk.objects.filter(source=source).count(),
            page_count=page_count,
            content_type=content_type[:100],
            content_hash=content_digest,
            ingest_key=_ingest_key(content_digest, settings_key),
            ingested_at=timezone.now(),
            last_checked_at=timezone.now(),
            title=source.title,
        )
    return "ingested"


def _ingest_key(content_digest: str, settings_key: str) -> str:
    from apps.knowledge.extract import PIPELINE_VERSION

    return hashlib.sha256(
        f"{content_digest}|{PIPELINE_VERSION}|{settings_key}".encode()
    ).hexdigest()


def _load_document(source: Source, fetch_options: dict) -> _Document:
    if source.kind == SourceKind.TEXT:
        return _Document(source.text.encode("utf-8"), name="pasted.txt")
    if source.kind == SourceKind.FILE:
        if not source.file:
            raise IngestionError("The uploaded file is missing from storage.", code="file_missing")
        try:
            size = source.file.size
            if size > setting("KNOWLEDGE_MAX_UPLOAD_BYTES"):
                raise IngestionError(_too_large_message(size), code="file_too_large")
            with source.file.open("rb") as handle:
                data = handle.read(setting("KNOWLEDGE_MAX_UPLOAD_BYTES") + 1)
        except FileNotFoundError as exc:
            raise IngestionError(
                "The uploaded file is missing from storage; upload it again.", code="file_missing"
            ) from exc
        return _Document(data, name=source.file_name)
    from apps.knowledge.fetch import SafeFetcher

    with SafeFetcher(**fetch_options) as fetcher:
        fetched = fetcher.get(source.url)
    return _Document(
        fetched.body, name=fetched.url, url=fetched.url, declared_mime=fetched.content_type
    )


def _document_drafts(
    source: Source, document: _Document, *, budget: int, overlap: int
) -> tuple[list[ChunkDraft], int, str]:
    from apps.knowledge.detect import detect_type
    from apps.knowledge.extract import extract, html_title

    detected = detect_type(document.data, name=document.name, declared_mime=document.declared_mime)
    extracted = extract(document.data, detected, name=document.name)
    if source.kind == SourceKind.URL and source.title == source.url:
        page_title = (
            html_title(document.data.decode("utf-8", "replace")) if detected.kind == "html" else ""
        )
        source.title = (page_title or extracted.title or source.title)[:MAX_TITLE]
    drafts = chunk_blocks(
        extracted.blocks, budget=budget, overlap=overlap, url=document.url, metadata=source.metadata
    )
    return drafts, extracted.page_count, detected.mime


def _crawl_drafts(
    source: Source, *, budget: int, overlap: int, fetch_options: dict
) -> tuple[list[ChunkDraft], int, str, str]:
    from apps.knowledge.crawl import CrawlReport, crawl
    from apps.knowledge.detect import detect_type
    from apps.knowledge.extract import extract, html_title
    from apps.knowledge.fetch import SafeFetcher

    drafts: list[ChunkDraft] = []
    digest = hashlib.sha256()
    report = CrawlReport()
    pages = 0
    max_pages = min(source.crawl_max_pages, setting("KNOWLEDGE_CRAWL_MAX_PAGES"))
    max_depth = min(source.crawl_max_depth, setting("KNOWLEDGE_CRAWL_MAX_DEPTH"))
    with SafeFetcher(**fetch_options) as fetcher:
        for page in crawl(
            fetcher, source.url, max_depth=max_depth, max_pages=max_pages, report=report
        ):
            body = page.fetched.body
            digest.update(f"{page.url}\n{hashlib.sha256(body).hexdigest()}\n".encode())
            try:
                detected = detect_type(body, name=page.url, declared_mime=page.fetched.content_type)
                extracted = extract(body, detected, name=page.url)
            except IngestionError as exc:
                logger.info("crawl of source %s skipped %s: %s", source.id, page.url, exc.message)
                continue
            title = ""
            if detected.kind == "html":
                title = html_title(body.decode("utf-8", "replace"))
            title = title or extracted.title or page.url
            if page.depth == 0 and source.title == source.url:
                source.title = title[:MAX_TITLE]
            drafts.extend(
                chunk_blocks(
                    extracted.blocks,
                    budget=budget,
                    overlap=overlap,
                    url=page.url,
                    metadata={**source.metadata, "title": title[:MAX_TITLE]},
                )
            )
            pages += extracted.page_count or 1
            _update(source, progress=min(40, 40 * report.pages // max(max_pages, 1)))
    return drafts, pages, digest.hexdigest(), "text/html"


def _write_chunks(source: Source, drafts: list[ChunkDraft], specs: list[_ModelSpec]) -> None:
    """Make the source's chunks equal ``drafts``: insert new ones (embedded, one transaction per
    batch), keep unchanged ones with their vectors, delete the rest at the end."""
    unique: dict[str, tuple[int, ChunkDraft]] = {}
    for ordinal, draft in enumerate(drafts):
        unique.setdefault(draft.content_hash, (ordinal, draft))
    existing = dict(Chunk.objects.filter(source=source).values_list("content_hash", "id"))
    new = [(o, d) for h, (o, d) in unique.items() if h not in existing]
    missing: dict[str, list[int]] = {}
    for spec in specs:
        have = set(
            Embedding.objects.filter(source=source, model=spec.model).values_list(
                "chunk_id", flat=True
            )
        )
        missing[spec.model] = [cid for cid in existing.values() if cid not in have]
    total = len(new) * len(specs) + sum(len(ids) for ids in missing.values())
    done = 0
    batch_size = setting("KNOWLEDGE_EMBED_BATCH_SIZE")
    for start in range(0, len(new), batch_size):
        batch = new[start : start + batch_size]
        vectors = {
            s.model: s.embedder().embed_documents([d.embedding_text for _, d in batch])
            for s in specs
        }
        with transaction.atomic():
            rows = Chunk.objects.bulk_create(
                [
                    Chunk(
                        knowledge_base_id=source.knowledge_base_id,
                        source=source,
                        ordinal=ordinal,
                        content_hash=draft.content_hash,
                        heading=draft.heading,
                        text=draft.text,
                        page=draft.page,
                        url=draft.url[:2000],
                        metadata=draft.metadata,
                        token_count=draft.token_count,
                    )
                    for ordinal, draft in batch
                ],
                update_conflicts=True,
                unique_fields=["source", "content_hash"],
                update_fields=["ordinal", "page", "url", "metadata", "heading"],
            )
            _insert_embeddings(source, [row.id for row in rows], vectors, specs)
            done += len(batch) * len(specs)
            _update(source, progress=_progress(done, total))
    for spec in specs:
        ids = missing[spec.model]
        texts = dict(
            (cid, (heading, text))
            for cid, heading, text in Chunk.objects.filter(id__in=ids).values_list(
                "id", "heading", "text"
            )
        )
        for start in range(0, len(ids), batch_size):
            batch_ids = [cid for cid in ids[start : start + batch_size] if cid in texts]
            inputs = [
                f"{texts[c][0]}\n{texts[c][1]}" if texts[c][0] else texts[c][1] for c in batch_ids
            ]
            vectors = {spec.model: spec.embedder().embed_documents(inputs)}
            with transaction.atomic():
                _insert_embeddings(source, batch_ids, vectors, [spec])
                done += len(batch_ids)
                _update(source, progress=_progress(done, total))
    keep = {h: o for h, (o, _) in unique.items()}
    with transaction.atomic():
        stale = [cid for h, cid in existing.items() if h not in keep]
        if stale:
            Embedding.objects.filter(chunk_id__in=stale).delete()
            Chunk.objects.filter(id__in=stale).delete()
        kept = [(cid, unique[h][1], keep[h]) for h, cid in existing.items() if h in keep]
        if kept:
            Chunk.objects.bulk_update(
                [
                    Chunk(
                        id=cid, ordinal=ordinal, page=d.page, url=d.url[:2000], metadata=d.metadata
                    )
                    for cid, d, ordinal in kept
                ],
                ["ordinal", "page", "url", "metadata"],
                batch_size=500,
            )


def _progress(done: int, total: int) -> int:
    return 40 + int(59 * done / max(total, 1))


def _insert_embeddings(
    source: Source, chunk_ids: list[int], vectors: dict[str, Any], specs: list[_ModelSpec]
) -> None:
    Embedding.objects.bulk_create(
        [
            Embedding(
                chunk_id=chunk_id,
                knowledge_base_id=source.knowledge_base_id,
                source_id=source.id,
                model=spec.model,
                dimensions=spec.dimensions,
                embedding=vectors[spec.model][i],
            )
            for spec in specs
            for i, chunk_id in enumerate(chunk_ids)
        ],
        update_conflicts=True,
        unique_fields=["chunk", "model"],
        update_fields=["embedding", "dimensions"],
    )


# --- Re-embedding a knowledge base with a new model ---------------------------------------------


def knowledge_base_reembed(*, knowledge_base_id: int) -> str:
    """Embed every chunk with the pending model, then switch to it and drop the old vectors.

    Until the switch, retrieval keeps using the old model's vectors. Returns ``switched``,
    ``nothing_pending``, ``busy`` or ``failed``.
    """
    key = f"{current_schema()}:knowledge.kb:{knowledge_base_id}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [key])
        if not cursor.fetchone()[0]:
            return "busy"
    try:
        return _reembed(knowledge_base_id)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [key])


def _reembed(knowledge_base_id: int) -> str:
    kb = KnowledgeBase.objects.filter(id=knowledge_base_id).first()
    if kb is None or not kb.pending_embedding_model:
        return "nothing_pending"
    spec = _models_for(kb)[-1]
    batch_size = setting("KNOWLEDGE_EMBED_BATCH_SIZE")
    try:
        for _ in range(5):  # sources ingested meanwhile may add chunks; catch up, then switch
            while True:
                batch = list(
                    Chunk.objects.filter(knowledge_base=kb)
                    .exclude(embeddings__model=spec.model)
                    .order_by("id")
                    .values_list("id", "source_id", "heading", "text")[:batch_size]
                )
                if not batch:
                    break
                vectors = spec.embedder().embed_documents(
                    [f"{h}\n{t}" if h else t for _, _, h, t in batch]
                )
                Embedding.objects.bulk_create(
                    [
                        Embedding(
                            chunk_id=cid,
                            knowledge_base_id=kb.id,
                            source_id=sid,
                            model=spec.model,
                            dimensions=spec.dimensions,
                            embedding=vectors[i],
                        )
                        for i, (cid, sid, _, _) in enumerate(batch)
                    ],
                    update_conflicts=True,
                    unique_fields=["chunk", "model"],
                    update_fields=["embedding", "dimensions"],
                )
            with transaction.atomic():
                locked = KnowledgeBase.objects.select_for_update().get(id=kb.id)
                if locked.pending_embedding_model != spec.model:
                    return "nothing_pending"  # changed again meanwhile; the newer task does it
                if (
                    Chunk.objects.filter(knowledge_base=kb)
                    .exclude(embeddings__model=spec.model)
                    .exists()
                ):
                    continue
                old = locked.embedding_model
                locked.embedding_model = spec.model
                locked.embedding_dimensions = spec.dimensions
                locked.embedding_provider = spec.provider
                locked.pending_embedding_model = ""
                locked.pending_embedding_dimensions = None
                locked.pending_embedding_provider = None
                locked.reembed_error = ""
                locked.save()
                Embedding.objects.filter(knowledge_base=kb, model=old).delete()
                return "switched"
        return "busy"
    except (IngestionError, InvalidInput) as exc:
        KnowledgeBase.objects.filter(id=kb.id).update(reembed_error=exc.message[:2000])
        return "failed"
