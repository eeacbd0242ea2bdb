"""Endpoints served on every host: health, and the key-routed widget and API surfaces.

These resolve the tenant from a key (or need none), never from the host name.
"""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.conversations import openai_compat
from apps.core import views as core_views

urlpatterns = [
    # /healthz is answered by apps.core.middleware.LivenessMiddleware, before tenancy.
    path("readyz", core_views.readyz, name="readyz"),
    # The embeddable widget: its script, config and HTTP fallback transport (embed key).
    path("", include("apps.widgets.urls")),
    # OpenAI-compatible API (tenant API key).
    path("v1/models", openai_compat.models_view, name="openai-models"),
    path("v1/chat/completions", openai_compat.chat_completions_view, name="openai-chat"),
    # Tenant REST API (tenant API key), its OpenAPI 3 schema and Swagger UI (offline assets).
    path("api/v1/", include("apps.llm.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
