"""A chat turn: validate the user's message, build its prompt, reserve and store it."""

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.services import user_require_verified
from ai.errors import provider_error_to_application
from ai.providers import ModelProvider, PromptMessage, ProviderError
from ai.providers.references import format_references
from ai.providers.tokens import count_message_tokens
from chat.completions.steps import generation_model_resolve, generation_reserve
from chat.models import ACTIVE_STATUSES, ChatMessage, ChatSession, MessageStatus
from chat.selectors import chat_history_for_prompt, chat_session_get
from chat.services.access import chat_message_rate_check, require_writer
from config.exceptions import (
    ApplicationError,
    ConflictError,
)
from core.actor import Actor
from documents.retrieval import retrieve_for_chat
from ops.flags import flag_enabled

TITLE_MAX_CHARS = 60
SNIPPET_MAX_CHARS = 300


def title_from(text: str) -> str:
    line = " ".join(text.split())
    if len(line) <= TITLE_MAX_CHARS:
        return line or "New chat"
    cut = line[:TITLE_MAX_CHARS].rsplit(" ", 1)[0] or line[:TITLE_MAX_CHARS]
    return cut + "…"


@dataclass
class TurnPlan:
    """A validated user message with its prompt, before anything is written."""

    actor: Actor
    content: str
    session: ChatSession | None
    prompt: list[PromptMessage]
    passages: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    provider: ModelProvider
    model: str
    streaming: bool
    # Regenerating: the answer this turn replaces (deleted when the new turn is stored).
    replaces_id: int | None = None


@dataclass
class Turn:
    """A committed turn: the stored message and everything its generation needs."""

    message: ChatMessage
    session: ChatSession
    prompt: list[PromptMessage]
    sources: list[dict[str, Any]]
    provider: ModelProvider
    model: str
    metadata: dict[str, Any] = field(default_factory=dict)
    # The quota reservation held for this turn's model call (settled when it ends).
    reservation_id: int | None = None


def _sources(passages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "document_id": str(p.get("document_id")),
            "title": str(p.get("title") or ""),
            "page": p.get("page"),
            "score": round(float(p.get("score") or 0.0), 4),
            "snippet": " ".join(str(p.get("text") or "").split())[:SNIPPET_MAX_CHARS],
        }
        for p in passages
    ]


def _last_message_to_regenerate(*, actor: Actor, session_id: Any) -> ChatMessage:
    """The session's last turn, which a regeneration replaces: it must have ended."""
    if session_id is None:
        raise ApplicationError(
            "Regenerating needs the chat session.",
            code="VALIDATION_ERROR",
            details={"session_id": ["Required to regenerate."]},
        )
    session = chat_session_get(actor=actor, session_id=session_id)
    last = ChatMessage.objects.filter(session=session).order_by("-timestamp", "-id").first()
    if last is None:
        raise ApplicationError("This chat has no answer to regenerate.", code="VALIDATION_ERROR")
    if last.status in ACTIVE_STATUSES:
        raise ConflictError("The last answer is still being generated; stop it first.")
    return last


