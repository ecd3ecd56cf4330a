"""Writes of chat data: sessions, turns, the end of a generation, feedback.

The REST views, the WebSocket consumer and the admin all go through these functions.
"""

import time
from dataclasses import dataclass, field
from typing import Any

import structlog
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.services import user_require_verified
from accounts.throttles import rate_limit_check
from ai.errors import provider_error_to_application
from ai.providers import ModelProvider, PromptMessage, ProviderError, Usage
from ai.providers.references import format_references
from ai.providers.tokens import count_message_tokens
from chat.completions import generation_meter, generation_model_resolve, generation_reserve
from chat.models import ACTIVE_STATUSES, ChatMessage, ChatSession, MessageStatus
from chat.selectors import chat_history_for_prompt, chat_session_get
from config.exceptions import (
    ApplicationError,
    ConflictError,
    PermissionDeniedError,
)
from core import policies
from core.actor import Actor
from documents.models import Document
from documents.retrieval import retrieve_for_chat
from documents.selectors import document_list
from metering.models import UsageKind
from metering.quotas import quota_release
from ops.audit import audit_log
from ops.flags import flag_enabled

logger = structlog.get_logger(__name__)

TITLE_MAX_CHARS = 60
SNIPPET_MAX_CHARS = 300
MAX_SESSION_DOCUMENTS = 100


def _require_writer(actor: Actor) -> None:
    if not policies.can_write(actor):
        raise PermissionDeniedError("Your role (viewer) can read chats but not send messages.")


def chat_message_rate_check(*, actor: Actor) -> None:
    """Count one chat message against the user's ``chat_message`` rate (429 ``RATE_LIMITED``).

    One counter per user in the cache, shared by every door that sends a message (REST,
    WebSocket) and by the REST throttle of the model-calling API doors (same key).

    Not counted is not allowed: a cache (Redis) outage propagates as itself, so each door
    answers it as an outage - 503 on REST, an error frame and close 4503 on the socket."""
    rate_limit_check(scope="chat_message", ident=str(actor.user_id))


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    if len(line) <= TITLE_MAX_CHARS:
        return line or "New chat"
    cut = line[:TITLE_MAX_CHARS].rsplit(" ", 1)[0] or line[:TITLE_MAX_CHARS]
    return cut + "…"


def _own_documents(*, actor: Actor, document_ids: list) -> list[Document]:
    ids = list(dict.fromkeys(document_ids))
    if len(ids) > MAX_SESSION_DOCUMENTS:
        raise ApplicationError(
            f"At most {MAX_SESSION_DOCUMENTS} documents per session.", code="VALIDATION_ERROR"
        )
    documents = list(document_list(actor=actor, document_ids=ids))
    if len(documents) != len(ids):
        raise ApplicationError(
            "Unknown document.", code="VALIDATION_ERROR", details={"document_ids": ["Not found."]}
        )
    return documents


@transaction.atomic
def chat_session_create(
    *, actor: Actor, title: str = "", document_ids: list | None = None
) -> ChatSession:
    _require_writer(actor)
    session = ChatSession.objects.create(user=actor.user, title=title.strip()[:200] or "New chat")
    if document_ids:
        session.documents.set(_own_documents(actor=actor, document_ids=document_ids))
    return session


@transaction.atomic
def chat_session_update(
    *,
    session: ChatSession,
    actor: Actor,
    title: str | None = None,
    is_active: bool | None = None,
    document_ids: list | None = None,
) -> ChatSession:
    """Rename, archive or re-scope a session. ``actor`` is who acts: the owner (the API) or an
    admin (the console), whose change to someone else's chat is audited."""
    _require_writer(actor)
    before = {"title": session.title, "is_active": session.is_active}
    fields = ["updated_at"]
    if title is not None:
        session.title = title.strip()[:200] or session.title
        fields.append("title")
    if is_active is not None:
        session.is_active = is_active
        fields.append("is_active")
    session.updated_at = timezone.now()
    session.save(update_fields=fields)
    if document_ids is not None:
        session.documents.set(_own_documents(actor=actor, document_ids=document_ids))
    changed = [f for f in ("title", "is_active") if getattr(session, f) != before[f]]
    if actor.user_id != session.user_id and changed:
        audit_log(
            action="chat_session_updated",
            actor=actor,
            target=session,
            owner_id=session.user_id,
            fields=changed,
        )
    return session


def chat_session_delete(*, session: ChatSession, actor: Actor) -> None:
    """Delete a session with its messages; an admin deleting someone else's is audited."""
    _require_writer(actor)
    session_id, owner_id, title = session.pk, session.user_id, session.title
    session.delete()
    if actor.user_id != owner_id:
        audit_log(
            action="chat_session_deleted",
            actor=actor,
            session_id=session_id,
            owner_id=owner_id,
            title=title,
        )


def chat_message_feedback_set(
    *, message: ChatMessage, actor: Actor, rating: str, comment: str = "", score: int | None = None
) -> ChatMessage:
    """Thumbs up/down on an answer; the last rating wins. Viewers may rate what they read.

    ``score`` is the 1-5 number of clients that rate with one (kept beside its up/down)."""
    if message.status in ACTIVE_STATUSES:
        raise ConflictError("The answer is still being generated.")
    message.feedback = {
        "rating": rating,
        "comment": comment.strip()[:2000],
        "at": timezone.now().isoformat(),
    }
    if score is not None:
        message.feedback["score"] = score
    message.save(update_fields=["feedback", "updated_at"])
    return message


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
    _require_writer(actor)
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
                user=plan.actor.user, title=_title_from(plan.content), message_count=1
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


