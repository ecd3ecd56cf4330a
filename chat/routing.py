"""WebSocket routes of the chat app."""

from django.urls import re_path

from chat.consumers import ChatConsumer

websocket_urlpatterns = [
    # With or without the trailing slash (seed 004 clients use /ws/chat?token=...).
    re_path(r"^ws/chat/?$", ChatConsumer.as_asgi()),
]
