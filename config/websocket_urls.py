"""WebSocket routes. Widget sockets are routed by embed key, not by host."""

from django.urls import path

from apps.widgets.consumers import WidgetConsumer

websocket_urlpatterns = [
    path("ws/widget/", WidgetConsumer.as_asgi()),
]
