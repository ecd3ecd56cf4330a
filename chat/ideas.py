"""The generation routes of ``/api/v1/ai/`` (seed 003): generate, batch, stream, history, rating
and model loading. Every model call goes through ``chat.completions`` (quota, metering, audit)."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import structlog
from django.conf import settings
from django.db import transaction

from ai.errors import provider_error_to_application
from ai.models import Generation, GenerationRating, GenerationStatus
from ai.providers import PromptMessage, ProviderError, Sampling, Usage
from ai.selectors import generation_get
from chat.completions.batches import generation_batch
from chat.completions.calls import GenerationCall, generation_complete, generation_plan
from chat.completions.steps import (
    generation_model_resolve,
    generation_require_writer,
    system_prompt_for,
)
from config.exceptions import ApplicationError, NotFoundError, PermissionDeniedError
from core import policies
from core.actor import Actor

logger = structlog.get_logger(__name__)

DOOR = "ai_generate"


@contextmanager
def _provider_errors() -> Iterator[None]:
    """A provider refusal or failure before or during a call as the documented envelope
    (400 model not allowed, 502/503 provider), never a 500."""
    try:
        yield
    except ProviderError as exc:
        raise provider_error_to_application(exc) from exc


def _prompt(text: str, actor: Actor) -> list[PromptMessage]:
    return [PromptMessage("system", system_prompt_for(actor)), PromptMessage("user", text)]


def idea_generate(
    *,
    prompt: str,
    model: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    actor: Actor,
) -> Generation:
    """One prompt, one answer, kept in the caller's history."""
    with _provider_errors():
        call = generation_plan(
            messages=_prompt(prompt, actor),
            model=model,
            door=DOOR,
            streaming=False,
            max_tokens=max_tokens,
            sampling=Sampling(temperature=temperature),
            actor=actor,
        )
        result, usage = generation_complete(call)
    return Generation.objects.create(
        user=actor.user,
        prompt=prompt,
        response=result.text,
        model=result.model,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
    )


def idea_generate_batch(
    *,
    prompts: list[str],
    model: str | None = None,
    max_tokens: int | None = None,
    actor: Actor,
) -> list[dict[str, Any]]:
    """Several prompts: ``[{index, ok, generation | error}]`` in order (see generation_batch)."""
    limit = int(settings.AI_BATCH_MAX_ITEMS)
    if not prompts or len(prompts) > limit:
        raise ApplicationError(
            f"Send 1 to {limit} prompts.",
            code="VALIDATION_ERROR",
            details={"prompts": [f"1 to {limit} items."]},
        )
    with _provider_errors():
        outcomes = generation_batch(
            prompts=[_prompt(p, actor) for p in prompts],
            model=model,
            door=DOOR,
            max_tokens=max_tokens,
            concurrency=int(settings.AI_BATCH_CONCURRENCY),
            actor=actor,
        )
    batch_id = uuid.uuid4()
    items: list[dict[str, Any]] = []
    for index, (prompt, (outcome, usage)) in enumerate(zip(prompts, outcomes, strict=True)):
        if isinstance(outcome, ProviderError):
            items.append(
                {
                    "index": index,
                    "ok": False,
                    "error": {"kind": outcome.kind, "message": str(outcome)},
                }
            )
            continue
        generation = Generation.objects.create(
            user=actor.user,
            prompt=prompt,
            response=outcome.text,
            model=outcome.model,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            batch_id=batch_id,
        )
        items.append({"index": index, "ok": True, "generation": generation})
    return items


def idea_stream_plan(
    *, prompt: str, model: str | None = None, actor: Actor
) -> tuple[GenerationCall, Generation]:
    """Reserve a streamed generation and its history row (filled in when the stream ends)."""
    with _provider_errors():
        call = generation_plan(
            messages=_prompt(prompt, actor), model=model, door=DOOR, streaming=True, actor=actor
        )
    generation = Generation.objects.create(
        user=actor.user, prompt=prompt, model=call.model, status=GenerationStatus.STREAMING
    )

    def finish(*, text: str, model: str, usage: Usage, sources: list, status: str) -> None:
        Generation.objects.filter(pk=generation.pk).update(
            response=text,
            model=model[:128],
            status=status,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
        )

    call.on_finish = finish
    return call, generation


