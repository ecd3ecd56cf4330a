"""Chat test helpers: a fresh channel layer per test and WebSocket clients."""

import pytest
from channels.layers import channel_layers

from accounts.tokens import issue_tokens


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    # Layers hold asyncio objects bound to one event loop; every test gets its own loop.
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def access_token(user) -> str:
    return issue_tokens(user=user)["access"]


@pytest.fixture
def openai_settings(settings, fake_openai):
    """Point the app at the fake server through the real openai SDK."""
    fake_openai.configure(settings, mode="openai")
    settings.AI_RETRY_BACKOFF_BASE = 0.01
    settings.CHAT_STREAM_PERSIST_INTERVAL = 0.05
    return fake_openai
