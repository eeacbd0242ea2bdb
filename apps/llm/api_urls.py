"""Tenant REST API for the LLM layer (mounted at /api/v1/)."""

from django.urls import path

from apps.llm import api

urlpatterns = [
    path("providers/", api.ProvidersResource.as_view(), name="api-providers"),
    path("providers/<int:pk>/", api.ProviderResource.as_view(), name="api-provider"),
    path("models/", api.DeploymentsResource.as_view(), name="api-models"),
    path("models/<int:pk>/", api.DeploymentResource.as_view(), name="api-model"),
    path("assistants/", api.AssistantsResource.as_view(), name="api-assistants"),
    path("assistants/<int:pk>/", api.AssistantResource.as_view(), name="api-assistant"),
]
