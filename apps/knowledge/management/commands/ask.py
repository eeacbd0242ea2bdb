"""manage.py ask --tenant SLUG [--assistant NAME] [--kb NAME] [--retrieve-only] [--json]
                 [--questions FILE] [--limit N] ["question"]

``--retrieve-only`` prints the ranked chunks of the knowledge base (source, chunk id, score,
text) without calling a model. Otherwise the assistant answers (``apps.conversations.cli``),
streamed to stdout, or as one JSON object with ``--json``. ``--questions FILE`` asks every
non-empty line of FILE in one process and prints one JSON object per line with ``--json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser
from django_tenants.utils import tenant_context

from apps.core.commands import AppCommand
from apps.core.errors import InvalidInput
from apps.knowledge.selectors import RetrievalResult, knowledge_base_get, knowledge_retrieve


class Command(AppCommand):
    help = (
        "Ask a tenant's assistant a question, or with --retrieve-only print the ranked "
        "knowledge-base chunks without calling a model."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("question", nargs="?", help="the question (or use --questions)")
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--assistant", help="assistant name (default: the default assistant)")
        parser.add_argument("--kb", help="knowledge base name (required with --retrieve-only)")
        parser.add_argument(
            "--retrieve-only", action="store_true", help="print ranked chunks; call no model"
        )
        parser.add_argument("--json", action="store_true", help="print JSON (one object per line)")
        parser.add_argument("--questions", help="a file with one question per line")
        parser.add_argument("--limit", type=int, default=5, help="chunks to retrieve (default 5)")

    def run(self, *args: Any, **options: Any) -> None:
        questions = self._questions(options)
        tenant = self.get_tenant(options["tenant"])
        with tenant_context(tenant):
            if options["retrieve_only"]:
                self._retrieve(questions, options)
            else:
                self._answer(tenant, questions, options)

    @staticmethod
    def _questions(options: dict) -> list[str]:
        questions: list[str] = []
        if options["questions"]:
            path = Path(options["questions"])
            if not path.is_file():
                raise InvalidInput(f"No questions file at {path}.", code="file_not_found")
            questions = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        if options["question"]:
            questions.insert(0, options["question"])
        if not questions:
            raise InvalidInput("Give a question, or --questions FILE.", code="no_question")
        if options["limit"] < 1:
            raise InvalidInput("--limit must be at least 1.", code="invalid_limit")
        return questions

    def _retrieve(self, questions: list[str], options: dict) -> None:
        if not options["kb"]:
            raise InvalidInput("--retrieve-only needs --kb NAME.", code="no_knowledge_base")
        kb = knowledge_base_get(name=options["kb"])
        for question in questions:
            result = knowledge_retrieve(
                query=question, knowledge_base_ids=[kb.id], limit=options["limit"]
            )
            if options["json"]:
                self.stdout.write(json.dumps(retrieval_json(question, result), ensure_ascii=False))
            else:
                self._print_ranked(question, result)

    def _print_ranked(self, question: str, result: RetrievalResult) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(question))
        if not result.chunks:
            self.stdout.write("  (no matching chunks)")
        for rank, chunk in enumerate(result.chunks, start=1):
            where = f" p.{chunk.page}" if chunk.page else ""
            heading = f" — {chunk.heading}" if chunk.heading else ""
            self.stdout.write(
                f"{rank:>2}. [{chunk.score:.4f}] {chunk.title}{where}{heading} (chunk {chunk.chunk_id})"
            )
            text = " ".join(chunk.text.split())
            self.stdout.write(f"    {text[:400]}{'…' if len(text) > 400 else ''}")
        self.stdout.write(
            f"  embedding {result.embedding_ms:.1f} ms, search {result.search_ms:.1f} ms"
        )

    def _answer(self, tenant: Any, questions: list[str], options: dict) -> None:
        from apps.conversations.cli import answer_for_cli

        for question in questions:
            on_delta = None if options["json"] else _stream_to(self.stdout)
            answer = answer_for_cli(
                tenant=tenant,
                assistant_name=options["assistant"],
                kb_name=options["kb"],
                question=question,
                on_delta=on_delta,
            )
            if options["json"]:
                self.stdout.write(json.dumps(answer, ensure_ascii=False, default=str))
            else:
                self.stdout.write("")


def _stream_to(out: Any) -> Any:
    def on_delta(text: str) -> None:
        out.write(text, ending="")
        out.flush()

    return on_delta


def retrieval_json(question: str, result: RetrievalResult) -> dict:
    return {
        "question": question,
        "embedding_ms": round(result.embedding_ms, 2),
        "search_ms": round(result.search_ms, 2),
        "chunks": [
            {
                "rank": rank,
                "source": chunk.title,
                "source_id": chunk.source_id,
                "chunk_id": chunk.chunk_id,
                "score": chunk.score,
                "page": chunk.page,
                "heading": chunk.heading,
                "url": chunk.url,
                "text": chunk.text,
            }
            for rank, chunk in enumerate(result.chunks, start=1)
        ],
    }
