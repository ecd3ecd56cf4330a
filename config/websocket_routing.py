"""WebSocket routes of every app, mounted by ``config.asgi``."""

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []
