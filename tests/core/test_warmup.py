"""The web process's start-up: LiteLLM loaded, start-up heap frozen, GC thresholds set."""

from __future__ import annotations

import gc
import sys

from django.conf import settings


def test_the_asgi_module_loads_litellm_and_freezes_the_start_up_heap():
    import config.asgi  # noqa: F401  (what daphne imports)

    assert "litellm" in sys.modules
    # and what a first turn would otherwise import (~0.7 s for its first visitor)
    assert {"litellm.litellm_core_utils.default_encoding", "apps.tools.registry"} <= set(
        sys.modules
    )
    assert gc.get_freeze_count() > 100_000  # Django, Channels, LiteLLM...
    assert gc.get_threshold() == settings.GC_THRESHOLDS == (50000, 20, 100)
