"""Endpoints served on every host: health, and the key-routed widget and API surfaces.

These resolve the tenant from a key (or need none), never from the host name.
"""

from django.urls import path

from apps.conversations import openai_compat
from apps.core import views as core_views

urlpatterns = [
    # /healthz is answered by apps.core.middleware.LivenessMiddleware, before tenancy.
    path("readyz", core_views.readyz, name="readyz"),
    # OpenAI-compatible API (tenant API key).
    path("v1/models", openai_compat.models_view, name="openai-models"),
    path("v1/chat/completions", openai_compat.chat_completions_view, name="openai-chat"),
]
