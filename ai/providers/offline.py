"""The offline provider: no network, no credentials, and no pretending to be a language model.

Embeddings are the deterministic hashed vectors of ``ai.embeddings``. Answers are extractive:
the sentences of the delimited reference passages (see ``ai.providers.references``) that share
the most words with the question, quoted with their citation. Without passages it says plainly
that no model is configured.
"""

import asyncio
import re
from collections.abc import AsyncGenerator, Sequence

from django.conf import settings

from ai.embeddings import hashed_embeddings
from ai.providers.base import (
    ChatResult,
    EmbeddingResult,
    ModelProvider,
    PromptMessage,
    Sampling,
    StreamDelta,
    StreamEnd,
    Usage,
)
from ai.providers.limits import cap_max_tokens, check_model_allowed
from ai.providers.references import Reference, parse_references
from ai.providers.tokens import count_message_tokens, count_tokens

OFFLINE_CHAT_MODEL = "offline-extractive"
OFFLINE_EMBEDDING_MODEL = "offline-hashed"
NO_MODEL_ANSWER = (
    "No language model is configured on this server (offline mode), so I cannot write an "
    "answer myself. Upload documents and ask about them: I will quote the passages that match "
    "your question. An administrator can configure Azure OpenAI or an OpenAI-compatible server."
)
NOTHING_FOUND_ANSWER = (
    "No language model is configured on this server (offline mode), and none of the passages "
    "retrieved from your documents matches your question closely enough to quote."
)
_WORD = re.compile(r"\w+", re.UNICODE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n{2,}")
_STOPWORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
        "do",
        "does",
        "did",
        "can",
    }
)
_MAX_QUOTES = 3


def _terms(text: str) -> set[str]:
    return {w for w in (m.lower() for m in _WORD.findall(text)) if w not in _STOPWORDS}


def _cite(reference: Reference) -> str:
    page = f", p. {reference.page}" if reference.page else ""
    return f"[{reference.number}: {reference.title}{page}]"


def extractive_answer(messages: Sequence[PromptMessage]) -> str:
    """Quote the reference sentences that best match the last user message."""
    question = next((m.content for m in reversed(messages) if m.role == "user"), "")
    references: list[Reference] = []
    for message in messages:
        if message.role == "system":
            references.extend(parse_references(message.content))
    if not references:
        return NO_MODEL_ANSWER
    wanted = _terms(question)
    scored: list[tuple[float, int, str, Reference]] = []
    for order, reference in enumerate(references):
        for sentence in _SENTENCE.split(reference.text):
            sentence = " ".join(sentence.split())
            if not sentence:
                continue
            overlap = len(wanted & _terms(sentence))
            if overlap:
                # Prefer dense matches; earlier passages (higher retrieval score) break ties.
                scored.append((overlap / (1 + len(sentence) / 400), -order, sentence, reference))
    if not scored:
        return NOTHING_FOUND_ANSWER
    scored.sort(key=lambda item: (item[0], item[1]), reverse=True)
    lines = ["Offline mode (no language model configured). Matching passages from your documents:"]
    for _, _, sentence, reference in scored[:_MAX_QUOTES]:
        lines.append(f"- \u201c{sentence}\u201d {_cite(reference)}")
    return "\n".join(lines)


def _pieces(text: str) -> list[str]:
    # Word-sized deltas with their trailing whitespace, so streaming looks like a model's.
    return re.findall(r"\S+\s*|\s+", text)


class OfflineProvider(ModelProvider):
    name = "offline"

    def __init__(self, *, dimensions: int) -> None:
        self.chat_model = OFFLINE_CHAT_MODEL
        self.embedding_model = OFFLINE_EMBEDDING_MODEL
        self.dimensions = dimensions

    def _answer(self, messages: Sequence[PromptMessage], model: str | None, max_tokens: int | None):
        check_model_allowed(model or self.chat_model, default=self.chat_model)
        pieces = _pieces(extractive_answer(messages))
        limit = cap_max_tokens(max_tokens)
        finish = "stop"
        if len(pieces) > limit:
            pieces, finish = pieces[:limit], "length"
        return pieces, finish

    async def generate_response(
        self,
        messages: Sequence[PromptMessage],
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        sampling: Sampling | None = None,
    ) -> ChatResult:
        pieces, finish = self._answer(messages, model, max_tokens)
        text = "".join(pieces)
        usage = Usage(count_message_tokens(messages), count_tokens(text), reported=False)
        return ChatResult(text=text, model=self.chat_model, usage=usage, finish_reason=finish)

    async def stream_response(
        self,
        messages: Sequence[PromptMessage],
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        sampling: Sampling | None = None,
    ) -> AsyncGenerator[StreamDelta | StreamEnd, None]:
        pieces, finish = self._answer(messages, model, max_tokens)
        delay = float(settings.AI_OFFLINE_TOKEN_DELAY)
        for piece in pieces:
            yield StreamDelta(piece)
            # Yield to the loop between pieces so cancel and other sockets are served.
            await asyncio.sleep(delay)
        usage = Usage(count_message_tokens(messages), count_tokens("".join(pieces)), reported=False)
        yield StreamEnd(model=self.chat_model, usage=usage, finish_reason=finish)

    async def embed_texts(
        self, texts: Sequence[str], *, dimensions: int | None = None
    ) -> EmbeddingResult:
        # Canned answers ignore sampling; hashed vectors honour a requested size.
        vectors = hashed_embeddings(list(texts), dimensions or self.dimensions)
        usage = Usage(prompt_tokens=sum(count_tokens(t) for t in texts), reported=False)
        return EmbeddingResult(vectors=vectors, model=self.embedding_model, usage=usage)
