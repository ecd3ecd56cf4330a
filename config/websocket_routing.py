"""WebSocket routes of every app, mounted by ``config.asgi``."""

from django.urls import URLPattern

from chat.routing import websocket_urlpatterns as chat_websocket_urlpatterns

websocket_urlpatterns: list[URLPattern] = [*chat_websocket_urlpatterns]
