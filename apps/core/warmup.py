"""Process start-up for servers that stream: load the heavy parts, then freeze the heap."""

from __future__ import annotations

import gc
import importlib

# What a turn would otherwise import on first use, slowest first (measured with
# ``python -X importtime`` on a first turn: ~0.8 s together on a 2-core machine): LiteLLM's
# tokenizer encoding (a local file), the tools registry, the connectors' SQL guard (sqlglot)
# and JSON Schema, the LiteLLM module its request path loads lazily, and the Redis client.
FIRST_TURN_MODULES = (
    "litellm",
    "litellm.litellm_core_utils.default_encoding",
    "apps.tools.registry",
    "apps.connectors.selectors",
    "litellm.proxy.openai_files_endpoints.common_utils",
    "apps.llm.router",
    "redis.asyncio",
)


def preload() -> None:
    """Import what the first turn would otherwise import (its first visitor would wait ~0.8 s)."""
    for module in FIRST_TURN_MODULES:
        importlib.import_module(module)


def warm_and_freeze() -> None:
    """Import LiteLLM now, freeze the start-up heap, and collect young garbage less often.

    LiteLLM (about 1.8 s to import, with its model cost map) and what a turn loads on first
    use (``preload``) are loaded at start-up rather than by the first visitor's turn: its time
    to first token 725 -> 71-89 ms (``manage.py ask``, which preloads the same way). Then the
    ~300,000 long-lived objects of Django, LiteLLM and the rest are frozen (``gc.freeze``):
    otherwise every full collection walks them again, a 200-350 ms pause of every stream in
    the process. Measured by bench/engine_ttft.py with 200 concurrent answers on two
    processes: p99 added time to first token 173 -> 51 ms, p99 added gap between tokens
    255 -> 17 ms.

    Streaming answers keep many objects alive for seconds (LiteLLM holds every chunk of a
    stream), so with the default thresholds (700, 10, 10) they are promoted and walked again
    and again. ``GC_THRESHOLDS`` (default 50000, 20, 100) makes young collections rarer and
    cheaper for the same garbage: longest pause 113-153 ms -> 12 ms, p99 added time to first
    token 51-72 ms -> 36 ms, p99 added gap 17-64 ms -> 9 ms, and less CPU. Cycles are still
    collected, later; memory grows by what young garbage waits for a collection.
    """
    from django.conf import settings

    preload()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*settings.GC_THRESHOLDS)
