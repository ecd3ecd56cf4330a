"""WebSocket routes of every app, mounted by ``config.asgi``; anything else closes with 4404."""

from django.urls import URLPattern, re_path

from chat.routing import websocket_urlpatterns as chat_websocket_urlpatterns
from config.websocket import unknown_path

websocket_urlpatterns: list[URLPattern] = [
    *chat_websocket_urlpatterns,
    re_path(r"", unknown_path),
]
