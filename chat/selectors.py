"""Reads of chat data, always scoped to the acting user (anybody else's object is a 404).

``chat_session_list`` and ``chat_message_get`` are the only places that say which
sessions and messages an actor may see: tenancy changes them, and nothing else."""

import datetime as dt
from typing import Any

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet

from ai.providers.base import PromptMessage
from ai.providers.tokens import count_tokens
from chat.models import ChatMessage, ChatSession, MessageStatus
from config.exceptions import ApplicationError, NotFoundError
from core.actor import Actor
from documents.models import Document

# Answers worth showing the model again as context (a partial answer is still context).
_HISTORY_STATUSES = (MessageStatus.COMPLETE, MessageStatus.INCOMPLETE, MessageStatus.CANCELLED)


SESSION_SEARCH_MAX_CHARS = 200


def chat_session_list(
    *, actor: Actor, search: str | None = None, prefetch_documents: bool = True
) -> QuerySet[ChatSession]:
    """The actor's sessions, newest first, with their document ids in one extra query.

    ``search`` keeps the sessions whose title, or one of whose questions or answers, contains
    it (case-insensitive); an ``EXISTS`` subquery so a session matching in many messages is
    listed once and pagination counts stay right. ``prefetch_documents=False`` for a list that
    is paginated first and then given its ids with :func:`chat_session_document_ids_attach`.
    """
    queryset = ChatSession.objects.filter(user=actor.user)
    term = " ".join((search or "").split())
    if len(term) > SESSION_SEARCH_MAX_CHARS:
        raise ApplicationError(
            f"The search is longer than {SESSION_SEARCH_MAX_CHARS} characters.",
            code="VALIDATION_ERROR",
            details={"q": [f"At most {SESSION_SEARCH_MAX_CHARS} characters."]},
        )
    if term:
        in_messages = ChatMessage.objects.filter(session=OuterRef("pk")).filter(
            Q(message__icontains=term) | Q(response__icontains=term)
        )
        queryset = queryset.filter(Q(title__icontains=term) | Exists(in_messages))
    queryset = queryset.order_by("-created_at", "-id")
    if prefetch_documents:
        queryset = queryset.prefetch_related(
            Prefetch("documents", queryset=Document.objects.only("id"))
        )
    return queryset


def chat_session_document_ids_attach(sessions: list[ChatSession]) -> list[ChatSession]:
    """Set ``document_ids`` (strings, newest document first as ``Document``'s ordering) on each
    session, in one query.

    Reads the many-to-many table's id pairs: a ``prefetch_related`` builds a related manager
    and a ``Document`` per row, which the profile of the sessions list showed costing more
    than the rest of the page.
    """
    if not sessions:
        return sessions
    through = ChatSession.documents.through
    by_session: dict[int, list[str]] = {session.pk: [] for session in sessions}
    pairs = (
        through.objects.filter(chatsession_id__in=list(by_session))
        .order_by("-document__created_at", "document_id")
        .values_list("chatsession_id", "document_id")
    )
    for session_id, document_id in pairs:
        by_session[session_id].append(str(document_id))
    for session in sessions:
        session.document_ids = by_session[session.pk]  # type: ignore[attr-defined]  # read by the serializer
    return sessions


def chat_session_get(*, actor: Actor, session_id: Any) -> ChatSession:
    try:
        return chat_session_list(actor=actor).get(pk=int(session_id))
    except (ChatSession.DoesNotExist, TypeError, ValueError):
        raise NotFoundError("Chat session not found.") from None


def chat_message_list(*, session: ChatSession) -> QuerySet[ChatMessage]:
    """The session's messages in chronological order (no N+1: nothing related is rendered)."""
    return ChatMessage.objects.filter(session=session).order_by("timestamp", "id")


def chat_message_list_of_actor(*, actor: Actor) -> QuerySet[ChatMessage]:
    """Every message the actor sent, whatever the session (deleting a user's data)."""
    return ChatMessage.objects.filter(user=actor.user)


def chat_message_get(*, actor: Actor, message_id: Any) -> ChatMessage:
    try:
        return ChatMessage.objects.select_related("session").get(
            pk=int(message_id), user=actor.user
        )
    except (ChatMessage.DoesNotExist, TypeError, ValueError):
        raise NotFoundError("Message not found.") from None


def chat_history_for_prompt(
    *, session: ChatSession, before_id: int | None, budget_tokens: int
) -> list[PromptMessage]:
    """As many of the latest turns as fit ``budget_tokens``, oldest dropped first."""
    queryset = ChatMessage.objects.filter(session=session, status__in=_HISTORY_STATUSES).exclude(
        response=""
    )
    if before_id is not None:
        queryset = queryset.filter(id__lt=before_id)
    turns: list[PromptMessage] = []
    used = 0
    # Newest first, bounded: even tiny turns never pull a whole long session into memory.
    for message in queryset.order_by("-timestamp", "-id").only("message", "response")[:200]:
        cost = count_tokens(message.message) + count_tokens(message.response) + 8
        if used + cost > budget_tokens:
            break
        used += cost
        turns.append(PromptMessage("assistant", message.response))
        turns.append(PromptMessage("user", message.message))
    turns.reverse()
    return turns


def chat_stats(now: dt.datetime) -> dict[str, Any]:
    """The chat part of the platform statistics: sessions and messages."""
    day_ago, week_ago = now - dt.timedelta(hours=24), now - dt.timedelta(days=7)
    return {
        "sessions": ChatSession.objects.aggregate(
            total=Count("id"),
            active=Count("id", filter=Q(is_active=True)),
            created_last_24h=Count("id", filter=Q(created_at__gte=day_ago)),
        ),
        "messages": ChatMessage.objects.aggregate(
            total=Count("id"),
            last_24h=Count("id", filter=Q(timestamp__gte=day_ago)),
            last_7d=Count("id", filter=Q(timestamp__gte=week_ago)),
        ),
    }
