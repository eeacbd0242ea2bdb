"""manage.py ingest --tenant SLUG --kb NAME [--create] [--wait] PATH_OR_URL...

Files, folders (recursively: files with a supported extension) and URLs become sources of the
knowledge base. Ingesting the same path or URL again reuses its source: unchanged content is
not processed again, changed content re-embeds only the chunks that changed.

Without ``--wait`` the sources are queued for the Celery worker. With ``--wait`` the command
runs the ingestion itself, in this process (no worker needed), and prints one line per source
with its final status; it exits 1 if any source failed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django_tenants.utils import tenant_context

from apps.core.commands import AppCommand
from apps.core.errors import AppError, NotFound
from apps.knowledge import selectors, services
from apps.knowledge.detect import SUPPORTED_EXTENSIONS
from apps.knowledge.models import KnowledgeBase, Source, SourceKind, SourceStatus


class Command(AppCommand):
    errors = 0
    help = (
        "Ingest files, folders (recursively) or URLs into a tenant's knowledge base. "
        "--wait ingests in this process and prints each source's final status."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("targets", nargs="+", metavar="PATH_OR_URL")
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--kb", required=True, help="knowledge base name")
        parser.add_argument(
            "--create", action="store_true", help="create the knowledge base if missing"
        )
        parser.add_argument(
            "--wait",
            action="store_true",
            help="ingest now, in this process, and report each source",
        )
        parser.add_argument("--crawl", action="store_true", help="crawl the site of each URL")
        parser.add_argument("--max-depth", type=int, default=2, help="crawl depth (default 2)")
        parser.add_argument("--max-pages", type=int, default=50, help="crawl pages (default 50)")
        parser.add_argument("--force", action="store_true", help="re-chunk even if unchanged")

    def run(self, *args: Any, **options: Any) -> None:
        tenant = self.get_tenant(options["tenant"])
        with tenant_context(tenant):
            kb = self._knowledge_base(options["kb"], create=options["create"])
            sources: list[tuple[Source, bool]] = []
            self.errors = 0
            for target in options["targets"]:
                try:
                    sources.extend(self._sources_for(kb, target, options))
                except AppError as exc:
                    self.errors += 1
                    self.stderr.write(f"error    {target}: {exc.message}")
            errors = self.errors
            failed = 0
            for source, changed in sources:
                if not options["wait"]:
                    self.stdout.write(f"queued   {source.title} (source {source.id})")
                    continue
                outcome = "unchanged"
                if changed or options["force"]:
                    outcome = services.source_ingest(source_id=source.id, force=options["force"])
                source.refresh_from_db()
                failed += source.status == SourceStatus.FAILED
                self.stdout.write(self._report(source, outcome))
        if errors or failed:
            raise CommandError(
                f"{failed + errors} of {len(sources) + errors} sources failed.", returncode=1
            )

    def _knowledge_base(self, name: str, *, create: bool) -> KnowledgeBase:
        try:
            return selectors.knowledge_base_get(name=name)
        except NotFound:
            if not create:
                raise NotFound(
                    f"No knowledge base '{name}' (add --create to create it).",
                    code="knowledge_base_not_found",
                ) from None
            kb = services.knowledge_base_create(name=name)
            self.stderr.write(f"Created knowledge base '{kb.name}'.")
            return kb

    def _sources_for(
        self, kb: KnowledgeBase, target: str, options: dict
    ) -> list[tuple[Source, bool]]:
        queue = not options["wait"]
        if target.startswith(("http://", "https://")):
            url = services.check_url(target)
            existing = selectors.source_find(knowledge_base=kb, origin=url)
            if existing is not None:
                if queue:
                    services.source_reingest(source=existing, force=options["force"])
                return [(existing, True)]
            source = services.source_create_url(
                knowledge_base=kb,
                url=url,
                crawl=options["crawl"],
                max_depth=options["max_depth"],
                max_pages=options["max_pages"],
                queue=queue,
            )
            return [(source, True)]
        path = Path(target).expanduser()
        if path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in SUPPORTED_EXTENSIONS
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            out = []
            for file in files:
                try:
                    out.append(self._file_source(kb, file, queue=queue))
                except AppError as exc:
                    self.errors += 1
                    self.stderr.write(f"error    {file}: {exc.message}")
            return out
        if path.is_file():
            return [self._file_source(kb, path, queue=queue)]
        raise NotFound(f"No such file, folder or URL: {target}", code="file_not_found")

    def _file_source(self, kb: KnowledgeBase, path: Path, *, queue: bool) -> tuple[Source, bool]:
        origin = str(path.resolve())
        existing = selectors.source_find(knowledge_base=kb, origin=origin)
        if existing is None:
            return services.source_create_file(
                knowledge_base=kb, uploaded_file_or_path=path, origin=origin, queue=queue
            ), True
        unchanged = (
            existing.kind == SourceKind.FILE
            and existing.status == SourceStatus.READY
            and _sha256(path) == existing.content_hash
        )
        if unchanged:
            return existing, False
        return services.source_replace_file(
            source=existing, uploaded_file_or_path=path, queue=queue
        ), True

    @staticmethod
    def _report(source: Source, outcome: str) -> str:
        if source.status == SourceStatus.FAILED:
            return f"failed   {source.title} (source {source.id}): {source.status_reason}"
        word = "unchanged" if outcome == "unchanged" else str(source.status)
        pages = f", {source.page_count} pages" if source.page_count > 1 else ""
        return f"{word:<8} {source.title} (source {source.id}, {source.chunk_count} chunks{pages})"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
