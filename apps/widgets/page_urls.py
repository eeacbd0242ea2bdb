"""Backoffice pages for widgets, mounted at /widgets/ on a tenant host (namespace "widgets")."""

from django.urls import path

from apps.widgets import pages

urlpatterns = [
    path("", pages.WidgetSettingsView.as_view(), name="settings"),
    path("<uuid:pk>/", pages.WidgetSettingsView.as_view(), name="detail"),
    path("<uuid:pk>/preview/", pages.WidgetPreviewView.as_view(), name="preview"),
    path("<uuid:pk>/secret/", pages.WidgetSecretView.as_view(), name="secret"),
    path("<uuid:pk>/secret/rotate/", pages.WidgetSecretRotateView.as_view(), name="secret-rotate"),
]
