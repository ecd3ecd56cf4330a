"""The chat WebSocket (``/ws/chat/``): the consumer, built from its authentication and
following parts; ``chat.routing`` mounts :class:`ChatConsumer` from here."""

from chat.consumers.consumer import ChatConsumer

__all__ = ["ChatConsumer"]