def idea_rate(
    *, actor: Actor, generation_id: int, stars: int, comment: str = ""
) -> GenerationRating:
    """Rate one of the caller's generations 1-5; rating again replaces the earlier rating.
    A write: viewers only read (as with chat feedback)."""
    if not policies.can_write(actor):
        raise PermissionDeniedError("Your role (viewer) can read answers but not rate them.")
    generation = generation_get(actor=actor, generation_id=generation_id)
    if generation.status == GenerationStatus.STREAMING:
        raise ApplicationError(
            "The answer is still being generated.", code="CONFLICT", status_code=409
        )
    with transaction.atomic():
        rating, _ = GenerationRating.objects.update_or_create(
            generation=generation,
            user=actor.user,
            defaults={"stars": stars, "comment": comment.strip()[:2000]},
        )
    return rating


# --- Model loading --------------------------------------------------------------------------


def _ollama_root(base_url: str) -> str | None:
    """The server root of an OpenAI-compatible base URL (``http://host:11434/v1`` -> host)."""
    parts = urlsplit(base_url)
    if not parts.scheme or not parts.netloc:
        return None
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def model_load(*, actor: Actor, model_key: str) -> dict[str, Any]:
    """Warm ``model_key`` where the provider loads models on demand, or say none is needed.

    Ollama (recognised by its ``/api/version``) gets an empty ``/api/generate`` request with a
    ``keep_alive``, which loads the model into memory; hosted providers (Azure, OpenAI, most
    OpenAI-compatible servers) serve their models without a load step.
    """
    generation_require_writer(actor)
    try:
        provider, chosen = generation_model_resolve(model=model_key, pooled=False, actor=actor)
    except ProviderError as exc:
        if exc.kind == "model_not_allowed":
            raise NotFoundError(f"The model {model_key!r} is not available here.") from exc
        raise ApplicationError(str(exc), code="AI_PROVIDER_ERROR", status_code=503) from exc
    answer = {"model": chosen, "provider": provider.name}
    base_url = getattr(provider, "base_url", None) if provider.name == "openai" else None
    root = _ollama_root(base_url) if base_url else None
    if root is None:
        return {
            **answer,
            "load_needed": False,
            "loaded": True,
            "detail": "This provider serves its models without a load step: no load needed.",
        }
    timeout = float(settings.AI_REQUEST_TIMEOUT)
    try:
        with httpx.Client(timeout=timeout) as client:
            version = client.get(f"{root}/api/version")
            if version.status_code != 200 or "version" not in version.json():
                return {
                    **answer,
                    "load_needed": False,
                    "loaded": True,
                    "detail": "The OpenAI-compatible server is not Ollama; it loads models "
                    "itself: no load needed.",
                }
            response = client.post(
                f"{root}/api/generate",
                json={"model": chosen, "keep_alive": settings.AI_MODEL_KEEP_ALIVE},
            )
    except (httpx.HTTPError, ValueError) as exc:
        logger.warning("model_load_failed", model=chosen, error=str(exc))
        raise ApplicationError(
            "The model server could not be reached.", code="AI_PROVIDER_ERROR", status_code=502
        ) from exc
    if response.status_code != 200:
        raise ApplicationError(
            f"The model server refused to load {chosen!r} ({response.status_code}).",
            code="AI_PROVIDER_ERROR",
            status_code=502,
        )
    return {
        **answer,
        "load_needed": True,
        "loaded": True,
        "detail": f"Loaded by Ollama; kept in memory for {settings.AI_MODEL_KEEP_ALIVE}.",
    }
