"""Backoffice pages for models, Ollama servers and assistants (mounted at /llm/)."""

from django.urls import path

from apps.llm import views

app_name = "llm"

urlpatterns = [
    path("models/", views.ModelsPageView.as_view(), name="models"),
    path("models/add/", views.DeploymentCreateView.as_view(), name="model-add"),
    path("models/test/", views.model_test_view, name="model-test"),
    path("models/<int:pk>/delete/", views.DeploymentDeleteView.as_view(), name="model-delete"),
    path("providers/", views.ProviderCreateView.as_view(), name="provider-add"),
    path("providers/<int:pk>/", views.ProviderDetailView.as_view(), name="provider"),
    path("providers/<int:pk>/delete/", views.ProviderDeleteView.as_view(), name="provider-delete"),
    path("providers/<int:pk>/ollama/", views.OllamaPanelView.as_view(), name="ollama"),
    path(
        "providers/<int:pk>/ollama/installed/",
        views.OllamaInstalledView.as_view(),
        name="ollama-installed",
    ),
    path("providers/<int:pk>/ollama/pulls/", views.OllamaPullsView.as_view(), name="ollama-pulls"),
    path("providers/<int:pk>/ollama/pull/", views.OllamaPullView.as_view(), name="ollama-pull"),
    path(
        "providers/<int:pk>/ollama/delete/", views.OllamaDeleteView.as_view(), name="ollama-delete"
    ),
    path("assistants/", views.AssistantListView.as_view(), name="assistants"),
    path("assistants/new/", views.AssistantCreateView.as_view(), name="assistant-add"),
    path("assistants/<int:pk>/", views.AssistantEditView.as_view(), name="assistant"),
    path(
        "assistants/<int:pk>/default/",
        views.AssistantDefaultView.as_view(),
        name="assistant-default",
    ),
    path(
        "assistants/<int:pk>/delete/",
        views.AssistantDeleteView.as_view(),
        name="assistant-delete",
    ),
]
