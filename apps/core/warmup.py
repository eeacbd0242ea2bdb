"""Process start-up for servers that stream: load the heavy parts, then freeze the heap."""

from __future__ import annotations

import gc


def warm_and_freeze() -> None:
    """Import LiteLLM now, then move everything loaded so far out of the garbage collector.

    LiteLLM (about 1.8 s to import, with its model cost map) is loaded at start-up rather than
    by the first visitor's turn. Then the ~300,000 long-lived objects of Django, LiteLLM and
    the rest are frozen (``gc.freeze``): otherwise every full collection walks them again, a
    200-350 ms pause of every stream in the process. Measured by bench/engine_ttft.py with 200
    concurrent answers on two processes: p99 added time to first token 173 -> 51 ms, p99 added
    gap between tokens 255 -> 17 ms.
    """
    import litellm  # noqa: F401

    gc.collect()
    gc.freeze()