def chat_turn_plan(
    *,
    actor: Actor,
    content: str,
    session_id: Any = None,
    model: str | None = None,
    streaming: bool,
    regenerate: bool = False,
) -> TurnPlan:
    """Validate a new user message, retrieve context and build the prompt (reads only).

    Split from :func:`chat_turn_commit` so that retrieval (which may call the embedding
    model) never runs inside the turn's write transaction. ``regenerate`` asks the last
    question of ``session_id`` again (``content`` is ignored): the new answer replaces the
    last one, and the prompt's history stops before it.
    """
    # The rules of sending a message, in the order the REST door always answered them.
    user_require_verified(actor=actor)  # REQUIRE_VERIFIED_EMAIL, on every door
    require_writer(actor)
    chat_message_rate_check(actor=actor)  # per user, whatever the door
    replaced: ChatMessage | None = None
    if regenerate:
        replaced = _last_message_to_regenerate(actor=actor, session_id=session_id)
        content = replaced.message
    content = (content or "").strip()
    if not content:
        raise ApplicationError(
            "The message is empty.", code="VALIDATION_ERROR", details={"message": ["Required."]}
        )
    limit = int(settings.CHAT_MESSAGE_MAX_CHARS)
    if len(content) > limit:
        raise ApplicationError(
            f"The message is longer than {limit} characters.",
            code="VALIDATION_ERROR",
            details={"message": [f"At most {limit} characters."]},
        )
    if streaming and not flag_enabled("streaming_enabled"):
        raise ApplicationError(
            "Streaming is turned off on this server; send the message with POST "
            "/api/v1/chat/message instead.",
            code="STREAMING_DISABLED",
            status_code=409,
        )
    try:
        # Streaming runs on the server's long-lived loop: share its connection pool.
        provider, chosen = generation_model_resolve(model=model, pooled=streaming)
    except ProviderError as exc:
        raise provider_error_to_application(exc) from exc
    session = None
    document_ids = None
    if session_id is not None:
        session = chat_session_get(actor=actor, session_id=session_id)
        if not session.is_active:
            raise ConflictError("This chat session is archived; reactivate it first.")
        document_ids = [str(d.pk) for d in session.documents.all()] or None

    passages = (
        retrieve_for_chat(actor=actor, query=content, document_ids=document_ids)
        if flag_enabled("rag_enabled")
        else []
    )
    prompt = [PromptMessage("system", settings.CHAT_SYSTEM_PROMPT)]
    if session is not None:
        prompt += chat_history_for_prompt(
            session=session,
            before_id=replaced.pk if replaced is not None else None,
            budget_tokens=int(settings.CHAT_HISTORY_TOKENS),
        )
    if passages:
        prompt.append(PromptMessage("system", format_references(passages)))
    prompt.append(PromptMessage("user", content))
    return TurnPlan(
        actor=actor,
        content=content,
        session=session,
        prompt=prompt,
        passages=passages,
        sources=_sources(passages),
        provider=provider,
        model=chosen,
        streaming=streaming,
        replaces_id=replaced.pk if replaced is not None else None,
    )


def chat_turn_commit(*, plan: TurnPlan) -> Turn:
    """Reserve the quota and store the user's message (and a session titled from it when
    there was none), all in one transaction: a refused budget writes nothing, and a failed
    write holds no tokens."""
    # Recovery charges the prompt's size if the generation dies with its worker.
    prompt_tokens = count_message_tokens(plan.prompt)
    with transaction.atomic():
        # The prompt plus the largest answer the provider may produce must fit the budget
        # before any model call.
        reservation_id = generation_reserve(user=plan.actor.user, prompt=plan.prompt)
        now = timezone.now()
        session = plan.session
        if session is None:
            session = ChatSession.objects.create(
                user=plan.actor.user, title=title_from(plan.content), message_count=1
            )
        elif plan.replaces_id is not None:
            # The answer being regenerated goes; it must still be the ended last turn (two
            # regenerations at once: the second finds it gone and writes nothing).
            deleted, _ = (
                ChatMessage.objects.filter(pk=plan.replaces_id, session=session)
                .exclude(status__in=ACTIVE_STATUSES)
                .delete()
            )
            if not deleted:
                raise ConflictError("The last answer changed meanwhile; reload the chat.")
            ChatSession.objects.filter(pk=session.pk).update(updated_at=now)
        else:
            ChatSession.objects.filter(pk=session.pk).update(
                message_count=F("message_count") + 1, updated_at=now
            )
        message = ChatMessage.objects.create(
            session=session,
            user=plan.actor.user,
            message=plan.content,
            status=MessageStatus.STREAMING if plan.streaming else MessageStatus.PENDING,
            sources=plan.sources,
            # What recovery needs if the generation dies with its worker: the reservation to
            # settle and the prompt's size to charge (replaced by the real figures at the end).
            metadata={
                "provider": plan.provider.name,
                "model": plan.model,
                "prompt_tokens": prompt_tokens,
                "reservation_id": reservation_id,
            },
            timestamp=now,
        )
    return Turn(
        message=message,
        session=session,
        prompt=plan.prompt,
        sources=plan.sources,
        provider=plan.provider,
        model=plan.model,
        reservation_id=reservation_id,
    )


def chat_turn_prepare(
    *,
    actor: Actor,
    content: str,
    session_id: Any = None,
    model: str | None = None,
    streaming: bool,
    regenerate: bool = False,
) -> Turn:
    """Plan and commit a turn: what every model call of a chat starts with."""
    plan = chat_turn_plan(
        actor=actor,
        content=content,
        session_id=session_id,
        model=model,
        streaming=streaming,
        regenerate=regenerate,
    )
    return chat_turn_commit(plan=plan)
