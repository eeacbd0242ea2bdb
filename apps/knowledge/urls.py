from django.urls import path

from apps.knowledge import views

app_name = "knowledge"

urlpatterns = [
    path("", views.KnowledgeBaseListView.as_view(), name="list"),
    path("<int:pk>/", views.KnowledgeBaseDetailView.as_view(), name="detail"),
    path("<int:pk>/sources/", views.SourceTableView.as_view(), name="sources"),
    path("<int:pk>/upload/", views.SourceUploadView.as_view(), name="upload"),
    path("<int:pk>/url/", views.SourceUrlView.as_view(), name="url"),
    path("<int:pk>/text/", views.SourceTextView.as_view(), name="text"),
    path("<int:pk>/try/", views.TryQuestionView.as_view(), name="try"),
    path("<int:pk>/delete/", views.KnowledgeBaseDeleteView.as_view(), name="delete"),
    path(
        "<int:pk>/sources/<int:source_pk>/reingest/",
        views.SourceReingestView.as_view(),
        name="reingest",
    ),
    path(
        "<int:pk>/sources/<int:source_pk>/delete/",
        views.SourceDeleteView.as_view(),
        name="source_delete",
    ),
]
