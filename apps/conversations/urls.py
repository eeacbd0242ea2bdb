"""Backoffice pages for conversations (mounted at /conversations/)."""

from django.urls import path

from apps.conversations import views

app_name = "conversations"

urlpatterns = [
    path("", views.ConversationListView.as_view(), name="list"),
    path("export.<str:fmt>", views.ListExportView.as_view(), name="export-list"),
    path("labels/", views.LabelsView.as_view(), name="labels"),
    path("tags/new/", views.TagCreateView.as_view(), name="tag-add"),
    path("tags/<int:pk>/", views.TagEditView.as_view(), name="tag-edit"),
    path("tags/<int:pk>/delete/", views.TagDeleteView.as_view(), name="tag-delete"),
    path("folders/new/", views.FolderCreateView.as_view(), name="folder-add"),
    path("folders/<int:pk>/", views.FolderRenameView.as_view(), name="folder-edit"),
    path("folders/<int:pk>/delete/", views.FolderDeleteView.as_view(), name="folder-delete"),
    path("<uuid:pk>/", views.ConversationDetailView.as_view(), name="detail"),
    path("<uuid:pk>/export.<str:fmt>", views.ConversationExportView.as_view(), name="export"),
    path("<uuid:pk>/flag/", views.FlagView.as_view(), name="flag"),
    path("<uuid:pk>/tags/", views.TagAddView.as_view(), name="tag-on"),
    path("<uuid:pk>/tags/<int:tag_pk>/remove/", views.TagRemoveView.as_view(), name="tag-off"),
    path("<uuid:pk>/folder/", views.FolderSetView.as_view(), name="folder"),
    path("<uuid:pk>/notes/", views.NoteCreateView.as_view(), name="note-add"),
    path(
        "<uuid:pk>/notes/<int:note_pk>/delete/",
        views.NoteDeleteView.as_view(),
        name="note-delete",
    ),
    path("<uuid:pk>/delete/", views.ConversationDeleteView.as_view(), name="delete"),
]
