"""Process start-up for servers that stream: load the heavy parts, then freeze the heap."""

from __future__ import annotations

import gc


def warm_and_freeze() -> None:
    """Import LiteLLM now, freeze the start-up heap, and collect young garbage less often.

    LiteLLM (about 1.8 s to import, with its model cost map) is loaded at start-up rather than
    by the first visitor's turn. Then the ~300,000 long-lived objects of Django, LiteLLM and
    the rest are frozen (``gc.freeze``): otherwise every full collection walks them again, a
    200-350 ms pause of every stream in the process. Measured by bench/engine_ttft.py with 200
    concurrent answers on two processes: p99 added time to first token 173 -> 51 ms, p99 added
    gap between tokens 255 -> 17 ms.

    Streaming answers keep many objects alive for seconds (LiteLLM holds every chunk of a
    stream), so with the default thresholds (700, 10, 10) they are promoted and walked again
    and again. ``GC_THRESHOLDS`` (default 50000, 20, 100) makes young collections rarer and
    cheaper for the same garbage: longest pause 113-153 ms -> 12 ms, p99 added time to first
    token 51-72 ms -> 36 ms, p99 added gap 17-64 ms -> 9 ms, and less CPU. Cycles are still
    collected, later; memory grows by what young garbage waits for a collection.
    """
    import litellm  # noqa: F401
    from django.conf import settings

    gc.collect()
    gc.freeze()
    gc.set_threshold(*settings.GC_THRESHOLDS)
