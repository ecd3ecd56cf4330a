"""Embeddings for API callers: reserved, metered and audited like a chat call."""

import base64
import struct

from ai.providers import (
    ProviderError,
    Usage,
    get_provider,
)
from ai.providers.tokens import count_tokens
from chat.completions.calls import end_user_label
from chat.completions.steps import generation_require_writer
from core.actor import Actor
from documents.embedding import embed_texts_metered
from metering.quotas import quota_release, quota_reserve, quota_settle
from ops.audit import audit_log


def embedding_model_resolve(*, model: str | None) -> str:
    """The embedding model (the only one served) when ``model`` names it, else ProviderError."""
    served = get_provider().embedding_model
    if model and model != served:
        raise ProviderError(f"The model {model!r} does not exist.", kind="model_not_allowed")
    return served


def embedding_create(
    *,
    texts: list[str],
    model: str | None,
    dimensions: int | None,
    actor: Actor,
    end_user: str = "",
) -> tuple[list[list[float]], str, Usage]:
    """Embed ``texts`` for an API caller: reserved, metered and audited like a chat call."""
    generation_require_writer(actor)
    embedding_model_resolve(model=model)
    estimate = sum(count_tokens(text) for text in texts) or 1
    reservation_id = quota_reserve(user=actor.user, estimate=estimate)
    try:
        result = embed_texts_metered(user_id=actor.user.pk, texts=texts, dimensions=dimensions)
    except BaseException:
        quota_release(reservation_id=reservation_id)
        raise
    quota_settle(reservation_id=reservation_id, tokens=result.usage.total_tokens)
    audit_log(
        action="ai_embedding",
        actor=actor,
        target=actor.user,
        door="openai_api",
        model=result.model,
        inputs=len(texts),
        usage={"prompt_tokens": result.usage.prompt_tokens},
        **({"end_user": label} if (label := end_user_label(end_user)) else {}),
    )
    return result.vectors, result.model, result.usage


def embedding_base64(vector: list[float]) -> str:
    """A vector as OpenAI's ``encoding_format=base64``: little-endian float32, base64."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
