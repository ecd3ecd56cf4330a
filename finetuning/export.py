"""Training examples from the organization's own conversations (chat fine-tuning format).

Two selections: whole chat sessions (one example each: the system prompt, then every
complete turn in order), or every answer rated up in a period (one example each: the system
prompt, the question and the rated answer). Only the current organization's rows are read
(the tenant-scoped managers); answers still streaming, failed or empty are left out.
"""

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from django.conf import settings

from chat.models import ChatMessage, ChatSession, MessageStatus
from config.exceptions import ApplicationError, NotFoundError
from tenants.models import Organization

Example = dict[str, list[dict[str, str]]]


def export_system_prompt(*, organization_id: Any, override: str | None) -> str:
    """The system prompt written into each example: the one given, else the organization's,
    else the server's (``CHAT_SYSTEM_PROMPT``), as the chats themselves were answered."""
    if override and override.strip():
        return override.strip()
    own = (
        Organization.objects.filter(pk=organization_id)
        .values_list("system_prompt", flat=True)
        .first()
    )
    return (own or "").strip() or settings.CHAT_SYSTEM_PROMPT


def _turns(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
    turns: list[dict[str, str]] = []
    for message in messages:
        if message.status != MessageStatus.COMPLETE or not message.response.strip():
            continue
        if not message.message.strip():
            continue
        turns.append({"role": "user", "content": message.message})
        turns.append({"role": "assistant", "content": message.response})
    return turns


def examples_from_sessions(*, session_ids: Sequence[Any], system_prompt: str) -> list[Example]:
    """One example per session; a session of another organization is as unknown as a missing
    one (404 naming the ids)."""
    wanted = list(dict.fromkeys(int(pk) for pk in session_ids))
    sessions = {s.pk: s for s in ChatSession.objects.filter(pk__in=wanted)}
    missing = [pk for pk in wanted if pk not in sessions]
    if missing:
        raise NotFoundError(
            "Some chat sessions do not exist in this organization.",
            code="SESSION_NOT_FOUND",
            details={"session_ids": missing},
        )
    by_session: dict[int, list[ChatMessage]] = {pk: [] for pk in wanted}
    for message in ChatMessage.objects.filter(session_id__in=wanted).order_by("timestamp", "id"):
        by_session[message.session_id].append(message)
    examples = []
    for pk in wanted:
        turns = _turns(by_session[pk])
        if turns:
            examples.append({"messages": [{"role": "system", "content": system_prompt}, *turns]})
    return examples


def examples_from_ratings(
    *, since: dt.datetime | None, until: dt.datetime | None, system_prompt: str
) -> list[Example]:
    """One example per answer rated up (thumbs up, or a score of 4-5) in ``[since, until)``."""
    answers = ChatMessage.objects.filter(feedback__rating="up", status=MessageStatus.COMPLETE)
    if since is not None:
        answers = answers.filter(timestamp__gte=since)
    if until is not None:
        answers = answers.filter(timestamp__lt=until)
    limit = int(settings.FINETUNING_EXPORT_MAX_EXAMPLES)
    examples = []
    for message in answers.order_by("timestamp", "id")[: limit + 1]:
        turns = _turns([message])
        if turns:
            examples.append({"messages": [{"role": "system", "content": system_prompt}, *turns]})
    return examples


def examples_check_size(examples: list[Example]) -> None:
    limit = int(settings.FINETUNING_EXPORT_MAX_EXAMPLES)
    if len(examples) > limit:
        raise ApplicationError(
            f"The selection holds more than {limit} examples (FINETUNING_EXPORT_MAX_EXAMPLES); "
            "choose fewer sessions or a shorter period.",
            code="EXPORT_TOO_LARGE",
        )


def examples_to_jsonl(examples: list[Example]) -> bytes:
    return "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in examples).encode()
