"""WebSocket routes. Widget sockets are routed by embed key, not by host."""

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []
