"""``manage.py check_ai``: one embedding call and one completion call against the provider."""

import asyncio
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ai.providers import PromptMessage, ProviderError, get_provider


async def _probe() -> dict[str, Any]:
    provider = get_provider()
    try:
        started = time.perf_counter()
        embedding = await provider.embed_texts(["check_ai: embedding probe"])
        embed_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        answer = await provider.generate_response(
            [
                PromptMessage("system", "You are a health check. Answer with one short word."),
                PromptMessage("user", "Reply with: ok"),
            ],
            max_tokens=16,
        )
        chat_ms = (time.perf_counter() - started) * 1000
    finally:
        await provider.aclose()
    return {
        "provider": provider.name,
        "embedding": embedding,
        "embed_ms": embed_ms,
        "answer": answer,
        "chat_ms": chat_ms,
    }


class Command(BaseCommand):
    help = "Make one embedding and one completion call; print latency and token counts."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = asyncio.run(_probe())
        except ProviderError as exc:
            raise CommandError(f"AI provider check failed ({exc.kind}): {exc}") from exc
        embedding, answer = result["embedding"], result["answer"]
        source = lambda usage: "reported" if usage.reported else "estimated"  # noqa: E731
        self.stdout.write(f"provider: {result['provider']}")
        self.stdout.write(
            f"embedding: model={embedding.model} dimensions={embedding.dimensions} "
            f"latency_ms={result['embed_ms']:.0f} tokens={embedding.usage.prompt_tokens} "
            f"({source(embedding.usage)})"
        )
        self.stdout.write(
            f"completion: model={answer.model} latency_ms={result['chat_ms']:.0f} "
            f"prompt_tokens={answer.usage.prompt_tokens} "
            f"completion_tokens={answer.usage.completion_tokens} ({source(answer.usage)}) "
            f"finish_reason={answer.finish_reason}"
        )
        self.stdout.write(f"answer: {answer.text[:200]!r}")
        self.stdout.write(self.style.SUCCESS("AI provider OK"))