def chat_exchange_store(
    *,
    actor: Actor,
    question: str,
    answer: str,
    model: str,
    usage: Usage,
    sources: list[dict[str, Any]],
) -> ChatSession:
    """Save one finished exchange of another door (the OpenAI API's ``store``) as a session.

    Already metered by its door: this only writes the conversation the caller asked to keep.
    """
    now = timezone.now()
    with transaction.atomic():
        session = ChatSession.objects.create(
            user=actor.user,
            title=_title_from(question),
            message_count=1,
            created_at=now,
            updated_at=now,
        )
        ChatMessage.objects.create(
            session=session,
            user=actor.user,
            message=question,
            response=answer,
            token_ends=[len(answer)],
            status=MessageStatus.COMPLETE,
            sources=sources,
            metadata={
                "model": model,
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens,
                "source": "openai_api",
            },
            timestamp=now,
        )
    return session


def chat_message_checkpoint(*, message_id: int, response: str, token_ends: list[int]) -> None:
    """Persist the partial answer of a running generation (what ``resume`` replays)."""
    ChatMessage.objects.filter(pk=message_id, status__in=ACTIVE_STATUSES).update(
        response=response, token_ends=token_ends, updated_at=timezone.now()
    )


def chat_message_finish(
    *,
    message_id: int,
    user_id: int,
    status: str,
    response: str,
    token_ends: list[int],
    provider: str,
    model: str,
    usage: Usage,
    latency_ms: int,
    ttft_ms: int | None,
    finish_reason: str | None,
    error: dict[str, Any] | None = None,
    request_id: str | None = None,
    reservation_id: int | None = None,
) -> bool:
    """Save the end of a generation exactly once and meter it. False if it was already saved.

    The quota reservation is settled with the tokens used (a failed call with no answer is
    released: charged nothing) in the same transaction as the usage record."""
    metadata = {
        "provider": provider,
        "model": model,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "usage_reported": usage.reported,
        "ttft_ms": ttft_ms,
        "latency_ms": latency_ms,
        "finish_reason": finish_reason,
    }
    if error:
        metadata["error"] = error
    with transaction.atomic():
        # The status guard makes a second finisher (a retry, a duplicate task) a no-op.
        updated = ChatMessage.objects.filter(pk=message_id, status__in=ACTIVE_STATUSES).update(
            status=status,
            response=response,
            token_ends=token_ends,
            metadata=metadata,
            updated_at=timezone.now(),
        )
        if not updated:
            quota_release(reservation_id=reservation_id)
            return False
        generation_meter(
            user_id=user_id,
            reservation_id=reservation_id,
            charge=status != MessageStatus.FAILED,
            provider=provider,
            model=model,
            usage=usage,
            latency_ms=latency_ms,
            ttft_ms=ttft_ms,
            error_kind=(error or {}).get("kind"),
            kind=UsageKind.CHAT,
            message_id=message_id,
            request_id=request_id,
        )
    logger.info(
        "chat_message_finished",
        message_id=message_id,
        status=status,
        completion_tokens=usage.completion_tokens,
        latency_ms=latency_ms,
    )
    return True


async def _generate(turn: Turn) -> Any:
    try:
        return await turn.provider.generate_response(turn.prompt, model=turn.model)
    finally:
        await turn.provider.aclose()


def chat_message_send(
    *,
    actor: Actor,
    content: str,
    session_id: Any = None,
    model: str | None = None,
    regenerate: bool = False,
) -> ChatMessage:
    """The non-streaming path: one request, the whole answer (REST ``POST message``, and
    ``POST sessions/{id}/regenerate`` with ``regenerate``)."""
    turn = chat_turn_prepare(
        actor=actor,
        content=content,
        session_id=session_id,
        model=model,
        streaming=False,
        regenerate=regenerate,
    )
    started = time.perf_counter()
    try:
        result = async_to_sync(_generate)(turn)
    except ProviderError as exc:
        latency = int((time.perf_counter() - started) * 1000)
        chat_message_finish(
            message_id=turn.message.pk,
            user_id=actor.user.pk,
            status=MessageStatus.FAILED,
            response="",
            token_ends=[],
            provider=turn.provider.name,
            model=turn.model,
            usage=Usage(count_message_tokens(turn.prompt), 0, reported=False),
            latency_ms=latency,
            ttft_ms=None,
            finish_reason=None,
            error={"kind": exc.kind, "message": str(exc)},
            reservation_id=turn.reservation_id,
        )
        raise provider_error_to_application(exc, message_id=turn.message.pk) from exc
    except BaseException:
        # An unexpected failure: the held tokens go back at once rather than at the TTL.
        quota_release(reservation_id=turn.reservation_id)
        raise
    latency = int((time.perf_counter() - started) * 1000)
    chat_message_finish(
        message_id=turn.message.pk,
        user_id=actor.required_user_id,
        status=MessageStatus.COMPLETE,
        response=result.text,
        token_ends=[len(result.text)] if result.text else [],
        provider=turn.provider.name,
        model=result.model,
        usage=result.usage,
        latency_ms=latency,
        ttft_ms=latency,
        finish_reason=result.finish_reason,
        reservation_id=turn.reservation_id,
    )
    turn.message.refresh_from_db()
    return turn.message
