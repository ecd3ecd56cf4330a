"""The one interface every model provider implements (Azure, OpenAI-compatible, offline)."""

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class PromptMessage:
    """One message of the prompt sent to the model."""

    role: Role
    content: str


@dataclass(frozen=True)
class Sampling:
    """Optional sampling controls a caller may pass through (``None``: the model's default)."""

    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] | None = None

    def as_kwargs(self) -> dict[str, Any]:
        """The SDK keyword arguments for the controls that are set."""
        values = {"temperature": self.temperature, "top_p": self.top_p}
        if self.stop:
            values["stop"] = list(self.stop)
        return {key: value for key, value in values.items() if value is not None}


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # True when the provider reported the counts; False when we estimated them with tiktoken.
    reported: bool = True

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class ChatResult:
    text: str
    model: str
    usage: Usage
    finish_reason: str = "stop"


@dataclass
class StreamDelta:
    """A piece of generated text, in order."""

    text: str


@dataclass
class StreamEnd:
    """The last item of a stream: what the whole answer cost and why it stopped."""

    model: str
    usage: Usage
    finish_reason: str = "stop"


@dataclass
class EmbeddingResult:
    vectors: list[list[float]]
    model: str
    usage: Usage = field(default_factory=Usage)

    @property
    def dimensions(self) -> int:
        return len(self.vectors[0]) if self.vectors else 0


class ProviderError(Exception):
    """A provider call failed after retries. ``kind`` feeds metrics and error codes."""

    def __init__(self, message: str, *, kind: str = "error", retry_after: float | None = None):
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


class ModelProvider(ABC):
    """A chat model and an embedding model behind one small async interface."""

    name: str
    chat_model: str
    embedding_model: str

    @abstractmethod
    async def generate_response(
        self,
        messages: Sequence[PromptMessage],
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        sampling: Sampling | None = None,
    ) -> ChatResult:
        """The whole answer in one call."""

    @abstractmethod
    def stream_response(
        self,
        messages: Sequence[PromptMessage],
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        sampling: Sampling | None = None,
    ) -> AsyncGenerator[StreamDelta | StreamEnd, None]:
        """Text deltas in order, then exactly one ``StreamEnd``."""

    @abstractmethod
    async def embed_texts(
        self, texts: Sequence[str], *, dimensions: int | None = None
    ) -> EmbeddingResult:
        """One vector per text, in order (``dimensions``: shortened vectors, where supported)."""

    async def generate_embedding(self, text: str) -> list[float]:
        result = await self.embed_texts([text])
        return result.vectors[0]

    async def aclose(self) -> None:
        """Release network resources (HTTP connection pools); a no-op by default."""
        return None

    def describe(self) -> dict[str, Any]:
        """What ``GET /api/v1/ai/models`` and health checks show about this provider."""
        return {
            "provider": self.name,
            "chat_model": self.chat_model,
            "embedding_model": self.embedding_model,
        }
