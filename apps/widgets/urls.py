"""Key-routed widget endpoints (served on every host)."""

from django.urls import path, re_path

from apps.widgets import views

urlpatterns = [
    path("widget.js", views.widget_script, name="widget-script"),
    re_path(
        r"^widget\.(?P<digest>[0-9a-f]{16})\.js$", views.widget_script, name="widget-script-hashed"
    ),
    path("widget/config", views.widget_config, name="widget-config"),
    path("widget/api/session", views.widget_session, name="widget-session"),
    path("widget/api/messages", views.widget_message, name="widget-message"),
    path(
        "widget/api/messages/<str:message_id>/stream",
        views.widget_message_stream,
        name="widget-stream",
    ),
    path(
        "widget/api/messages/<str:message_id>/stop", views.widget_message_stop, name="widget-stop"
    ),
    path(
        "widget/api/messages/<str:message_id>/feedback",
        views.widget_message_feedback,
        name="widget-feedback",
    ),
]
